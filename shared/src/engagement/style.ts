// Engagement style from a hidden Markov model over weekly engagement, in the spirit of Chien et al.
// (JAMA Netw Open 2020;3(7):e2010791), who modelled week-by-week use of an internet CBT programme and
// found a handful of trajectory classes. Here each week is one observation (no contact / no open /
// opened only / partial reply / reply to most), three hidden engagement levels are learned with
// Baum-Welch on training patients, a patient's path is decoded with Viterbi, and transparent rules on
// that path name the style a clinician understands. Every result lists the evidence behind it.
import type { EngagementStyle } from '../api/engagement.ts';
import { baumWelch, posteriors, viterbi, type Hmm, type Obs } from './hmm.ts';
import type { Timeline } from './timeline.ts';
import { DAY, WEEK } from './time.ts';

export const WEEK_SYMBOLS = ['not_opened', 'opened_only', 'replied_some', 'replied_most'] as const;

/** Replies count for the week the message was sent; messages younger than this are still pending. */
const PENDING_MS = 3 * DAY;
const MONDAY_OFFSET = 4 * DAY;
const utcWeek = (ms: number): number => Math.floor((ms - MONDAY_OFFSET) / WEEK);

export interface WeeklySeries {
  firstWeek: number;
  obs: Obs[];
  /** Clinician messages per week and replies to them (for the evidence text and frequency). */
  sent: number[];
  replied: number[];
}

/**
 * Weeks before the first email contact (message or reply) kept in the series. The model was fitted on
 * histories that open with an appointment booked up to four weeks (mostly one) before the first
 * message, so those lead-in weeks stay as they were; older
 * events (a FHIR import of years of visits, a placeholder date such as 0001-01-01) say nothing about
 * email engagement, yet Viterbi would decode every one of those empty weeks into a level that the
 * rules below count (a declining patient read as steady) and the decoding would run over them all.
 */
const LEAD_WEEKS = 4;

/** One symbol per calendar week (UTC Monday weeks) from the first event (at most LEAD_WEEKS before the first email contact) to `asOf`. */
export function weeklySeries(t: Timeline): WeeklySeries {
  if (t.firstAt === null) return { firstWeek: 0, obs: [], sent: [], replied: [] };
  // Messages and replies are in time order.
  const contact = Math.min(t.messages[0]?.sentAt ?? Infinity, t.replies[0]?.at ?? Infinity);
  const w0 = Number.isFinite(contact)
    ? Math.max(utcWeek(t.firstAt), utcWeek(contact) - LEAD_WEEKS)
    : utcWeek(t.firstAt);
  const T = utcWeek(t.asOf) - w0 + 1;
  const sent = new Array<number>(T).fill(0);
  const replied = new Array<number>(T).fill(0);
  const opened = new Array<number>(T).fill(0);
  const initiated = new Array<number>(T).fill(0);
  for (const m of t.messages) {
    if (m.replyAt === null && t.asOf - m.sentAt < PENDING_MS) continue;
    const w = utcWeek(m.sentAt) - w0;
    sent[w] = (sent[w] as number) + 1;
    if (m.replyAt !== null) replied[w] = (replied[w] as number) + 1;
    if (m.openedAt !== null) opened[w] = (opened[w] as number) + 1;
  }
  for (const r of t.replies) {
    const w = utcWeek(r.at) - w0;
    initiated[w] = (initiated[w] as number) + 1;
  }
  const obs: Obs[] = [];
  for (let w = 0; w < T; w++) {
    const s = sent[w] as number;
    const r = replied[w] as number;
    if (s === 0) obs.push((initiated[w] as number) > 0 ? 3 : -1);
    else if (r === 0) obs.push((opened[w] as number) > 0 ? 1 : 0);
    else obs.push(r / s >= 0.5 ? 3 : 2);
  }
  return { firstWeek: w0, obs, sent, replied };
}

/** Starting point for Baum-Welch: three levels from disengaged to engaged. */
export const INITIAL_STYLE_HMM: Hmm = {
  pi: [0.2, 0.3, 0.5],
  a: [
    [0.85, 0.1, 0.05],
    [0.1, 0.8, 0.1],
    [0.05, 0.1, 0.85],
  ],
  b: [
    [0.55, 0.35, 0.07, 0.03],
    [0.15, 0.35, 0.3, 0.2],
    [0.02, 0.08, 0.3, 0.6],
  ],
};

export interface StyleModel {
  hmm: Hmm;
  /** Engagement level of each hidden state: 0 low, 1 middle, 2 high (ordered by expected symbol). */
  level: number[];
  /** How the model was obtained (shown in `basis`). */
  source: string;
}

function levelsOf(h: Hmm): number[] {
  const score = h.b.map((row) => row.reduce((s, p, k) => s + p * k, 0));
  const order = score.map((_, i) => i).sort((x, y) => (score[x] as number) - (score[y] as number));
  const level = new Array<number>(score.length).fill(0);
  order.forEach((state, rank) => (level[state] = Math.round((rank * 2) / Math.max(1, score.length - 1))));
  return level;
}

/** Fit the style HMM on training patients' weekly series (Baum-Welch). */
export function fitStyleModel(
  series: readonly (readonly Obs[])[],
  source = 'Baum-Welch on training patients',
): StyleModel {
  const fit = baumWelch(
    INITIAL_STYLE_HMM,
    series.filter((s) => s.length > 0),
  );
  return {
    hmm: fit.model,
    level: levelsOf(fit.model),
    source: `${source} (${series.length} patients, ${fit.iterations} EM iterations)`,
  };
}

