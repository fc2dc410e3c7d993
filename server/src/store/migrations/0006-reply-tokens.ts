import type { SchemaMigration } from './types.ts';

// viewer_links.reply_token_sha256: SHA-256 of the link's reply token, the one in the notice's reply
// address (reply+<token>@). The reply address used to carry the link token itself, and an address
// travels in SMTP envelopes and headers (logged by every server on the way) and lands in the
// patient's address book: whoever saw it could open the message at /m/<token>. The reply token is
// another 256 random bits that only delivers a reply by email (gateway); the viewer never accepts it.
// Null on links made before this migration: their notices carry the link token in the reply
// address, and replies to those are still found by the link token's hash (delivery/reply.ts).
// Unique where set (both dialects let a unique index hold many NULLs).
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema.alterTable('viewer_links').addColumn('reply_token_sha256', 'text').execute();
    await db.schema
      .createIndex('viewer_links_reply_token')
      .on('viewer_links')
      .column('reply_token_sha256')
      .unique()
      .execute();
  },
};
