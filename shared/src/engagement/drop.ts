// Drop in responsiveness, from the patient's own history: a CUSUM of log-likelihood ratios (Page 1954)
// over each clinician message's outcome (replied / opened only / not even opened) and the reply
// latency, against a baseline learned from the same patient before the current excursion. Outcomes
// are taken in the order they become known (a reply when it arrives; silence once the timeout passes),
// so the detector is causal: the alarm date is when the data first supported it; the onset is where
// the excursion began. The baseline is first-order Markov (outcome given whether the previous message
// went unanswered), so runs of silence that are this patient's habit weigh little. Defaults were
// chosen on a simulated tuning cohort (seed 1); test/bench/engagement.ts evaluates them on another one.
import type { Timeline } from './timeline.ts';
import { DAY, HOUR } from './time.ts';

export interface DropOptions {
  /** Alarm threshold on the cumulative log-likelihood ratio. */
  threshold: number;
  /** Weight of the drop profile in the alternative distribution (0..1). */
  dropMix: number;
  /** Shift of mean log-latency under a drop, in baseline SDs. */
  latencyShift: number;
  /**
   * Weight (pseudo-observations) of the unconditional outcome rates in the Markov baseline; 0 turns the
   * conditioning off.
   */
  markovPrior: number;
  /** Observations needed before any alarm. */
  warmup: number;
  /** History needed before any alarm (ms): a drop is judged against the patient's own rhythm. */
  warmupMs: number;
  /**
   * The silence since the last reply must also exceed this multiple of the patient's own 95th-percentile
   * gap between replies: someone who habitually goes quiet for weeks (sporadic) is not "dropping" when
   * they do it again.
   */
  gapFactor: number;
  /** Floor of that gap threshold (ms). */
  minGapMs: number;
  /** Quantile of past gaps used, and how many gaps are needed before they are trusted (until then 2x the floor). */
  gapQuantile: number;
  minGaps: number;
  /** Silence longer than this counts as "no reply" (ms); adapted upwards for slow repliers. */
  minTimeoutMs: number;
  maxTimeoutMs: number;
}

export const DEFAULT_DROP_OPTIONS: DropOptions = {
  threshold: 10,
  dropMix: 0.8,
  latencyShift: 0.8,
  markovPrior: 3,
  warmup: 8,
  warmupMs: 84 * DAY,
  // The gap condition is off by default: the Markov baseline already discounts habitual runs of
  // silence, and on the simulated tuning cohort the extra condition cost ~1 day of delay for no fewer
  // false alarms. Set gapFactor 1, minGapMs 5 days, minGaps 5 to require it.
  gapFactor: 0,
  minGapMs: 0,
  gapQuantile: 0.95,
  minGaps: 0,
  minTimeoutMs: 36 * HOUR,
  maxTimeoutMs: 7 * DAY,
};

export interface DropAlarm {
  /** When the excursion began (the send time of its first message). */
  onset: number;
  /** When the alarm was raised (the data first crossed the threshold). */
  alarmAt: number;
  /** Whether responsiveness has since recovered (two replies at baseline speed). */
  recovered: boolean;
  recoveredAt: number | null;
  evidence: {
    unopened: number;
    openedOnly: number;
    replied: number;
    baselineReplyRate: number;
    cusum: number;
  };
}

interface Obs {
  at: number;
  sentAt: number;
  /** 0 replied, 1 opened only, 2 not opened. */
  kind: 0 | 1 | 2;
  /** Whether the previous outcome (in the order outcomes became known) was a non-reply. */
  prevSilent: boolean;
  logLatency: number | null;
}

/** Outcome profile of a patient who has disengaged: rarely replies, mostly does not open. */
const DROP_PROFILE = [0.05, 0.35, 0.6] as const;

