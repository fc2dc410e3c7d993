import type { SchemaMigration } from './types.ts';

// messages.request_hash: SHA-256 of the canonical send request (delivery/send.ts requestHash), so a
// retry with the same Idempotency-Key (or the gateway's Message-ID) replays the first send only when
// it asks for the same message; a key reused for other content is refused instead of answered with a
// 202 for a message that was never sent. Null on rows written before this migration: those are
// compared by recipients only, as before.
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema.alterTable('messages').addColumn('request_hash', 'text').execute();
  },
};
