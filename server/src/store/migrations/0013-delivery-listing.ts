import type { SchemaMigration } from './types.ts';

// Indexes for the admins' delivery listing (delivery/admin.ts: GET /v1/deliveries, attune
// deliveries): a practice's deliveries newest first, and for each the state of its outbox rows
// (next attempt, scheduled or due). Without them each listed delivery scanned the whole outbox,
// which keeps every row it ever sent, and the page sorted all of the practice's deliveries.
// revokeMessage's and the retry's lookups of a delivery's outbox rows use the first one too.
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema.createIndex('outbox_delivery').on('outbox').column('delivery_id').execute();
    await db.schema
      .createIndex('deliveries_practice_created')
      .on('deliveries')
      .columns(['practice_id', 'created_at', 'id'])
      .execute();
  },
};
