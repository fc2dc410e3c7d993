import type { Db } from './store.ts';
import { newId, nowIso } from './index.ts';

// Test support: a clinician or a patient row with every column set, for suites that seed a practice
// directly in the store (the product creates them through sign-in and POST /v1/patients).

export async function insertTestClinician(
  db: Db,
  practiceId: string,
  row: { email: string; name?: string | null; id?: string },
): Promise<string> {
  const id = row.id ?? newId();
  const now = nowIso();
  await db
    .insertInto('clinicians')
    .values({
      id,
      practice_id: practiceId,
      email: row.email,
      name: row.name ?? null,
      role: 'clinician',
      external_subject: null,
      disabled: 0,
      created_at: now,
      updated_at: now,
      last_login_at: null,
    })
    .execute();
  return id;
}

export async function insertTestPatient(
  db: Db,
  practiceId: string,
  row: { email: string; name?: string | null; id?: string },
): Promise<string> {
  const id = row.id ?? newId();
  const now = nowIso();
  await db
    .insertInto('patients')
    .values({
      id,
      practice_id: practiceId,
      email: row.email,
      name: row.name ?? null,
      time_zone: null,
      public_key: null,
      fingerprint: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return id;
}