export function detectDrops(t: Timeline, options: Partial<DropOptions> = {}): DropAlarm[] {
  const o = { ...DEFAULT_DROP_OPTIONS, ...options };
  // Timeout: slow repliers get longer before their silence counts (3x their median latency).
  const lat = t.messages.filter((m) => m.latencyMs !== null).map((m) => m.latencyMs as number);
  lat.sort((a, b) => a - b);
  const med = lat.length > 0 ? (lat[Math.floor(lat.length / 2)] as number) : 0;
  const timeout = Math.min(o.maxTimeoutMs, Math.max(o.minTimeoutMs, 3 * med));

  const obs: Obs[] = [];
  for (const m of t.messages) {
    const replied = m.replyAt !== null && m.replyAt - m.sentAt <= timeout;
    const at = replied ? (m.replyAt as number) : m.sentAt + timeout;
    if (at > t.asOf) continue; // not yet known
    const opened = m.openedAt !== null && m.openedAt - m.sentAt <= timeout;
    obs.push({
      at,
      sentAt: m.sentAt,
      kind: replied ? 0 : opened ? 1 : 2,
      prevSilent: false,
      logLatency: replied
        ? Math.log(Math.max(60_000, m.latencyMs ?? (m.replyAt as number) - m.sentAt) / HOUR)
        : null,
    });
  }
  obs.sort((a, b) => a.at - b.at);
  for (let i = 1; i < obs.length; i++) (obs[i] as Obs).prevSilent = (obs[i - 1] as Obs).kind !== 0;

  const alarms: DropAlarm[] = [];
  const firstAt = t.firstAt ?? 0;
  // Baseline counts (Dirichlet prior 1,1,1 keeps rare outcomes from giving infinite evidence).
  const cnt = [1, 1, 1];
  let latN = 0;
  let latSum = 0;
  let latSq = 0;
  let s = 0;
  let run: Obs[] = [];
  let active: DropAlarm | null = null;
  let goodStreak = 0;
  let seen = 0;
  let lastReplyAt: number | null = null;
  /** Gaps between replies, kept sorted so the quantile is a lookup. */
  const gaps: number[] = [];
  const gapLimit = (): number => gapThreshold(gaps, o);

  // Outcome counts conditional on whether the previous message went unanswered (a first-order Markov
  // baseline): a patient whose silences come in runs (sporadic) makes a second silent message
  // unsurprising, while for a steady patient it stays strong evidence.
  const cond = [
    [0, 0, 0],
    [0, 0, 0],
  ];
  const absorb = (x: Obs): void => {
    cnt[x.kind] = (cnt[x.kind] as number) + 1;
    const row = cond[x.prevSilent ? 1 : 0] as number[];
    row[x.kind] = (row[x.kind] as number) + 1;

    if (x.logLatency !== null) {
      latN++;
      latSum += x.logLatency;
      latSq += x.logLatency * x.logLatency;
    }
  };

  for (const x of obs) {
    seen++;
    const total = (cnt[0] as number) + (cnt[1] as number) + (cnt[2] as number);
    const pu = (cnt[x.kind] as number) / total;
    const row = cond[x.prevSilent ? 1 : 0] as number[];
    const rowN = (row[0] as number) + (row[1] as number) + (row[2] as number);
    const p0 =
      o.markovPrior > 0 ? ((row[x.kind] as number) + o.markovPrior * pu) / (rowN + o.markovPrior) : pu;
    const p1 = (1 - o.dropMix) * p0 + o.dropMix * (DROP_PROFILE[x.kind] as number);
    let llr = Math.log(p1 / p0);
    let z = 0;
    if (x.logLatency !== null && latN >= 3) {
      const mu = latSum / latN;
      const sdv = Math.max(0.5, Math.sqrt(Math.max(0, latSq / latN - mu * mu)));
      z = Math.max(-2, Math.min(3, (x.logLatency - mu) / sdv));
      llr += o.latencyShift * z - (o.latencyShift * o.latencyShift) / 2;
    }

    const silence = lastReplyAt === null ? 0 : x.at - lastReplyAt;
    if (x.kind === 0) {
      // Gaps between replies are learned continuously (not only from calm stretches): a patient who
      // habitually goes quiet for weeks teaches the detector that quickly.
      if (lastReplyAt !== null) insertSorted(gaps, x.at - lastReplyAt);
      lastReplyAt = x.at;
    }
    if (active) {
      // Recovery: two replies in a row at no more than 1 SD slower than baseline.
      if (x.kind === 0 && z < 1) goodStreak++;
      else goodStreak = 0;
      if (goodStreak >= 2) {
        active.recovered = true;
        active.recoveredAt = x.at;
        active = null;
        s = 0;
        // A spell that ended on its own is part of this patient's normal rhythm: learn its outcomes and
        // its gap, so the same kind of spell does not alarm again (sporadic patients).
        for (const r of run) absorb(r);
        run = [];
        absorb(x);
        continue;
      }
      run.push(x); // held back from the baseline unless the spell ends
      continue;
    }

    // Baseline period: the first weeks teach the detector this patient's normal; no CUSUM yet.
    if (seen <= o.warmup || x.at - firstAt < o.warmupMs) {
      absorb(x);
      continue;
    }
    s = Math.max(0, s + llr);
    if (s === 0) {
      for (const r of run) absorb(r);
      run = [];
      absorb(x);
      continue;
    }
    run.push(x);
    // A long excursion that never crossed the threshold ages into the baseline (slow drift is not a drop).
    if (run.length > 30) absorb(run.shift() as Obs);
    if (s >= o.threshold && silence >= gapLimit()) {
      const first = run[0] as Obs;
      const base = (cnt[0] as number) / ((cnt[0] as number) + (cnt[1] as number) + (cnt[2] as number));
      active = {
        onset: first.sentAt,
        alarmAt: x.at,
        recovered: false,
        recoveredAt: null,
        evidence: {
          unopened: run.filter((r) => r.kind === 2).length,
          openedOnly: run.filter((r) => r.kind === 1).length,
          replied: run.filter((r) => r.kind === 0).length,
          baselineReplyRate: base,
          cusum: s,
        },
      };
      alarms.push(active);
      goodStreak = 0;
    }
  }
  return alarms;
}

function gapThreshold(sorted: readonly number[], o: DropOptions): number {
  if (sorted.length < o.minGaps) return 2 * o.minGapMs;
  const q = sorted[Math.min(sorted.length - 1, Math.floor(o.gapQuantile * sorted.length))] as number;
  return Math.max(o.minGapMs, o.gapFactor * q);
}

function insertSorted(xs: number[], v: number): void {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) <= v) lo = mid + 1;
    else hi = mid;
  }
  xs.splice(lo, 0, v);
}
