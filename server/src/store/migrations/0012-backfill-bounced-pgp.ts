import { sql } from 'kysely';
import type { SchemaMigration } from './types.ts';

// Backfill of the `undelivered` engagement rows (engagement/events-store.ts markUndelivered) for
// PGP/MIME deliveries the patient's mail server bounced after our relay took them (a 5.x.x delivery
// status notification to the delivery's return path, delivery/delivery-report.ts, since 0011).
// markUndelivered marked only secure links and deliveries never handed to the relay, so such a
// message, which never arrived, still counted as sent and unanswered (unanswered alerts, triage
// points, reply rate). The rule is markUndelivered's as it is now: status failed, a patient, never
// opened or replied to. `at` is when the delivery was settled (its updated_at); the row id is the
// one markUndelivered uses, so a row already there is left alone and a rerun adds nothing.
export const migration: SchemaMigration = {
  async up(db) {
    const now = new Date().toISOString();
    await sql`
      insert into engagement_events
        (id, practice_id, patient_id, type, at, message_id, latency_ms, topics, data, created_at)
      select 'undelivered:' || d.id, d.practice_id, d.patient_id, 'undelivered', d.updated_at,
             d.message_id, null, '[]', '{"reason":"failed"}', ${now}
      from deliveries d
      where d.status = 'failed'
        and d.patient_id is not null
        and d.opened_at is null
        and d.replied_at is null
        and not exists (select 1 from engagement_events e where e.id = 'undelivered:' || d.id)
    `.execute(db);
  },
};
