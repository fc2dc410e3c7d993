// Caseload triage: crisis first, then a transparent weighted score. Every rank lists the terms that
// produced it, so a clinician can see why a patient is where they are. Weights are per practice.
import { z } from 'zod';
import type { Caseload, CaseloadItem } from '../api/engagement.ts';
import type { EngagementEvent } from '../api/events.ts';
import { detectDrops, type DropOptions } from './drop.ts';
import {
  DISCLAIMER,
  STYLE_LABELS,
  UNANSWERED_AFTER_MS,
  currentDrop,
  latencyTrend,
  type PatientInfo,
} from './engagement.ts';
import { DEFAULT_STYLE_MODEL } from './model.ts';
import { round } from './stats.ts';
import { classifyStyle, weeklySeries, type StyleModel } from './style.ts';
import { buildTimeline } from './timeline.ts';
import { shortestHalfMidpoint } from './predict.ts';
import { DAY, isValidTimeZone, isoDateOf, isoOf, localHour, toMs } from './time.ts';

export const TriageWeightsSchema = z
  .object({
    /** A current drop in responsiveness. */
    drop: z.number().min(0).max(100).default(4),
    /** Per missed appointment in the last 90 days (at most 3 counted). */
    missedAppointment: z.number().min(0).max(100).default(1.5),
    /** Per clinician message unanswered after 3 days, in the last 30 days (at most 5 counted). */
    unanswered: z.number().min(0).max(100).default(0.5),
    /** Replies markedly slower than the patient's own baseline. */
    latencySlower: z.number().min(0).max(100).default(1.5),
    /** Style disengaged or declining. */
    disengagedStyle: z.number().min(0).max(100).default(1),
    /** Crisis-related language graded negated / third person / historical in the last 30 days. */
    gradedCrisis: z.number().min(0).max(100).default(2),
  })
  .strict();
export type TriageWeights = z.infer<typeof TriageWeightsSchema>;
export const DEFAULT_TRIAGE_WEIGHTS: TriageWeights = TriageWeightsSchema.parse({});

export interface CaseloadPatient {
  patient: PatientInfo;
  events: readonly EngagementEvent[];
}

export interface RankOptions {
  weights?: Partial<TriageWeights>;
  page?: number;
  pageSize?: number;
  styleModel?: StyleModel;
  drop?: Partial<DropOptions>;
  crisisDays?: number;
}

interface Scored extends Omit<CaseloadItem, 'rank'> {
  crisisAt: number;
}

export function scorePatient(
  p: CaseloadPatient,
  asOf: number,
  w: TriageWeights,
  o: RankOptions = {},
): Scored {
  const t = buildTimeline(p.events, asOf);
  const reasons: string[] = [];
  const crisisCut = asOf - (o.crisisDays ?? 30) * DAY;
  let crisisAt = -Infinity;
  let graded = 0;
  for (const r of t.replies) {
    if (!r.crisis || r.at < crisisCut) continue;
    if (r.crisis.grade === 'first_person') crisisAt = Math.max(crisisAt, r.at);
    else graded++;
  }
  const crisis = crisisAt > -Infinity;
  if (crisis) reasons.push(`Crisis language (first person) in a reply on ${isoDateOf(crisisAt)}.`);
  let score = 0;
  const add = (x: number, why: string): void => {
    if (x <= 0) return;
    score += x;
    reasons.push(`${why} (+${round(x, 2)})`);
  };
  add(graded > 0 ? w.gradedCrisis : 0, `Crisis-related language graded not first person (${graded})`);
  const drop = currentDrop(detectDrops(t, o.drop));
  add(drop ? w.drop : 0, drop ? `Responsiveness dropped from ${isoDateOf(drop.onset)}` : '');
  const missed = Math.min(3, t.appointments.missedAt.filter((x) => x >= asOf - 90 * DAY).length);
  add(missed * w.missedAppointment, `${missed} missed appointment(s) in 90 days`);
  const unanswered = Math.min(
    5,
    t.messages.filter(
      (m) => m.replyAt === null && asOf - m.sentAt >= UNANSWERED_AFTER_MS && m.sentAt >= asOf - 30 * DAY,
    ).length,
  );
  add(unanswered * w.unanswered, `${unanswered} message(s) unanswered after 3 days (30 days)`);
  const lt = latencyTrend(t);
  add(
    lt.trend === 'slower' ? w.latencySlower : 0,
    `Replies slower than own baseline (median ${round(lt.recent ?? 0, 1)} h vs ${round(lt.baseline ?? 0, 1)} h)`,
  );
  const style = classifyStyle(weeklySeries(t), o.styleModel ?? DEFAULT_STYLE_MODEL);
  add(
    style.style === 'disengaged' || style.style === 'declining' ? w.disengagedStyle : 0,
    `Style: ${STYLE_LABELS[style.style]}`,
  );
  if (reasons.length === 0) reasons.push('No risk signals in the data.');
  const lastReply = t.replies[t.replies.length - 1];
  return {
    patientId: p.patient.id,
    email: p.patient.email,
    name: p.patient.name,
    score: round(score, 2),
    crisis,
    style: style.style,
    reasons,
    lastReplyAt: lastReply ? isoOf(lastReply.at) : null,
    crisisAt,
  };
}

