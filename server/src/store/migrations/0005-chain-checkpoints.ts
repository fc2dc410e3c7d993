import type { SchemaMigration } from './types.ts';

// chain_checkpoints: signed statements of a chain's head (audit/checkpoint.ts). A hash chain alone
// shows edits made by someone who did not recompute the later hashes; a checkpoint signed with the
// practice's signing key (sealed under the master key) also shows a chain rewritten and recomputed
// by someone with write access to the database but not the key. One row per chain and length.
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema
      .createTable('chain_checkpoints')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('chain', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('head', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      /** The OpenPGP cleartext-signed statement (armored). */
      .addColumn('signed', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('chain_checkpoints_chain_seq')
      .on('chain_checkpoints')
      .columns(['chain', 'seq'])
      .unique()
      .execute();
  },
};
