import { bestWindow, isValidTimeZone, localHour, zoneOffsetMinutes } from '@attune/shared/engagement';
import type { Db } from '../store/index.ts';

// sendAt: "best": the patient's preferred reply hour once there is enough history, else the next
// reasonable daytime hour in their zone. Always with a reason the clinician can read.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Replies needed before a preferred hour is trusted. */
const MIN_REPLIES = 3;
/** Daytime window used without history: 09:00 to 18:00 local. */
const DAY_START = 9;
const DAY_END = 18;

/** The first instant >= fromMs at which the local wall clock in `tz` reads `hour`:00. */
export function nextLocalHour(fromMs: number, tz: string, hour: number): number {
  const offset = zoneOffsetMinutes(tz, fromMs) * 60_000;
  const local = fromMs + offset;
  let targetLocal = Math.floor(local / DAY) * DAY + hour * HOUR;
  if (targetLocal < local) targetLocal += DAY;
  // Convert back with the offset at the target (a DST change in between moves it by an hour).
  const guess = targetLocal - offset;
  return targetLocal - zoneOffsetMinutes(tz, guess) * 60_000;
}

export interface BestTime {
  at: Date;
  reason: string;
}

export async function bestSendTime(db: Db, practiceId: string, patientId: string | null, timeZone: string | null, now: Date): Promise<BestTime> {
  const tz = timeZone && isValidTimeZone(timeZone) ? timeZone : 'UTC';
  const zoneNote = tz === 'UTC' && timeZone !== 'UTC' ? ' (no time zone on file: UTC used)' : '';
  const nowMs = now.getTime();
  if (patientId) {
    const rows = await db
      .selectFrom('engagement_events')
      .select('at')
      .where('practice_id', '=', practiceId)
      .where('patient_id', '=', patientId)
      .where('type', '=', 'replied')
      .orderBy('at', 'desc')
      .limit(200)
      .execute();
    const hours = rows
      .map((r) => Date.parse(r.at))
      .filter((ms) => Number.isFinite(ms))
      .reverse()
      .map((ms) => localHour(tz, ms));
    if (hours.length >= MIN_REPLIES) {
      const w = bestWindow(hours, { halfLife: 20 });
      if (w.hour !== null) {
        const at = nextLocalHour(nowMs, tz, w.hour);
        return {
          at: new Date(at),
          reason: `Scheduled for ${String(w.hour).padStart(2, '0')}:00 ${tz}, the hour this patient most often replies (from ${hours.length} replies)${zoneNote}.`,
        };
      }
    }
  }
  const h = localHour(tz, nowMs);
  if (h >= DAY_START && h < DAY_END) {
    return { at: now, reason: `Not enough reply history for a preferred hour; it is daytime for the patient (${tz}), so it goes now${zoneNote}.` };
  }
  const at = nextLocalHour(nowMs, tz, DAY_START);
  return {
    at: new Date(at),
    reason: `Not enough reply history for a preferred hour; scheduled for ${DAY_START}:00 ${tz}, the next daytime hour${zoneNote}.`,
  };
}