export interface StyleThresholds {
  /** Fewer observed weeks or messages than this: `new`. */
  minWeeks: number;
  minMessages: number;
  /** Trailing weeks at the low level that make `disengaged`. */
  disengagedWeeks: number;
  /** Share of weeks at the low level that makes `disengaged` regardless of the tail. */
  disengagedShare: number;
  /** `re_engaging`: a low run of at least this many weeks that ended within `reengageRecent` weeks. */
  reengageGap: number;
  reengageRecent: number;
  /** `declining`: mean level of the first third minus the last third at least this. */
  declineDrop: number;
  /** `sporadic`: switches between low and engaged per week at least this, or a low share above `sporadicLowShare`. */
  sporadicSwitchRate: number;
  sporadicLowShare: number;
  /** `sporadic`: share of weeks in the learned intermittent (middle) state at least this. */
  sporadicMidShare: number;
}

export const DEFAULT_STYLE_THRESHOLDS: StyleThresholds = {
  minWeeks: 4,
  minMessages: 4,
  disengagedWeeks: 6,
  disengagedShare: 0.75,
  reengageGap: 4,
  reengageRecent: 8,
  declineDrop: 0.6,
  sporadicSwitchRate: 0.12,
  sporadicLowShare: 0.25,
  sporadicMidShare: 0.4,
};

export interface StyleResult {
  style: EngagementStyle;
  confidence: number;
  reasons: string[];
  /** Decoded engagement level per week (0 low, 1 middle, 2 high). */
  levels: number[];
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;

export function classifyStyle(
  series: WeeklySeries,
  model: StyleModel,
  th: StyleThresholds = DEFAULT_STYLE_THRESHOLDS,
): StyleResult {
  const observed = series.obs.filter((o) => o >= 0).length;
  const messages = series.sent.reduce((a, b) => a + b, 0);
  const T = series.obs.length;
  if (T <= th.minWeeks || observed < th.minWeeks - 1 || messages < th.minMessages) {
    return {
      style: 'new',
      confidence: 1,
      reasons: [
        `${T} week(s) of history, ${messages} message(s) answered or due: too little data to judge a style yet.`,
      ],
      levels: [],
    };
  }
  const path = viterbi(model.hmm, series.obs);
  const levels = path.map((s) => model.level[s] as number);
  const post = posteriors(model.hmm, series.obs);
  const tailN = Math.min(8, T);
  let conf = 0;
  for (let t = T - tailN; t < T; t++) conf += (post[t] as number[])[path[t] as number] as number;
  conf /= tailN;

  const low = levels.map((l) => (l === 0 ? 1 : 0));
  const lowShare = low.reduce((a: number, b) => a + b, 0) / T;
  let trailingLow = 0;
  for (let t = T - 1; t >= 0 && levels[t] === 0; t--) trailingLow++;
  // The low run just before the trailing engaged run (for re-engagement).
  let trailingUp = 0;
  for (let t = T - 1; t >= 0 && (levels[t] as number) > 0; t--) trailingUp++;
  let gap = 0;
  for (let t = T - 1 - trailingUp; t >= 0 && levels[t] === 0; t--) gap++;
  const engagedBeforeGap = levels.slice(0, Math.max(0, T - trailingUp - gap)).some((l) => l > 0);
  let switches = 0;
  for (let t = 1; t < T; t++) if ((levels[t] === 0) !== (levels[t - 1] === 0)) switches++;
  const third = Math.max(1, Math.floor(T / 3));
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const firstMean = avg(levels.slice(0, third));
  const lastMean = avg(levels.slice(T - third));
  const switchRate = switches / T;
  // Baum-Welch learns a middle state that mixes replies and silences week to week: intermittent contact.
  const midShare = levels.filter((l) => l === 1).length / T;
  const facts = `${T} weeks, ${messages} messages; low-engagement weeks ${pct(lowShare)}, intermittent weeks ${pct(midShare)}; level first third ${firstMean.toFixed(1)} vs last third ${lastMean.toFixed(1)} (0 low, 2 high); ${switches} switches between engaged and silent.`;

  const res = (style: EngagementStyle, why: string): StyleResult => ({
    style,
    confidence: Math.round(conf * 100) / 100,
    reasons: [
      why,
      facts,
      `Hidden Markov model over weekly engagement (${model.source}); path decoded with Viterbi.`,
    ],
    levels,
  });

  if (trailingLow >= th.disengagedWeeks || (lowShare >= th.disengagedShare && trailingLow > 0)) {
    return res('disengaged', `No real engagement for the last ${trailingLow} week(s).`);
  }
  if (trailingUp > 0 && trailingUp <= th.reengageRecent && gap >= th.reengageGap && engagedBeforeGap) {
    return res('re_engaging', `Back in contact for ${trailingUp} week(s) after ${gap} silent week(s).`);
  }
  if (firstMean - lastMean >= th.declineDrop && switchRate < th.sporadicSwitchRate * 1.5) {
    return res(
      'declining',
      `Engagement fell from ${firstMean.toFixed(1)} to ${lastMean.toFixed(1)} on a 0-2 scale.`,
    );
  }
  if (
    switchRate >= th.sporadicSwitchRate ||
    lowShare >= th.sporadicLowShare ||
    midShare >= th.sporadicMidShare
  ) {
    return res(
      'sporadic',
      `Alternates between engaged and silent weeks (${switches} switches in ${T} weeks).`,
    );
  }
  return res('steady', `Engaged in ${pct(1 - lowShare)} of weeks with few interruptions.`);
}
