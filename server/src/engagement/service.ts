import type { Caseload, Engagement } from '@attune/shared/api';
import {
  computeEngagement,
  practicePriors,
  rankCaseload,
  type CaseloadPatient,
  type PatientInfo,
  type PracticePriors,
} from '@attune/shared/engagement';
import type { Db } from '../store/index.ts';
import type { PatientsTable } from '../store/schema.ts';
import { EngagementEventCache } from './cache.ts';
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
  const [events, priors] = await Promise.all([
    opts.cache
      ? opts.cache.patient(db, practiceId, patient.id)
      : loadPatientEvents(db, practiceId, patient.id, now),
    practicePriorsFor(db, practiceId, now, opts.cache),
  ]);
  return computeEngagement(patientInfo(patient), events, now.getTime(), {
    pngUrl: opts.pngUrl ?? null,
    ...priorOptions(priors),
  });
}

// The practice's reply hours and latency are the prior of every patient's best hour and predicted
// latency: without it a patient with few replies gets a window no better than the practice's own
// (bench:engagement, Enron: 27.6% without the prior against 31.7% with it). Priors move slowly, so
// they are recomputed at most every PRIOR_TTL_MS per practice and process.
const PRIOR_TTL_MS = 15 * 60_000;
const priorMemo = new Map<string, { at: number; priors: PracticePriors }>();

export async function practicePriorsFor(
  db: Db,
  practiceId: string,
  now: Date,
  cache?: EngagementEventCache,
): Promise<PracticePriors> {
  const memo = priorMemo.get(practiceId);
  if (memo && Math.abs(now.getTime() - memo.at) < PRIOR_TTL_MS) return memo.priors;
  const [patients, byPatient] = await Promise.all([
    db
      .selectFrom('patients')
      .select(['id', 'email', 'name', 'time_zone'])
      .where('practice_id', '=', practiceId)
      .execute(),
    cache ? cache.practice(db, practiceId) : loadPracticeEvents(db, practiceId, now),
  ]);
  const priors = practicePriors(
    patients.map((p) => ({ patient: patientInfo(p), events: byPatient.get(p.id) ?? [] })),
    now.getTime(),
  );
  priorMemo.set(practiceId, { at: now.getTime(), priors });
  return priors;
}

export function priorOptions(priors: PracticePriors): {
  hourPrior?: number[];
  populationLatencyHours?: number;
} {
  return {
    ...(priors.n > 0 ? { hourPrior: priors.hourPrior } : {}),
    ...(priors.latencyHours !== null ? { populationLatencyHours: priors.latencyHours } : {}),
  };
}

/**
 * The practice's caseload ranked by need with the practice's weights: two queries, one pass each.
 * With `careOf` (a clinician id), only the patients in that clinician's care (store/care.ts): the
 * events come from the practice-wide cache, but no other patient is ranked or returned, so the
 * cache never hands one clinician another's view.
 */
export async function practiceCaseload(
  db: Db,
  practiceId: string,
  now: Date,
  page: number,
  pageSize: number,
  cache?: EngagementEventCache,
  careOf?: string,
): Promise<Caseload> {
  const [patients, byPatient, weights] = await Promise.all([
    careOf === undefined
      ? db
          .selectFrom('patients')
          .select(['id', 'email', 'name', 'time_zone'])
          .where('practice_id', '=', practiceId)
          .execute()
      : db
          .selectFrom('patients')
          .innerJoin('care_relations', 'care_relations.patient_id', 'patients.id')
          .select(['patients.id', 'patients.email', 'patients.name', 'patients.time_zone'])
          .where('patients.practice_id', '=', practiceId)
          .where('care_relations.practice_id', '=', practiceId)
          .where('care_relations.clinician_id', '=', careOf)
          .execute(),
    cache ? cache.practice(db, practiceId) : loadPracticeEvents(db, practiceId, now),
    getTriageWeights(db, practiceId),
  ]);
  const caseload: CaseloadPatient[] = patients.map((p) => ({
    patient: patientInfo(p),
    events: byPatient.get(p.id) ?? [],
  }));
  return rankCaseload(caseload, now.getTime(), { weights, page, pageSize });
}

/** The one cache of an app (shared by the engagement, caseload and chart routes). */
export function engagementCacheFor(
  services: Record<string, unknown> | undefined,
  create: () => EngagementEventCache,
): EngagementEventCache | undefined {
  if (!services) return undefined;
  const existing = services['engagementCache'] as EngagementEventCache | undefined;
  if (existing) return existing;
  const cache = create();
  services['engagementCache'] = cache;
  return cache;
}

/**
 * Loads a practice's events into the app's read cache (and its priors), so the first caseload and
 * sidebar reads after a start are served from memory: parsing a cold caseload of 100,000 events
 * takes about a second (bench:engagement-store), a warm read under 200 ms.
 */
export async function warmEngagementCache(
  db: Db,
  practiceId: string,
  services: Record<string, unknown>,
): Promise<void> {
  const cache = engagementCacheFor(services, () => new EngagementEventCache());
  const now = new Date();
  await practiceCaseload(db, practiceId, now, 1, 1, cache);
  await practicePriorsFor(db, practiceId, now, cache);
}

/**
 * warmEngagementCache for every practice of the store (`attune practice add` makes more than the
 * configured one), as many as the cache keeps whole (the most recently added ones), one at a time,
 * the configured practice last so that it is the last to be evicted.
 */
export async function warmEngagementCaches(
  db: Db,
  configuredPracticeId: string,
  services: Record<string, unknown>,
): Promise<void> {
  const cache = engagementCacheFor(services, () => new EngagementEventCache())!;
  const others = await db
    .selectFrom('practices')
    .select('id')
    .where('id', '!=', configuredPracticeId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(cache.maxPractices - 1)
    .execute();
  for (const { id } of others.reverse()) await warmEngagementCache(db, id, services);
  await warmEngagementCache(db, configuredPracticeId, services);
}
