// Time helpers over plain numbers. Time zones go through Intl.DateTimeFormat, which exists in Node,
// browsers (Outlook) and Apps Script's V8: no host API, no Date.now (callers pass `asOf`).

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const WEEK = 7 * DAY;
/** 1970-01-01 was a Thursday: weeks start on Monday 1970-01-05. */
const MONDAY_OFFSET = 4 * DAY;

/** Epoch ms of an event time (ISO string with offset, or epoch ms); NaN when unparseable. */
export function toMs(at: string | number): number {
  return typeof at === 'number' ? at : Date.parse(at);
}

export function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoDateOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

const formatters = new Map<string, Intl.DateTimeFormat | null>();

function formatterFor(timeZone: string): Intl.DateTimeFormat | null {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
      });
    } catch {
      f = null; // unknown zone: callers fall back to UTC and say so
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when Intl knows the zone. */
export function isValidTimeZone(timeZone: string): boolean {
  return formatterFor(timeZone) !== null;
}

function exactOffsetMinutes(f: Intl.DateTimeFormat, ms: number): number {
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const local = Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0);
  const floored = Math.floor(ms / 60_000) * 60_000;
  return Math.round((local - floored) / 60_000);
}

interface WeekOffsets {
  before: number;
  after: number;
  /** First ms with the `after` offset (Infinity when the week has no transition). */
  switchAt: number;
}

// Offsets change at most once a week in every real zone, so one cache entry per (zone, week) answers
// every event in that week: 5,000 events cost ~2 Intl calls per week spanned instead of 5,000.
const weekCache = new Map<string, WeekOffsets>();

/** Offset of `timeZone` from UTC at `ms`, in minutes (UTC-5 is -300). Unknown zones give 0. */
export function zoneOffsetMinutes(timeZone: string, ms: number): number {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return 0;
  const f = formatterFor(timeZone);
  if (!f || !Number.isFinite(ms)) return 0;
  const week = Math.floor(ms / WEEK);
  const key = `${timeZone}|${week}`;
  let w = weekCache.get(key);
  if (!w) {
    const start = week * WEEK;
    const before = exactOffsetMinutes(f, start);
    const after = exactOffsetMinutes(f, start + WEEK);
    let switchAt = Infinity;
    if (before !== after) {
      let lo = start;
      let hi = start + WEEK;
      while (hi - lo > 60_000) {
        const mid = Math.floor((lo + hi) / 2 / 60_000) * 60_000;
        if (exactOffsetMinutes(f, mid) === before) lo = mid;
        else hi = mid;
      }
      switchAt = hi;
    }
    w = { before, after, switchAt };
    if (weekCache.size > 100_000) weekCache.clear();
    weekCache.set(key, w);
  }
  return ms >= w.switchAt ? w.after : w.before;
}

/** Wall-clock ms in the zone (a UTC-based number whose UTC fields read as local time). */
export function localMs(timeZone: string, ms: number): number {
  return ms + zoneOffsetMinutes(timeZone, ms) * 60_000;
}

/** Fractional local hour of day, 0 <= h < 24. */
export function localHour(timeZone: string, ms: number): number {
  const l = localMs(timeZone, ms);
  return (((l % DAY) + DAY) % DAY) / HOUR;
}

/** Index of the local Monday-based week. */
export function weekIndex(timeZone: string, ms: number): number {
  return Math.floor((localMs(timeZone, ms) - MONDAY_OFFSET) / WEEK);
}

/** YYYY-MM-DD of the Monday that starts week `index`. */
export function weekStartDate(index: number): string {
  return isoDateOf(index * WEEK + MONDAY_OFFSET);
}

/**
 * The first instant at or after `afterMs` when the local clock in `timeZone` reads `hour`:00 (for a
 * scheduled send at the patient's best hour). Local times skipped by a DST change resolve to the
 * same UTC instant an hour later.
 */
export function nextLocalHour(timeZone: string, afterMs: number, hour: number): number {
  const l = localMs(timeZone, afterMs);
  const dayStart = l - (((l % DAY) + DAY) % DAY);
  for (let d = 0; d < 3; d++) {
    const wantLocal = dayStart + d * DAY + hour * HOUR;
    // Local wall time to UTC: try the offsets in force a day either side (a change lies between them
    // at most); an instant whose clock reads wantLocal is the answer, the earlier of two when the hour
    // repeats. When none does, the hour was skipped: with the offset from before the change it is the
    // instant the clock jumps past it (2:00 EST = 3:00 EDT), not an hour before the gap.
    const before = zoneOffsetMinutes(timeZone, wantLocal - DAY);
    const after = zoneOffsetMinutes(timeZone, wantLocal + DAY);
    const valid = [wantLocal - before * 60_000, wantLocal - after * 60_000]
      .filter((utc) => localMs(timeZone, utc) === wantLocal)
      .sort((a, b) => a - b);
    const utc = valid.length > 0 ? valid.find((x) => x >= afterMs) : wantLocal - before * 60_000;
    if (utc !== undefined && utc >= afterMs) return utc;
  }
  return afterMs;
}
