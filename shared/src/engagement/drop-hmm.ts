// Drop detection by Bayesian filtering on the style HMM: each week's engagement symbol updates the
// probability that the patient is now in the learned low-engagement state. A drop is a move into
// that state from an engaged one, so a patient whose own history is intermittent (the HMM's middle
// state explains silent weeks) needs far more silence than a steady one before an alarm.
import type { DropAlarm } from './drop.ts';
import type { Hmm } from './hmm.ts';
import type { StyleModel } from './style.ts';
import type { Timeline } from './timeline.ts';
import { DAY, WEEK } from './time.ts';

export interface HmmDropOptions {
  /** Posterior probability of the low state that raises an alarm. */
  alarmP: number;
  /** Posterior below which the patient counts as recovered. */
  recoverP: number;
  /** Days after a week ends before its replies are judged (late replies still count). */
  settleDays: number;
  /** Weeks of history needed before any alarm. */
  warmupWeeks: number;
}

export const DEFAULT_HMM_DROP_OPTIONS: HmmDropOptions = { alarmP: 0.9, recoverP: 0.5, settleDays: 3, warmupWeeks: 6 };

const MONDAY_OFFSET = 4 * DAY;

export function detectDropsHmm(t: Timeline, model: StyleModel, options: Partial<HmmDropOptions> = {}): DropAlarm[] {
  const o = { ...DEFAULT_HMM_DROP_OPTIONS, ...options };
  if (t.firstAt === null) return [];
  const h: Hmm = model.hmm;
  const K = h.pi.length;
  const lowStates = model.level.map((l, k) => (l === 0 ? k : -1)).filter((k) => k >= 0);
  const w0 = Math.floor((t.firstAt - MONDAY_OFFSET) / WEEK);
  const wEnd = Math.floor((t.asOf - MONDAY_OFFSET) / WEEK);
  // Messages by week of sending.
  const byWeek = new Map<number, typeof t.messages>();
  for (const m of t.messages) {
    const w = Math.floor((m.sentAt - MONDAY_OFFSET) / WEEK);
    let arr = byWeek.get(w);
    if (!arr) byWeek.set(w, (arr = []));
    arr.push(m);
  }
  const alarms: DropAlarm[] = [];
  let alpha = [...h.pi];
  let active: DropAlarm | null = null;
  let engagedSeen = false;
  let silentFrom: number | null = null;
  const counts = { unopened: 0, openedOnly: 0, replied: 0 };
  let sentTotal = 0;
  let repliedTotal = 0;
  for (let w = w0; w <= wEnd; w++) {
    const weekStart = w * WEEK + MONDAY_OFFSET;
    const judgedAt = weekStart + WEEK + o.settleDays * DAY;
    if (judgedAt > t.asOf) break; // not yet known
    const ms = byWeek.get(w) ?? [];
    let sym = -1;
    let r = 0;
    let op = 0;
    for (const m of ms) {
      if (m.replyAt !== null && m.replyAt <= judgedAt) r++;
      else if (m.openedAt !== null && m.openedAt <= judgedAt) op++;
    }
    if (ms.length > 0) sym = r === 0 ? (op > 0 ? 1 : 0) : r / ms.length >= 0.5 ? 3 : 2;
    // Forward step.
    const next = new Array<number>(K).fill(0);
    let s = 0;
    for (let j = 0; j < K; j++) {
      let p = 0;
      for (let i = 0; i < K; i++) p += (alpha[i] as number) * ((h.a[i] as number[])[j] as number);
      p *= sym < 0 ? 1 : ((h.b[j] as number[])[sym] as number);
      next[j] = p;
      s += p;
    }
    alpha = next.map((x) => x / (s || 1));
    const pLow = lowStates.reduce((acc, k) => acc + (alpha[k] as number), 0);
    if (sym >= 2) silentFrom = null;
    else if (sym >= 0 && silentFrom === null) silentFrom = ms[0]?.sentAt ?? weekStart;
    if (sym >= 0) {
      sentTotal += ms.length;
      repliedTotal += r;
    }
    if (active) {
      if (sym === 0) counts.unopened++;
      if (sym === 1) counts.openedOnly++;
      if (pLow < o.recoverP) {
        active.recovered = true;
        active.recoveredAt = judgedAt;
        active = null;
      }
      continue;
    }
    if (pLow < 0.5) engagedSeen = true;
    if (engagedSeen && pLow >= o.alarmP && w - w0 >= o.warmupWeeks && silentFrom !== null) {
      active = {
        onset: silentFrom,
        alarmAt: judgedAt,
        recovered: false,
        recoveredAt: null,
        evidence: { ...counts, baselineReplyRate: sentTotal > 0 ? repliedTotal / sentTotal : 0, cusum: pLow },
      };
      alarms.push(active);
      engagedSeen = false;
    }
  }
  return alarms;
}
