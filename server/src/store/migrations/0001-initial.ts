import { sql } from 'kysely';
import type { SchemaMigration } from './types.ts';
import { blobType } from './types.ts';

// The initial schema (see ../schema.ts for the portability rules: ISO UTC text timestamps,
// 0/1 integers for booleans, JSON as text, application-generated text ids).
export const migration: SchemaMigration = {
  async up(db, dialect) {
    const blob = blobType(dialect);

    await db.schema
      .createTable('practices')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('reply_domain', 'text')
      .addColumn('entra_tenant_id', 'text', (c) => c.unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('practice_domains')
      .addColumn('domain', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('practice_domains_practice')
      .on('practice_domains')
      .column('practice_id')
      .execute();

    await db.schema
      .createTable('clinicians')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('email', 'text', (c) => c.notNull())
      .addColumn('name', 'text')
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('external_subject', 'text')
      .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('last_login_at', 'text')
      .addUniqueConstraint('clinicians_practice_email', ['practice_id', 'email'])
      .execute();

    await db.schema
      .createTable('patients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('email', 'text', (c) => c.notNull())
      .addColumn('name', 'text')
      .addColumn('time_zone', 'text')
      .addColumn('public_key', 'text')
      .addColumn('fingerprint', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('patients_practice_email', ['practice_id', 'email'])
      .execute();

    await db.schema
      .createTable('practice_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('purpose', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('sealed_private_key', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('retired_at', 'text')
      .execute();
    await db.schema
      .createIndex('practice_keys_practice')
      .on('practice_keys')
      .columns(['practice_id', 'purpose'])
      .execute();

    await db.schema
      .createTable('practice_policy')
      .addColumn('practice_id', 'text', (c) => c.primaryKey().references('practices.id'))
      .addColumn('policy', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();

    await db.schema
      .createTable('messages')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('clinician_id', 'text', (c) => c.notNull().references('clinicians.id'))
      .addColumn('subject_ct', blob)
      .addColumn('body_ct', blob, (c) => c.notNull())
      .addColumn('decision', 'text', (c) => c.notNull())
      .addColumn('reasons', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('topics', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('check_in', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('send_at', 'text')
      .addColumn('expires_at', 'text')
      .addColumn('revoked_at', 'text')
      .addColumn('in_reply_to', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('messages_practice_created')
      .on('messages')
      .columns(['practice_id', 'created_at'])
      .execute();

    await db.schema
      .createTable('deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id'))
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('email', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull().defaultTo('to'))
      .addColumn('patient_id', 'text', (c) => c.references('patients.id'))
      .addColumn('method', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('last_error', 'text')
      .addColumn('sent_at', 'text')
      .addColumn('opened_at', 'text')
      .addColumn('replied_at', 'text')
      .addColumn('smtp_message_id', 'text', (c) => c.unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('deliveries_message').on('deliveries').column('message_id').execute();
    await db.schema
      .createIndex('deliveries_patient')
      .on('deliveries')
      .columns(['practice_id', 'patient_id'])
      .execute();

    await db.schema
      .createTable('outbox')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('delivery_id', 'text', (c) => c.references('deliveries.id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('payload_ref', 'text')
      .addColumn('payload', blob)
      .addColumn('available_at', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('claimed_by', 'text')
      .addColumn('claimed_until', 'text')
      .addColumn('done_at', 'text')
      .addColumn('permanent_failure', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    // The claim query scans pending rows by availability; the partial index keeps finished rows out.
    await db.schema
      .createIndex('outbox_pending')
      .on('outbox')
      .column('available_at')
      .where(sql<boolean>`done_at is null and permanent_failure = 0`)
      .execute();

    await db.schema
      .createTable('viewer_links')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('token_sha256', 'text', (c) => c.notNull().unique())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('delivery_id', 'text', (c) => c.notNull().references('deliveries.id'))
      .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id'))
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('otp_hash', 'text')
      .addColumn('otp_expires_at', 'text')
      .addColumn('otp_attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('otp_verified_at', 'text')
      .addColumn('first_opened_at', 'text')
      .addColumn('revoked_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('replies')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id'))
      .addColumn('delivery_id', 'text', (c) => c.notNull().references('deliveries.id'))
      .addColumn('patient_id', 'text', (c) => c.references('patients.id'))
      .addColumn('body_ct', blob, (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('replies_message').on('replies').column('message_id').execute();

    await db.schema
      .createTable('engagement_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('patient_id', 'text', (c) => c.notNull().references('patients.id'))
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('message_id', 'text')
      .addColumn('latency_ms', 'bigint')
      .addColumn('topics', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('data', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('engagement_events_patient_at')
      .on('engagement_events')
      .columns(['practice_id', 'patient_id', 'at'])
      .execute();

    await db.schema
      .createTable('chain_heads')
      .addColumn('chain', 'text', (c) => c.primaryKey())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('head', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('audit_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('chain', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('actor_type', 'text', (c) => c.notNull())
      .addColumn('actor_id', 'text')
      .addColumn('practice_id', 'text')
      .addColumn('ip', 'text')
      .addColumn('request_id', 'text')
      .addColumn('target_type', 'text')
      .addColumn('target_id', 'text')
      .addColumn('details', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addUniqueConstraint('audit_events_chain_seq', ['chain', 'seq'])
      .execute();
    await db.schema
      .createIndex('audit_events_practice_at')
      .on('audit_events')
      .columns(['practice_id', 'at'])
      .execute();

    await db.schema
      .createTable('archive_entries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('chain', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('ref_id', 'text', (c) => c.notNull())
      .addColumn('ciphertext', blob, (c) => c.notNull())
      .addColumn('ciphertext_sha256', 'text', (c) => c.notNull())
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addUniqueConstraint('archive_entries_chain_seq', ['chain', 'seq'])
      .execute();
    await db.schema
      .createIndex('archive_entries_ref')
      .on('archive_entries')
      .columns(['practice_id', 'ref_id'])
      .execute();
  },
};
