import { sql, type Kysely } from 'kysely';
import type { SchemaMigration } from './types.ts';

// care_relations: which clinicians care for which patient (DESIGN, security model: "a clinician sees
// the patients they care for"; store/care.ts). One row per clinician and patient, with how it began
// (source: sent, created, assigned, imported), when, and who assigned it (an admin's clinician id).
//
// The backfill keeps an upgrade from hiding anyone's patients: every clinician who sent a secure
// message to a patient (messages.clinician_id through the message's deliveries) and every clinician
// the audit trail shows creating a patient (phi.write, operation create, target patient) joins that
// patient's care team, dated by the first such act. Plain SQL both dialects share; a rerun (or a row
// already there) adds nothing.
export const migration: SchemaMigration = {
  async up(db) {
    await db.schema
      .createTable('care_relations')
      .addColumn('practice_id', 'text', (c) => c.notNull().references('practices.id'))
      .addColumn('patient_id', 'text', (c) => c.notNull().references('patients.id'))
      .addColumn('clinician_id', 'text', (c) => c.notNull().references('clinicians.id'))
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addPrimaryKeyConstraint('care_relations_pk', ['patient_id', 'clinician_id'])
      .execute();
    // The caseload of one clinician, and "is this clinician in this patient's care team".
    await db.schema
      .createIndex('care_relations_clinician')
      .on('care_relations')
      .columns(['practice_id', 'clinician_id', 'patient_id'])
      .execute();
    await backfillCareRelations(db);
  },
};

/** The backfill of migration 0010 (exported for its test); adds only relations not already there. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function backfillCareRelations(db: Kysely<any>): Promise<void> {
  await sql`
      insert into care_relations (practice_id, patient_id, clinician_id, source, created_at, created_by)
      select m.practice_id, d.patient_id, m.clinician_id, 'sent', min(m.created_at), null
      from messages m
      join deliveries d on d.message_id = m.id and d.practice_id = m.practice_id
      join patients p on p.id = d.patient_id and p.practice_id = m.practice_id
      where d.patient_id is not null
        and not exists (
          select 1 from care_relations r
          where r.patient_id = d.patient_id and r.clinician_id = m.clinician_id
        )
      group by m.practice_id, d.patient_id, m.clinician_id
    `.execute(db);
  await sql`
      insert into care_relations (practice_id, patient_id, clinician_id, source, created_at, created_by)
      select p.practice_id, p.id, c.id, 'created', min(a.at), null
      from audit_events a
      join patients p on p.id = a.target_id and p.practice_id = a.practice_id
      join clinicians c on c.id = a.actor_id and c.practice_id = a.practice_id
      where a.action = 'phi.write'
        and a.actor_type = 'clinician'
        and a.target_type = 'patient'
        and a.details like '%"operation":"create"%'
        and not exists (
          select 1 from care_relations r where r.patient_id = p.id and r.clinician_id = c.id
        )
      group by p.practice_id, p.id, c.id
    `.execute(db);
}
