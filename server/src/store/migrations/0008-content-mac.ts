import type { SchemaMigration } from './types.ts';

// messages.body_mac and replies.body_mac: an HMAC of the row's body_ct under a key derived from the
// master key (crypto/content-mac.ts), written with body_ct and checked before every read, so content
// replaced in the database by someone without the master key is refused, not shown or sent.
// Migrations do not hold the master key: rows written before this one are given their MAC when the
// server starts (store/content-macs.ts backfillContentMacs), and only if the archive vouches for them.
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema.alterTable('messages').addColumn('body_mac', 'text').execute();
    await db.schema.alterTable('replies').addColumn('body_mac', 'text').execute();
  },
};
