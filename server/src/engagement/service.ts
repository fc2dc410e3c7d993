import type { Caseload, Engagement } from '@attune/shared/api';
import { computeEngagement, rankCaseload, type CaseloadPatient, type PatientInfo } from '@attune/shared/engagement';
import type { Db } from '../store/index.ts';
import type { PatientsTable } from '../store/schema.ts';
import { loadPatientEvents, loadPracticeEvents } from './events-store.ts';
import { getTriageWeights } from './settings.ts';

// Store → pure analytics. Nothing is cached: a reply stored a moment ago (a crisis among them) shows
// on the next read, which is what "raises an urgent flag at once" needs; the figures from
// `npm run bench:engagement-store` show the reads are fast enough not to need a cache.

export function patientInfo(row: Pick<PatientsTable, 'id' | 'email' | 'name' | 'time_zone'>): PatientInfo {
  return { id: row.id, email: row.email, name: row.name, timeZone: row.time_zone };
}

/** The sidebar's engagement for one patient (already checked to belong to `practiceId`). */
export async function patientEngagement(
  db: Db,
  practiceId: string,
  patient: Pick<PatientsTable, 'id' | 'email' | 'name' | 'time_zone'>,
  now: Date,
  opts: { pngUrl?: string | null } = {},
): Promise<Engagement> {
  const events = await loadPatientEvents(db, practiceId, patient.id, now);
  return computeEngagement(patientInfo(patient), events, now.getTime(), { pngUrl: opts.pngUrl ?? null });
}

/** The practice's caseload ranked by need with the practice's weights: two queries, one pass each. */
export async function practiceCaseload(db: Db, practiceId: string, now: Date, page: number, pageSize: number): Promise<Caseload> {
  const [patients, byPatient, weights] = await Promise.all([
    db.selectFrom('patients').select(['id', 'email', 'name', 'time_zone']).where('practice_id', '=', practiceId).execute(),
    loadPracticeEvents(db, practiceId, now),
    getTriageWeights(db, practiceId),
  ]);
  const caseload: CaseloadPatient[] = patients.map((p) => ({ patient: patientInfo(p), events: byPatient.get(p.id) ?? [] }));
  return rankCaseload(caseload, now.getTime(), { weights, page, pageSize });
}
