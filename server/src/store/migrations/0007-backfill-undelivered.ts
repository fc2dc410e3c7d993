import { sql } from 'kysely';
import type { SchemaMigration } from './types.ts';

// Backfill of the `undelivered` engagement rows (engagement/events-store.ts markUndelivered) for
// deliveries settled before the delivery module wrote them: a message revoked before it went out or
// before its secure link was opened, refused for good by the patient's mail server, or expired before
// its hour still counted as sent and unanswered (unanswered alerts, triage points, reply rate, drop
// evidence) for mail the patient never got. The same rule as markUndelivered: status revoked, failed
// or expired, a patient, never opened or replied to, and a secure link or never handed to the relay.
// `at` is when the delivery was settled (its updated_at); the row id is the one markUndelivered uses,
// so a row already there is left alone and a rerun adds nothing. Plain SQL both dialects share.
export const migration: SchemaMigration = {
  async up(db) {
    const now = new Date().toISOString();
    await sql`
      insert into engagement_events
        (id, practice_id, patient_id, type, at, message_id, latency_ms, topics, data, created_at)
      select 'undelivered:' || d.id, d.practice_id, d.patient_id, 'undelivered', d.updated_at,
             d.message_id, null, '[]', '{"reason":"' || d.status || '"}', ${now}
      from deliveries d
      where d.status in ('revoked', 'failed', 'expired')
        and d.patient_id is not null
        and d.opened_at is null
        and d.replied_at is null
        and (d.method = 'link' or d.sent_at is null)
        and not exists (select 1 from engagement_events e where e.id = 'undelivered:' || d.id)
    `.execute(db);
  },
};
