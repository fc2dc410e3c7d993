import type { SchemaMigration } from './types.ts';

// Generations of a delivery's sends (delivery/verp.ts, delivery/admin.ts retryDelivery,
// delivery/delivery-report.ts):
// - deliveries.send_generation: 0 for the first send, one more each time an admin queues the
//   delivery again; the send leaves from that generation's own return path.
// - delivery_reports.generation: the send a report is about (its return path's generation), and
//   delivery_reports.stale: 1 when that was not the delivery's current send when the report came,
//   so it was recorded and changed nothing (a late bounce of the send before a retry).
// Existing rows are generation 0 and not stale: what they were before generations.
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema
      .alterTable('deliveries')
      .addColumn('send_generation', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('delivery_reports')
      .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('delivery_reports')
      .addColumn('stale', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};
