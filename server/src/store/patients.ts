import type { Patient } from '@attune/shared/api';
import type { Db } from './store.ts';
import type { PatientsTable } from './schema.ts';

/** A patient of `practiceId` by email (emails are stored trimmed and lower-case). */
export function findPatientByEmail(
  db: Db,
  practiceId: string,
  email: string,
): Promise<PatientsTable | undefined> {
  return db
    .selectFrom('patients')
    .selectAll()
    .where('practice_id', '=', practiceId)
    .where('email', '=', email.trim().toLowerCase())
    .executeTakeFirst();
}

/** Which of `emails` (lower-case) are patients of `practiceId`. */
export async function patientEmailsAmong(
  db: Db,
  practiceId: string,
  emails: readonly string[],
): Promise<Set<string>> {
  if (emails.length === 0) return new Set();
  const rows = await db
    .selectFrom('patients')
    .select('email')
    .where('practice_id', '=', practiceId)
    .where('email', 'in', [...emails])
    .execute();
  return new Set(rows.map((r) => r.email.toLowerCase()));
}

/** A patient by id, only within `practiceId` (tenant isolation: another practice's id is not found). */
export function findPatient(db: Db, practiceId: string, id: string): Promise<PatientsTable | undefined> {
  return db
    .selectFrom('patients')
    .selectAll()
    .where('practice_id', '=', practiceId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** The API view of a patient row (shared PatientSchema). */
export function toPatient(row: PatientsTable): Patient {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    timeZone: row.time_zone,
    hasPublicKey: row.public_key !== null,
    publicKeyFingerprint: row.fingerprint,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
