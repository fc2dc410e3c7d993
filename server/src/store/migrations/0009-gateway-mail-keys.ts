import type { SchemaMigration } from './types.ts';

// gateway_mail_keys: the Message-IDs (SHA-256, hex) of mail the SMTP gateway queued in the outbox
// (a delivery status notification, or the copy of a relayed message for a recipient the next hop
// refused for now). Those ids are derived from the SMTP transaction (gateway/outbound.ts), so when
// the sender's server retries it (our 250 lost on the way) the gateway finds the id here and queues
// nothing a second time. Rows older than the longest retry a sender makes (RFC 5321 4.5.4.1: 4-5
// days) are pruned by the gateway (gateway/store-backend.ts).
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema
      .createTable('gateway_mail_keys')
      .addColumn('message_id_sha256', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('gateway_mail_keys_created')
      .on('gateway_mail_keys')
      .column('created_at')
      .execute();
  },
};
