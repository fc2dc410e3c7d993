// Per-patient engagement: the EngagementSchema response, from a plain event list and `asOf`.
// Pure: no clock, no I/O. Every number says how it was computed (`basis`) and from how much data (`n`).
import type { Alert, Engagement, EngagementStyle } from '../api/engagement.ts';
import { INQUIRY_TYPES } from '../api/engagement.ts';
import type { EngagementEvent } from '../api/events.ts';
import { detectDrops, type DropAlarm, type DropOptions } from './drop.ts';
import { bestWindow, type HourWindowParams } from './hours.ts';
import { DEFAULT_STYLE_MODEL } from './model.ts';
import { DEFAULT_LATENCY_SHRINKAGE, predictLatencyHours } from './predict.ts';
import { median, quantile, round } from './stats.ts';
import {
  classifyStyle,
  weeklySeries,
  type StyleModel,
  type StyleResult,
  type StyleThresholds,
} from './style.ts';
import { replyHoursSvg, responseTimeSvg } from './svg.ts';
import { buildTimeline, type Timeline } from './timeline.ts';
import {
  DAY,
  HOUR,
  WEEK,
  isValidTimeZone,
  isoDateOf,
  isoOf,
  localHour,
  toMs,
  weekIndex,
  weekStartDate,
} from './time.ts';

export const DISCLAIMER =
  'Decision support, not diagnosis: these figures describe email and appointment patterns, not a clinical state. ' +
  'Each shows how it was computed and from how much data; use your clinical judgement.';

export const STYLE_LABELS: Record<EngagementStyle, string> = {
  steady: 'Steady engager',
  sporadic: 'Sporadic engager',
  declining: 'Declining engagement',
  disengaged: 'Disengaged',
  re_engaging: 'Re-engaging',
  new: 'New / too little data',
};

export interface PatientInfo {
  id: string;
  email: string;
  name: string | null;
  timeZone: string | null;
}

export interface EngagementOptions {
  styleModel?: StyleModel;
  styleThresholds?: StyleThresholds;
  drop?: Partial<DropOptions>;
  /** Prior reply-hour histogram (e.g. the practice's), used while the patient has few replies. */
  hourPrior?: readonly number[];
  /** Smoothing of the best-hour model (e.g. fitted per practice with fitHourWindow); the hours.ts defaults otherwise. */
  hourWindow?: Partial<HourWindowParams>;
  /** The practice's typical reply latency (hours), the prior of the latency prediction. */
  populationLatencyHours?: number;
  /** Replies within this many days are "recent" for the latency trend (default 28). */
  recentDays?: number;
  /** Crisis replies within this many days raise an alert (default 30). */
  crisisDays?: number;
  /** Filled in by the server when it can sign a PNG URL. */
  pngUrl?: string | null;
}

/** A clinician message still unanswered after this long counts as unanswered. */
export const UNANSWERED_AFTER_MS = 3 * DAY;

export interface LatencyTrend {
  trend: 'faster' | 'slower' | 'stable' | 'insufficient_data';
  recent: number | null;
  baseline: number | null;
  nRecent: number;
  nBaseline: number;
}

/** Recent replies' median latency against the patient's own earlier median (ratio 1.5 either way). */
export function latencyTrend(t: Timeline, recentDays = 28): LatencyTrend {
  const cut = t.asOf - recentDays * DAY;
  const recent: number[] = [];
  const base: number[] = [];
  for (const m of t.messages) {
    if (m.latencyMs === null || m.replyAt === null) continue;
    (m.replyAt >= cut ? recent : base).push(m.latencyMs / HOUR);
  }
  const r = median(recent);
  const b = median(base);
  let trend: LatencyTrend['trend'] = 'insufficient_data';
  if (recent.length >= 3 && base.length >= 5 && r !== null && b !== null) {
    const ratio = (r + 0.25) / (b + 0.25);
    trend = ratio >= 1.5 ? 'slower' : ratio <= 1 / 1.5 ? 'faster' : 'stable';
  }
  return { trend, recent: r, baseline: b, nRecent: recent.length, nBaseline: base.length };
}

