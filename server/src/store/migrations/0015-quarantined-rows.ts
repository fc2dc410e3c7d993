import { sql } from 'kysely';
import type { SchemaMigration } from './types.ts';

// The quarantined messages and replies (a cq1 quarantine marker in body_mac, crypto/content-mac.ts),
// for the checkpoint writer: each run that signs an archive chain names every row quarantined since
// its last checkpoint, even one that checkpoint covers (audit/checkpoint-writer.ts). A handful of
// rows; without the index each run would scan the table, and on SQLite body_mac sits after body_ct,
// so a scan reads every row's ciphertext.
export const migration: SchemaMigration = {
  async up(db) {
    for (const table of ['messages', 'replies']) {
      await db.schema
        .createIndex(`${table}_quarantined`)
        .on(table)
        .column('id')
        .where(sql<boolean>`body_mac like 'cq1.%'`)
        .execute();
    }
  },
};
