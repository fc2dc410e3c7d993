import {
  computeEngagement,
  isValidTimeZone,
  localHour,
  nextLocalHour as sharedNextLocalHour,
} from '@attune/shared/engagement';
import type { Store } from '../store/index.ts';
import { findPatient } from '../store/index.ts';
import type { EngagementEventCache } from './cache.ts';
import { loadPatientEvents } from './events-store.ts';
import { patientInfo, practicePriorsFor, priorOptions } from './service.ts';

// `sendAt: "best"` from the same recommendation the sidebar shows (recommendations.bestHour of
// computeEngagement: recency-weighted von Mises density over the patient's reply hours, in their
// zone), so the hour a clinician reads in the sidebar is the hour the message goes out.

/** Replies needed before the recommended hour is trusted. */
const MIN_REPLIES = 3;
const DAY_START = 9;
const DAY_END = 18;

export interface BestSendTime {
  at: Date;
  /** Local hour used, or null when sending now. */
  hour: number | null;
  timeZone: string;
  source: 'engagement' | 'daytime_default';
  reason: string;
}

export async function bestSendTime(
  store: Pick<Store, 'db'>,
  practiceId: string,
  patientId: string | null,
  now: Date,
  /** `timeZone`: the recipient's zone when there is no patient row (e.g. a new address). */
  opts: { cache?: EngagementEventCache; timeZone?: string | null } = {},
): Promise<BestSendTime> {
  const row = patientId ? await findPatient(store.db, practiceId, patientId) : undefined;
  const zone = row?.time_zone ?? opts.timeZone ?? null;
  const tz = zone && isValidTimeZone(zone) ? zone : 'UTC';
  const zoneNote = zone && isValidTimeZone(zone) ? '' : ' (no time zone on file: UTC used)';
  if (row) {
    const [events, priors] = await Promise.all([
      opts.cache
        ? opts.cache.patient(store.db, practiceId, row.id)
        : loadPatientEvents(store.db, practiceId, row.id, now),
      practicePriorsFor(store.db, practiceId, now, opts.cache),
    ]);
    const e = computeEngagement(patientInfo(row), events, now.getTime(), priorOptions(priors));
    const best = e.recommendations.bestHour;
    if (best.hour !== null && e.replyHours.n >= MIN_REPLIES) {
      return {
        at: new Date(sharedNextLocalHour(tz, now.getTime(), best.hour)),
        hour: best.hour,
        timeZone: tz,
        source: 'engagement',
        reason: `Scheduled for ${String(best.hour).padStart(2, '0')}:00 ${tz}, the patient's recommended send hour (from ${e.replyHours.n} replies)${zoneNote}.`,
      };
    }
  }
  const h = localHour(tz, now.getTime());
  if (h >= DAY_START && h < DAY_END) {
    return {
      at: now,
      hour: null,
      timeZone: tz,
      source: 'daytime_default',
      reason: `Not enough reply history for a preferred hour; it is daytime for the patient (${tz}), so it goes now${zoneNote}.`,
    };
  }
  return {
    at: new Date(sharedNextLocalHour(tz, now.getTime(), DAY_START)),
    hour: DAY_START,
    timeZone: tz,
    source: 'daytime_default',
    reason: `Not enough reply history for a preferred hour; scheduled for ${DAY_START}:00 ${tz}, the next daytime hour${zoneNote}.`,
  };
}