export function currentDrop(alarms: readonly DropAlarm[]): DropAlarm | null {
  const last = alarms[alarms.length - 1];
  if (!last) return null;
  if (!last.recovered) return last;
  return null;
}

export function crisisAlerts(t: Timeline, days: number): Alert[] {
  const out: Alert[] = [];
  const cut = t.asOf - days * DAY;
  for (let i = t.replies.length - 1; i >= 0; i--) {
    const r = t.replies[i];
    if (!r || r.at < cut || !r.crisis) continue;
    const urgent = r.crisis.grade === 'first_person';
    out.push({
      kind: 'crisis',
      severity: urgent ? 'urgent' : 'warning',
      since: isoOf(r.at),
      message: urgent
        ? 'Crisis language in a reply (first person). Review now and follow your safety protocol.'
        : `Crisis-related language in a reply, graded ${r.crisis.grade.replace('_', ' ')}. Review the sentence.`,
      sentence: r.crisis.sentence,
      grade: r.crisis.grade,
      reasons: [`Detector CRISIS finding on the reply of ${isoDateOf(r.at)}, graded ${r.crisis.grade}.`],
    });
  }
  // Urgent first, then most recent first.
  return out.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'urgent' ? -1 : 1));
}

export function computeEngagement(
  patient: PatientInfo,
  events: readonly EngagementEvent[],
  asOfInput: string | number,
  opts: EngagementOptions = {},
): Engagement {
  const asOf = toMs(asOfInput);
  const tz = patient.timeZone && isValidTimeZone(patient.timeZone) ? patient.timeZone : 'UTC';
  const tzNote =
    patient.timeZone && tz === 'UTC'
      ? ` (unknown zone "${patient.timeZone}": UTC used)`
      : patient.timeZone
        ? ''
        : ' (no zone on file: UTC used)';
  const t = buildTimeline(events, asOf, patient.id);
  const due = t.messages.filter((m) => m.replyAt !== null || asOf - m.sentAt >= UNANSWERED_AFTER_MS);
  const answered = due.filter((m) => m.replyAt !== null).length;

  // Response time.
  const lat = t.messages.filter((m) => m.latencyMs !== null).map((m) => (m.latencyMs as number) / HOUR);
  const lt = latencyTrend(t, opts.recentDays ?? 28);
  const weekly = new Map<number, number[]>();
  for (const m of t.messages) {
    if (m.latencyMs === null || m.replyAt === null || m.replyAt < asOf - 26 * WEEK) continue;
    const w = weekIndex(tz, m.replyAt);
    let arr = weekly.get(w);
    if (!arr) weekly.set(w, (arr = []));
    arr.push(m.latencyMs / HOUR);
  }
  const series = [...weekly.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([w, xs]) => ({ week: weekStartDate(w), medianHours: round(median(xs) ?? 0, 2) }));

  // Reply hours in the patient's zone.
  const hours = t.replies.map((r) => localHour(tz, r.at));
  const histogram = new Array<number>(24).fill(0);
  for (const h of hours) histogram[Math.floor(h) % 24] = (histogram[Math.floor(h) % 24] as number) + 1;
  // The same function and defaults the Enron benchmark evaluates (DEFAULT_HOUR_WINDOW with a prior,
  // DEFAULT_HOUR_WINDOW_NO_PRIOR without), unless a practice passes its own fitted smoothing.
  const win = bestWindow(hours, { ...opts.hourWindow, prior: opts.hourPrior });

  // Weekly frequency over the last 12 weeks (or since the first event).
  const span = t.firstAt === null ? 0 : Math.min(12 * WEEK, asOf - t.firstAt);
  const recentReplies = t.replies.filter((r) => r.at >= asOf - span).length;
  const weeksSpan = span / WEEK;

  // Topics.
  const topicMap = new Map<string, { sent: number; opened: number; replied: number }>();
  for (const m of t.messages) {
    for (const topic of m.topics) {
      let s = topicMap.get(topic);
      if (!s) topicMap.set(topic, (s = { sent: 0, opened: 0, replied: 0 }));
      s.sent++;
      if (m.openedAt !== null) s.opened++;
      if (m.replyAt !== null) s.replied++;
    }
  }
  const topics = [...topicMap.entries()]
    .map(([topic, s]) => ({ topic, ...s, replyRate: s.sent > 0 ? round(s.replied / s.sent, 3) : null }))
    .sort((a, b) => b.sent - a.sent || a.topic.localeCompare(b.topic));

  // Inquiries.
  const inq = new Map<string, number>();
  for (const r of t.replies) if (r.inquiry) inq.set(r.inquiry, (inq.get(r.inquiry) ?? 0) + 1);
  const inquiries = INQUIRY_TYPES.filter((k) => inq.has(k)).map((type) => ({
    type,
    count: inq.get(type) as number,
  }));

  // Tone: weekly mean of the lexicon score; trend = last 8 weeks against earlier.
  const tonePts = t.replies
    .filter((r) => r.tone !== null)
    .map((r) => ({ at: r.at, score: r.tone as number }));
  const recentTone = tonePts.filter((p) => p.at >= asOf - 8 * WEEK).map((p) => p.score);
  const baseTone = tonePts.filter((p) => p.at < asOf - 8 * WEEK).map((p) => p.score);
  let toneTrend: Engagement['tone']['trend'] = 'insufficient_data';
  const rt = median(recentTone);
  const bt = median(baseTone);
  if (recentTone.length >= 3 && baseTone.length >= 5 && rt !== null && bt !== null) {
    toneTrend = rt - bt >= 1.5 ? 'more_negative' : bt - rt >= 1.5 ? 'less_negative' : 'stable';
  }

  // Appointments.
  const a = t.appointments;
  const held = a.attended + a.missed;
  const noShowRate = held > 0 ? round(a.missed / held, 3) : null;
  const booked = a.attended + a.missed + a.rescheduled + a.cancelled;
  const rescheduleRate = booked > 0 ? round(a.rescheduled / booked, 3) : null;

  // Style and drops.
  const style: StyleResult = classifyStyle(
    weeklySeries(t),
    opts.styleModel ?? DEFAULT_STYLE_MODEL,
    opts.styleThresholds,
  );
  const drops = detectDrops(t, opts.drop);
  const drop = currentDrop(drops);

  // Alerts: crisis first.
  const alerts: Alert[] = crisisAlerts(t, opts.crisisDays ?? 30);
  if (drop) {
    alerts.push({
      kind: 'drop',
      severity: 'warning',
      since: isoDateOf(drop.onset),
      message: `Responsiveness dropped from about ${isoDateOf(drop.onset)} (detected ${isoDateOf(drop.alarmAt)}).`,
      reasons: [
        `Since then: ${drop.evidence.replied} replied, ${drop.evidence.openedOnly} opened without reply, ${drop.evidence.unopened} not opened; own earlier reply rate ${Math.round(drop.evidence.baselineReplyRate * 100)}%.`,
        `CUSUM of log-likelihood ratios against the patient's own baseline (outcome given the previous outcome) reached ${round(drop.evidence.cusum, 1)}, above the alarm threshold.`,
      ],
    });
  }
  const missed90 = a.missedAt.filter((x) => x >= asOf - 90 * DAY).length;
  if (missed90 >= 2) {
    alerts.push({
      kind: 'missed_appointments',
      severity: 'warning',
      since: isoDateOf(a.missedAt.find((x) => x >= asOf - 90 * DAY) as number),
      message: `${missed90} missed appointments in the last 90 days.`,
      reasons: [
        `No-show rate overall ${noShowRate === null ? 'n/a' : `${Math.round(noShowRate * 100)}%`} of ${held} held or missed.`,
      ],
    });
  }
  const unanswered = t.messages.filter(
    (m) => m.replyAt === null && asOf - m.sentAt >= UNANSWERED_AFTER_MS && m.sentAt >= asOf - 30 * DAY,
  ).length;
  if (unanswered >= 3 && !drop) {
    alerts.push({
      kind: 'unanswered',
      severity: 'info',
      since: null,
      message: `${unanswered} messages from the last 30 days unanswered after 3 days.`,
      reasons: ['Counts clinician messages with no reply after 72 hours.'],
    });
  }
  if (toneTrend === 'more_negative') {
    alerts.push({
      kind: 'tone',
      severity: 'info',
      since: null,
      message: 'Replies use more negative-affect words than before (a trend, not a diagnosis).',
      reasons: [
        `Median ${round(rt ?? 0, 1)} vs earlier ${round(bt ?? 0, 1)} negative-affect words per 100 words.`,
      ],
    });
  }

  // Recommendations.
  const approach = recommendApproach(
    style.style,
    answered / Math.max(1, due.length),
    lt,
    a.missed,
    due.length,
  );
  const checkIn =
    drop || style.style === 'disengaged' ? checkInTemplate(patient.name, drop, style.style) : null;

  return {
    patient: { id: patient.id, email: patient.email, name: patient.name, timeZone: patient.timeZone },
    asOf: isoOf(asOf),
    data: {
      firstEventAt: t.firstAt === null ? null : isoOf(t.firstAt),
      events: t.events,
      messagesSent: t.messages.length,
      replies: t.replies.length,
    },
    style: {
      style: style.style,
      label: STYLE_LABELS[style.style],
      confidence: style.confidence,
      reasons: style.reasons,
    },
    replyRate: {
      value: due.length > 0 ? round(answered / due.length, 3) : null,
      n: due.length,
      basis:
        'Clinician messages with at least one reply, of those sent more than 3 days ago or already answered.',
    },
    responseTime: {
      medianHours: lat.length ? round(median(lat) as number, 2) : null,
      q1Hours: lat.length ? round(quantile(lat, 0.25) as number, 2) : null,
      q3Hours: lat.length ? round(quantile(lat, 0.75) as number, 2) : null,
      n: lat.length,
      trend: lt.trend,
      recentMedianHours: lt.recent === null ? null : round(lt.recent, 2),
      baselineMedianHours: lt.baseline === null ? null : round(lt.baseline, 2),
      predictedHours: lat.length ? round(predictLatencyHours(lat, opts.populationLatencyHours), 2) : null,
      basis: `Time from a message's send to its first reply. Expected reply time: midpoint of the shortest span holding half the replies, shrunk towards the practice's typical value with ${DEFAULT_LATENCY_SHRINKAGE} pseudo-replies. Trend: median of replies in the last ${opts.recentDays ?? 28} days (n=${lt.nRecent}) against the patient's earlier median (n=${lt.nBaseline}); a ratio of 1.5 either way counts.`,
      series,
    },
    replyHours: {
      histogram,
      peakHour: win.hour,
      concentration: win.resultantLength,
      meanHour: win.meanHour,
      confidence: win.confidence,
      timeZone: tz,
      n: hours.length,
      basis: `Hour of each reply in ${tz}${tzNote}; circular mean and mean resultant length over the 24-hour clock.`,
    },
    frequency: {
      value: weeksSpan >= 1 ? round(recentReplies / weeksSpan, 2) : null,
      n: recentReplies,
      basis: `Patient messages per week over the last ${round(weeksSpan, 1)} weeks (at most 12).`,
    },
    topics,
    inquiries,
    tone: {
      trend: toneTrend,
      points: tonePts.slice(-52).map((p) => ({ at: isoOf(p.at), score: p.score })),
      basis: `Negative-affect words per 100 words (a fixed lexicon) in each reply; last 8 weeks' median (n=${recentTone.length}) against earlier (n=${baseTone.length}), 1.5 points either way. A trend, never a diagnosis.`,
    },
    appointments: {
      scheduled: a.scheduled,
      attended: a.attended,
      missed: a.missed,
      rescheduled: a.rescheduled,
      cancelled: a.cancelled,
      noShowRate,
      rescheduleRate,
      basis:
        'No-show rate = missed / (attended + missed); reschedule rate = rescheduled / (attended + missed + rescheduled + cancelled).',
    },
    alerts,
    recommendations: {
      bestHour: {
        hour: win.hour,
        windowStart: win.start,
        windowEnd: win.start === null ? null : (win.start + win.width) % 24,
        timeZone: tz,
        confidence: win.confidence,
        reasons: win.reasons,
      },
      approach,
      checkIn,
    },
    charts: {
      responseTimeSvg: responseTimeSvg(series.map((s) => ({ label: s.week, value: s.medianHours }))),
      replyHoursSvg: replyHoursSvg(
        histogram,
        win.start === null ? null : { start: win.start, width: win.width },
        tz,
      ),
      pngUrl: opts.pngUrl ?? null,
    },
    disclaimer: DISCLAIMER,
  };
}

