import { sql } from 'kysely';
import type { SchemaMigration } from './types.ts';

// messages.body_mac and replies.body_mac: an HMAC of the row's body_ct under a key derived from the
// master key (crypto/content-mac.ts), written with body_ct and checked before every read, so content
// replaced in the database by someone without the master key is refused, not shown or sent.
// Migrations do not hold the master key: rows written before this one are given their MAC when the
// server starts (store/content-macs.ts backfillContentMacs), and only if the archive vouches for them.
export const migration: SchemaMigration = {
  async up(db) {
    for (const table of ['messages', 'replies']) {
      await db.schema.alterTable(table).addColumn('body_mac', 'text').execute();
      // The rows still without a MAC, for the start-up check: empty once they are bound, so every
      // later start finds none without reading the table (on SQLite, a column added last sits after
      // body_ct, and reading it in a scan would read every row's ciphertext).
      await db.schema
        .createIndex(`${table}_body_mac_missing`)
        .on(table)
        .column('id')
        .where(sql.ref('body_mac'), 'is', null)
        .execute();
    }
  },
};
