import type { SchemaMigration } from './types.ts';

// Engagement additions (additive; owned by server/src/engagement and server/src/mailbox, typed in
// engagement/db.ts):
// - engagement_settings: per-practice triage weights (JSON of the shared TriageWeightsSchema) and
//   whether mailbox sync may read message bodies (off unless the practice turns it on);
// - mailbox_sync: per connected mailbox, the Gmail history id the next sync starts from.
// engagement_events needs no new index: every read is by (practice_id, patient_id, at), which
// 0001's engagement_events_patient_at serves, also for the whole-practice caseload scan.
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
  },
};
