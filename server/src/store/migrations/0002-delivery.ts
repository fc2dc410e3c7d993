import { sql } from 'kysely';
import type { SchemaMigration } from './types.ts';

// Delivery additions (additive; owned by server/src/delivery, typed in delivery/db.ts):
// - delivery_attempts: one row per SMTP attempt, so the sender can see what happened and when;
// - messages.idempotency_key: a client retry (Idempotency-Key header, or the gateway's Message-ID)
//   returns the first send instead of sending twice;
// - viewer_links.otp_sends: how many one-time codes a link has asked for (rate limit).
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema
      .createTable('delivery_attempts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('outbox_id', 'text', (c) => c.notNull())
      .addColumn('delivery_id', 'text', (c) => c.references('deliveries.id'))
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('detail', 'text')
      .addColumn('duration_ms', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createIndex('delivery_attempts_delivery')
      .on('delivery_attempts')
      .column('delivery_id')
      .execute();
    await db.schema
      .createIndex('delivery_attempts_outbox')
      .on('delivery_attempts')
      .column('outbox_id')
      .execute();

    await db.schema.alterTable('messages').addColumn('idempotency_key', 'text').execute();
    await db.schema
      .createIndex('messages_idempotency')
      .on('messages')
      .columns(['practice_id', 'idempotency_key'])
      .unique()
      .where(sql<boolean>`idempotency_key is not null`)
      .execute();

    await db.schema
      .alterTable('viewer_links')
      .addColumn('otp_sends', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('viewer_links_delivery').on('viewer_links').column('delivery_id').execute();
  },
};
