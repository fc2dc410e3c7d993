import type { SchemaMigration } from './types.ts';

// Delivery outcomes the sender can trust (delivery/outbox.ts, delivery/delivery-report.ts):
// - deliveries.method_reason: why a delivery went by another method than the one chosen at send
//   time, in PHI-free words ("patient key unusable: expired"); null when it went as chosen. The
//   outbox falls back from PGP/MIME to a secure link when the patient's stored key can no longer be
//   used at delivery time, and the sender sees why in the status.
// - delivery_reports: delivery status notifications (RFC 3464) the recipient's mail server sent
//   back to a delivery's return path (VERP, delivery/verp.ts) after our relay had taken the
//   message: a permanent failure (5.x.x) marks the delivery failed, a delay (4.x.x) is recorded
//   here and stays not terminal. Status codes and a diagnostic with addresses removed, no content.
// Depends only on 0001/0002 tables (deliveries, practices).
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema.alterTable('deliveries').addColumn('method_reason', 'text').execute();
    await db.schema
      .createTable('delivery_reports')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('delivery_id', 'text', (c) => c.notNull().references('deliveries.id'))
      .addColumn('received_at', 'text', (c) => c.notNull())
      /** failed | delayed */
      .addColumn('action', 'text', (c) => c.notNull())
      /** RFC 3463 enhanced status code, e.g. 5.1.1. */
      .addColumn('status', 'text', (c) => c.notNull())
      /** The remote server's diagnostic, addresses removed, printable ASCII, at most 200 characters. */
      .addColumn('diagnostic', 'text')
      .execute();
    await db.schema
      .createIndex('delivery_reports_delivery')
      .on('delivery_reports')
      .column('delivery_id')
      .execute();
  },
};