export function recommendApproach(
  style: EngagementStyle,
  replyRate: number,
  lt: LatencyTrend,
  missed: number,
  n: number,
): Engagement['recommendations']['approach'] {
  const reasons = [
    `Style: ${STYLE_LABELS[style]}.`,
    `Reply rate ${Math.round(replyRate * 100)}% of ${n} messages.`,
  ];
  switch (style) {
    case 'steady':
      return {
        kind: 'structured',
        text: 'Structured contact suits this patient: regular homework and between-session tasks (e.g. CBT worksheets) with a set rhythm.',
        reasons,
      };
    case 'sporadic':
      return {
        kind: 'flexible',
        text: 'Flexible contact: short, optional check-ins that are easy to answer when they can, without deadlines.',
        reasons,
      };
    case 'declining':
      if (lt.trend === 'slower') reasons.push("Replies are slower than the patient's own baseline.");
      return {
        kind: 'simplified',
        text: 'Simplify: shorter messages with one clear question; consider reducing task load.',
        reasons,
      };
    case 'disengaged':
      reasons.push(missed > 0 ? `${missed} missed appointment(s).` : 'Little response to email.');
      return {
        kind: 'other_channel',
        text: 'Email is not reaching this patient: consider a phone call or raising it at the next session.',
        reasons,
      };
    case 're_engaging':
      return {
        kind: 'flexible',
        text: 'Welcome the return with low-pressure contact; rebuild the rhythm gradually.',
        reasons,
      };
    case 'new':
      return { kind: 'standard', text: 'Too little history for a tailored approach yet.', reasons };
    default: {
      const never: never = style;
      return never;
    }
  }
}

export function checkInTemplate(
  name: string | null,
  drop: DropAlarm | null,
  style: EngagementStyle,
): { subject: string; template: string; reasons: string[] } {
  const first = name ? (name.trim().split(/\s+/)[0] ?? '') : '';
  const greeting = first ? `Hi ${first},` : 'Hi,';
  return {
    subject: 'Checking in',
    template: `${greeting}\n\nI wanted to check in and see how things are going. There's no pressure to reply at length; a line or two is plenty, or we can talk at your next appointment.\n\nIf anything feels urgent, please call the office or, in an emergency, 988 or 911.\n\nTake care,`,
    reasons: drop
      ? [
          `Responsiveness dropped from about ${isoDateOf(drop.onset)}; a short supportive check-in is suggested. Edit before sending.`,
        ]
      : [
          `Style is ${STYLE_LABELS[style].toLowerCase()}; a short supportive check-in is suggested. Edit before sending.`,
        ],
  };
}