/** Rank a caseload: first-person crisis first (most recent first), then by score, then by id. */
export function rankCaseload(
  patients: readonly CaseloadPatient[],
  asOfInput: string | number,
  o: RankOptions = {},
): Caseload {
  const asOf = toMs(asOfInput);
  const w = TriageWeightsSchema.parse(o.weights ?? {});
  const scored = patients.map((p) => scorePatient(p, asOf, w, o));
  scored.sort((a, b) => {
    if (a.crisis !== b.crisis) return a.crisis ? -1 : 1;
    if (a.crisis && a.crisisAt !== b.crisisAt) return b.crisisAt - a.crisisAt;
    return b.score - a.score || a.patientId.localeCompare(b.patientId);
  });
  const pageSize = Math.max(1, Math.min(500, Math.floor(o.pageSize ?? 50)));
  const page = Math.max(1, Math.floor(o.page ?? 1));
  const items: CaseloadItem[] = scored
    .slice((page - 1) * pageSize, page * pageSize)
    .map(({ crisisAt: _c, ...s }, i) => ({
      ...s,
      rank: (page - 1) * pageSize + i + 1,
    }));
  return { items, page, pageSize, total: scored.length, disclaimer: DISCLAIMER };
}

/** Group a flat event list by patient id (one pass), for feeding rankCaseload from a store query. */
export function groupByPatient(events: readonly EngagementEvent[]): Map<string, EngagementEvent[]> {
  const m = new Map<string, EngagementEvent[]>();
  for (const e of events) {
    let arr = m.get(e.patientId);
    if (!arr) m.set(e.patientId, (arr = []));
    arr.push(e);
  }
  return m;
}

export interface PracticePriors {
  /** Replies per local hour of day across the practice (the prior for patients with few replies). */
  hourPrior: number[];
  /** The practice's typical reply latency (hours): shortest-half midpoint over all replies. */
  latencyHours: number | null;
  n: number;
}

/** Practice-wide priors for computeEngagement's `hourPrior` and `populationLatencyHours`. */
export function practicePriors(
  patients: readonly CaseloadPatient[],
  asOfInput: string | number,
): PracticePriors {
  const asOf = toMs(asOfInput);
  const hourPrior = new Array<number>(24).fill(0);
  const lat: number[] = [];
  for (const p of patients) {
    const tz = p.patient.timeZone && isValidTimeZone(p.patient.timeZone) ? p.patient.timeZone : 'UTC';
    const t = buildTimeline(p.events, asOf, p.patient.id);
    for (const r of t.replies) {
      const h = Math.floor(localHour(tz, r.at)) % 24;
      hourPrior[h] = (hourPrior[h] as number) + 1;
      if (r.latencyMs !== null) lat.push(r.latencyMs / 3_600_000);
    }
  }
  const m = shortestHalfMidpoint(lat);
  return { hourPrior, latencyHours: m === null ? null : round(m, 2), n: lat.length };
}
