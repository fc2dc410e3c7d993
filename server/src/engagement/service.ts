import type { Caseload, Engagement } from '@attune/shared/api';
import { computeEngagement, rankCaseload, type CaseloadPatient, type PatientInfo } from '@attune/shared/engagement';
import type { Db } from '../store/index.ts';
import type { PatientsTable } from '../store/schema.ts';
import type { EngagementEventCache } from './cache.ts';
import { loadPatientEvents, loadPracticeEvents } from './events-store.ts';
import { getTriageWeights } from './settings.ts';

// Store → pure analytics. With a cache (the API passes one; see cache.ts) every read still checks
// the store first, so a reply stored a moment ago by any process (a crisis among them) shows on the
// next read; without one, each read is one index range query.

export function patientInfo(row: Pick<PatientsTable, 'id' | 'email' | 'name' | 'time_zone'>): PatientInfo {
  return { id: row.id, email: row.email, name: row.name, timeZone: row.time_zone };
}

/** The sidebar's engagement for one patient (already checked to belong to `practiceId`). */
export async function patientEngagement(
  db: Db,
  practiceId: string,
  patient: Pick<PatientsTable, 'id' | 'email' | 'name' | 'time_zone'>,
  now: Date,
  opts: { pngUrl?: string | null; cache?: EngagementEventCache | undefined } = {},
): Promise<Engagement> {
  const events = opts.cache ? await opts.cache.patient(db, practiceId, patient.id) : await loadPatientEvents(db, practiceId, patient.id, now);
  return computeEngagement(patientInfo(patient), events, now.getTime(), { pngUrl: opts.pngUrl ?? null });
}

/** The practice's caseload ranked by need with the practice's weights: two queries, one pass each. */
export async function practiceCaseload(
  db: Db,
  practiceId: string,
  now: Date,
  page: number,
  pageSize: number,
  cache?: EngagementEventCache,
): Promise<Caseload> {
  const [patients, byPatient, weights] = await Promise.all([
    db.selectFrom('patients').select(['id', 'email', 'name', 'time_zone']).where('practice_id', '=', practiceId).execute(),
    cache ? cache.practice(db, practiceId) : loadPracticeEvents(db, practiceId, now),
    getTriageWeights(db, practiceId),
  ]);
  const caseload: CaseloadPatient[] = patients.map((p) => ({ patient: patientInfo(p), events: byPatient.get(p.id) ?? [] }));
  return rankCaseload(caseload, now.getTime(), { weights, page, pageSize });
}

/** The one cache of an app (shared by the engagement, caseload and chart routes). */
export function engagementCacheFor(services: Record<string, unknown> | undefined, create: () => EngagementEventCache): EngagementEventCache | undefined {
  if (!services) return undefined;
  const existing = services['engagementCache'] as EngagementEventCache | undefined;
  if (existing) return existing;
  const cache = create();
  services['engagementCache'] = cache;
  return cache;
}
