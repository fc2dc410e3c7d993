import { computeEngagement, isValidTimeZone, localHour } from '@attune/shared/engagement';
import { nextLocalHour } from '../delivery/schedule.ts';
import type { Store } from '../store/index.ts';
import { findPatient } from '../store/index.ts';
import type { EngagementEventCache } from './cache.ts';
import { loadPatientEvents } from './events-store.ts';
import { patientInfo } from './service.ts';

// `sendAt: "best"` from the same recommendation the sidebar shows (recommendations.bestHour of
// computeEngagement: recency-weighted von Mises density over the patient's reply hours, in their
// zone), so the hour a clinician reads in the sidebar is the hour the message goes out.

/** Replies needed before the recommended hour is used (as delivery/schedule.ts). */
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
  patientId: string,
  now: Date,
  opts: { cache?: EngagementEventCache } = {},
): Promise<BestSendTime> {
  const row = await findPatient(store.db, practiceId, patientId);
  const tz = row?.time_zone && isValidTimeZone(row.time_zone) ? row.time_zone : 'UTC';
  const zoneNote = row?.time_zone ? '' : ' (no time zone on file: UTC used)';
  if (row) {
    const events = opts.cache ? await opts.cache.patient(store.db, practiceId, row.id) : await loadPatientEvents(store.db, practiceId, row.id, now);
    const e = computeEngagement(patientInfo(row), events, now.getTime());
    const best = e.recommendations.bestHour;
    if (best.hour !== null && e.replyHours.n >= MIN_REPLIES) {
      return {
        at: new Date(nextLocalHour(now.getTime(), tz, best.hour)),
        hour: best.hour,
        timeZone: tz,
        source: 'engagement',
        reason: `Scheduled for ${String(best.hour).padStart(2, '0')}:00 ${tz}, the patient's recommended send hour (from ${e.replyHours.n} replies)${zoneNote}.`,
      };
    }
  }
  const h = localHour(tz, now.getTime());
  if (h >= DAY_START && h < DAY_END) {
    return { at: now, hour: null, timeZone: tz, source: 'daytime_default', reason: `Not enough reply history for a preferred hour; it is daytime for the patient (${tz}), so it goes now${zoneNote}.` };
  }
  return {
    at: new Date(nextLocalHour(now.getTime(), tz, DAY_START)),
    hour: DAY_START,
    timeZone: tz,
    source: 'daytime_default',
    reason: `Not enough reply history for a preferred hour; scheduled for ${DAY_START}:00 ${tz}, the next daytime hour${zoneNote}.`,
  };
}
