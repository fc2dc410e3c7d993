import type { SchemaMigration } from './types.ts';

// Engagement additions (additive; owned by server/src/engagement and server/src/mailbox, typed in
// engagement/db.ts):
// - engagement_settings: per-practice triage weights (JSON of the shared TriageWeightsSchema) and
//   whether mailbox sync may read message bodies (off unless the practice turns it on);
// - mailbox_sync: per connected mailbox, the Gmail history id the next sync starts from.
// - engagement_events_patient_created: (practice_id, patient_id, created_at), so the freshness check
//   of the engagement read cache (count and newest created_at, of a patient or a whole practice) is
//   an index-only scan, and a refresh loads only the rows added since (engagement/cache.ts);
// - engagement_events_practice_created: (practice_id, created_at), the same for a whole practice
//   (the caseload), where the rows added since are a short range instead of a scan of every row.
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema
      .createTable('engagement_settings')
      .addColumn('practice_id', 'text', (c) => c.primaryKey().references('practices.id'))
      .addColumn('triage_weights', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('mailbox_bodies', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();

    await db.schema
      .createTable('mailbox_sync')
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('mailbox', 'text', (c) => c.notNull())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('history_id', 'text')
      .addColumn('last_sync_at', 'text')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('mailbox_sync_pk', ['practice_id', 'provider', 'mailbox'])
      .execute();

    await db.schema
      .createIndex('engagement_events_patient_created')
      .on('engagement_events')
      .columns(['practice_id', 'patient_id', 'created_at'])
      .execute();
    await db.schema
      .createIndex('engagement_events_practice_created')
      .on('engagement_events')
      .columns(['practice_id', 'created_at'])
      .execute();
  },
};
