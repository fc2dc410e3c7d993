// Synthetic practice with known truth, for the benchmark and `attune demo`. Deterministic: the same
// options give the same patients and events. Each patient is drawn from one engagement style with
// log-normal reply latency, a von Mises preferred reply hour, weekly reply probability shaped by the
// style, drops with a known onset, appointments with style-dependent no-shows and a few crisis replies.
import type { EngagementEvent } from '../api/events.ts';
import type { EngagementStyle } from '../api/engagement.ts';
import { INQUIRY_TYPES } from '../api/engagement.ts';
import { createRng, type Rng } from './prng.ts';
import { DAY, HOUR, WEEK, localMs, toMs } from './time.ts';

export interface SimulateOptions {
  seed: number;
  patients: number;
  /** End of the simulated period (the analytics' asOf), ISO or epoch ms. */
  asOf: string | number;
  /** Length of the simulated period in weeks (default 104, two years). */
  weeks?: number;
  /** Relative weights of the styles (default: all six, `new` rarer). */
  styleWeights?: Partial<Record<EngagementStyle, number>>;
  /** Id prefix so several simulated cohorts never collide (default "sim"). */
  idPrefix?: string;
  timeZones?: readonly string[];
}

export interface SimDrop {
  /** Epoch ms the drop in responsiveness began. */
  onset: number;
  /** Epoch ms responsiveness came back (re-engaging), or null while it lasts. */
  end: number | null;
}

export interface SimPatient {
  id: string;
  email: string;
  name: string;
  timeZone: string;
  style: EngagementStyle;
  /** First event (enrolment) ms. */
  startMs: number;
  /** Abrupt drops with known onset (disengagement, the gap before re-engaging). */
  drops: SimDrop[];
  /** True when responsiveness changes gradually (declining): neither a clean drop nor steady. */
  gradual: boolean;
  preferredHour: number;
  medianLatencyHours: number;
  events: EngagementEvent[];
}

export interface SimulatedPractice {
  asOf: number;
  patients: SimPatient[];
}

const DEFAULT_WEIGHTS: Record<EngagementStyle, number> = {
  steady: 1,
  sporadic: 1,
  declining: 1,
  disengaged: 1,
  re_engaging: 1,
  new: 0.5,
};

const ZONES = [
  'America/New_York',
  'America/Chicago',
  'America/Denver',
  'America/Los_Angeles',
  'America/Phoenix',
  'Europe/London',
];
const TOPICS = [
  'homework',
  'stress management',
  'scheduling',
  'medication',
  'sleep',
  'mindfulness',
  'check-in',
];
const FIRST = [
  'Alex',
  'Sam',
  'Jordan',
  'Taylor',
  'Morgan',
  'Casey',
  'Riley',
  'Jamie',
  'Avery',
  'Quinn',
  'Drew',
  'Rowan',
];
const LAST = [
  'Rivera',
  'Chen',
  'Okafor',
  'Novak',
  'Haddad',
  'Silva',
  'Kowalski',
  'Nguyen',
  'Larsen',
  'Patel',
  'Moreau',
  'Ito',
];
/** Habitual reply hours (local): early morning, lunch, evening, late evening. */
const HOUR_MODES = [7.5, 12.5, 18, 20.5, 22];

/** Per-week state of a patient: reply and open probabilities, latency multiplier. */
interface WeekState {
  reply: number;
  open: number;
  slow: number;
}

function styleCurve(style: EngagementStyle, rng: Rng, weeks: number, p: SimPatient): WeekState[] {
  const out: WeekState[] = [];
  const engaged = (reply: number): WeekState => ({ reply, open: Math.min(0.98, reply + 0.12), slow: 1 });
  const dropped = (): WeekState => ({ reply: rng.next() * 0.06, open: 0.2 + rng.next() * 0.25, slow: 2.5 });
  const wk = (i: number): number => p.startMs + i * WEEK;
  switch (style) {
    case 'steady':
    case 'new': {
      const r = 0.75 + rng.next() * 0.2;
      for (let i = 0; i < weeks; i++) out.push(engaged(r));
      break;
    }
    case 'sporadic': {
      // On/off runs of 1-5 weeks: intermittent, never a long silence.
      let on = rng.chance(0.5);
      let left = rng.int(1, 5);
      const rOn = 0.65 + rng.next() * 0.25;
      for (let i = 0; i < weeks; i++) {
        out.push(on ? { ...engaged(rOn), slow: 1.3 } : { reply: 0.04, open: 0.35, slow: 1.5 });
        if (--left === 0) {
          on = !on;
          left = rng.int(1, on ? 4 : 5);
        }
      }
      break;
    }
    case 'declining': {
      const r0 = 0.8 + rng.next() * 0.15;
      const r1 = 0.12 + rng.next() * 0.18;
      p.gradual = true;
      for (let i = 0; i < weeks; i++) {
        const f = i / Math.max(1, weeks - 1);
        const r = r0 - (r0 - r1) * f;
        out.push({ reply: r, open: Math.min(0.98, r + 0.2), slow: 1 + 2 * f });
      }
      break;
    }
    case 'disengaged': {
      if (rng.chance(0.3)) {
        const r = 0.03 + rng.next() * 0.09;
        for (let i = 0; i < weeks; i++) out.push({ reply: r, open: 0.3, slow: 2 });
      } else {
        const stop = Math.max(6, Math.min(weeks - 8, Math.round(weeks * (0.4 + rng.next() * 0.35))));
        const r = 0.75 + rng.next() * 0.2;
        for (let i = 0; i < weeks; i++) out.push(i < stop ? engaged(r) : dropped());
        p.drops.push({ onset: wk(stop) + rng.int(0, 6) * DAY, end: null });
      }
      break;
    }
    case 're_engaging': {
      const back = rng.int(3, 6);
      const gap = rng.int(6, 12);
      const gapStart = Math.max(4, weeks - back - gap);
      const r = 0.7 + rng.next() * 0.25;
      for (let i = 0; i < weeks; i++) out.push(i < gapStart || i >= gapStart + gap ? engaged(r) : dropped());
      p.drops.push({ onset: wk(gapStart) + rng.int(0, 6) * DAY, end: wk(gapStart + gap) });
      break;
    }
    default: {
      const never: never = style;
      throw new Error(`unknown style ${String(never)}`);
    }
  }
  // Drop onsets fall inside the week; align the curve so the onset week is the first dropped one.
  return out;
}

function pickStyle(rng: Rng, weights: Record<EngagementStyle, number>): EngagementStyle {
  const entries = Object.entries(weights) as [EngagementStyle, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let u = rng.next() * total;
  for (const [s, w] of entries) {
    if ((u -= w) < 0) return s;
  }
  return 'steady';
}

/** Next wall-clock occurrence of local hour `h` at or after `ms` in `tz`. */
function atLocalHour(tz: string, ms: number, h: number): number {
  const l = localMs(tz, ms);
  const dayStart = l - (((l % DAY) + DAY) % DAY);
  let cand = dayStart + h * HOUR - (l - ms);
  if (cand < ms) cand += DAY;
  return Math.round(cand);
}

/** A synthetic practice. Events per patient are sorted by time. */
export function simulatePractice(opts: SimulateOptions): SimulatedPractice {
  const rng = createRng(opts.seed);
  const asOf = toMs(opts.asOf);
  const weeks = opts.weeks ?? 104;
  const weights = { ...DEFAULT_WEIGHTS, ...opts.styleWeights };
  const prefix = opts.idPrefix ?? 'sim';
  const zones = opts.timeZones ?? ZONES;
  const periodStart = asOf - weeks * WEEK;
  const patients: SimPatient[] = [];

  for (let k = 0; k < opts.patients; k++) {
    const style = pickStyle(rng, weights);
    const id = `${prefix}-p${k + 1}`;
    // Non-new patients have at least 30 weeks of history; new ones joined 1-20 days ago.
    const startMs =
      style === 'new'
        ? asOf - rng.int(1, 20) * DAY
        : periodStart + Math.floor(rng.next() * Math.max(0, weeks - 30)) * WEEK + rng.int(0, 6) * DAY;
    const first = rng.pick(FIRST);
    const last = rng.pick(LAST);
    const p: SimPatient = {
      id,
      email: `${first}.${last}.${k + 1}@patients.example`.toLowerCase(),
      name: `${first} ${last}`,
      timeZone: rng.pick(zones),
      style,
      startMs,
      drops: [],
      gradual: false,
      preferredHour: (rng.pick(HOUR_MODES) + rng.normal(0, 0.7) + 24) % 24,
      medianLatencyHours: Math.exp(Math.log(2) + rng.next() * Math.log(15)),
      events: [],
    };
    const nWeeks = Math.max(1, Math.ceil((asOf - startMs) / WEEK));
    const curve = styleCurve(style, rng, nWeeks, p);
    const kappa = 1.5 + rng.next() * 4;
    const sigma = 0.5 + rng.next() * 0.6;
    const sendRate = 1.8 + rng.next() * 1.7;
    const crisisKind = rng.next();
    let crisisLeft = crisisKind < 0.04 ? 1 : 0;
    let gradedLeft = crisisKind > 0.96 ? 1 : 0;
    const ev: EngagementEvent[] = [];
    let e = 0;
    const push = (x: Omit<EngagementEvent, 'id' | 'patientId'>): void => {
      ev.push({ id: `${id}-e${++e}`, patientId: id, ...x });
    };
    let msg = 0;
    for (let w = 0; w < nWeeks; w++) {
      const st = curve[w] ?? curve[curve.length - 1]!;
      const wStart = startMs + w * WEEK;
      const onsetDrop = p.drops.find((d) => d.onset >= wStart && d.onset < wStart + WEEK);
      const nSend = Math.max(style === 'new' && w === 0 ? 1 : 0, rng.poisson(sendRate));
      for (let j = 0; j < nSend; j++) {
        // Clinicians write on weekdays, 8:00-18:00 in the patient's zone (approximately).
        const sentAt = atLocalHour(p.timeZone, wStart + rng.int(0, 4) * DAY, 8 + rng.next() * 10);
        if (sentAt >= asOf) continue;
        // Within the onset week, messages before the onset behave as the previous week did.
        const s = onsetDrop && sentAt < onsetDrop.onset ? (curve[w - 1] ?? st) : st;
        const messageId = `${id}-m${++msg}`;
        const checkin = rng.chance(0.1);
        const topics = checkin ? undefined : [rng.pick(TOPICS)];
        push({
          type: checkin ? 'checkin_sent' : 'sent',
          at: sentAt,
          messageId,
          ...(topics ? { topics } : {}),
        });
        push({ type: 'delivered', at: sentAt + rng.int(5, 120) * 1000, messageId });
        const replies = rng.chance(s.reply);
        const opens = replies || rng.chance(s.open);
        let openAt = sentAt + rng.logNormal(Math.log(p.medianLatencyHours * HOUR * 0.3), 1);
        let replyAt = Infinity;
        if (replies) {
          const base = sentAt + rng.logNormal(Math.log(p.medianLatencyHours * HOUR * s.slow * 0.5), sigma);
          // Most people answer at their habitual hour: move the reply to the next such hour.
          const h = (((p.preferredHour + (rng.vonMises(0, kappa) * 24) / (2 * Math.PI)) % 24) + 24) % 24;
          replyAt = rng.chance(0.8) ? atLocalHour(p.timeZone, base, h) : Math.round(base);
          openAt = Math.min(openAt, replyAt - rng.int(1, 60) * 60_000);
        }
        if (opens && openAt < asOf)
          push({ type: 'opened', at: Math.round(Math.max(sentAt + 60_000, openAt)), messageId });
        if (replyAt < asOf) {
          const isCrisis = crisisLeft > 0 && w > nWeeks / 2;
          const isGraded = !isCrisis && gradedLeft > 0 && w > nWeeks / 3;
          if (isCrisis) crisisLeft--;
          if (isGraded) gradedLeft--;
          const negWeight = style === 'declining' || style === 'disengaged' ? w / nWeeks : 0;
          push({
            type: 'replied',
            at: replyAt,
            inReplyTo: messageId,
            latencyMs: replyAt - sentAt,
            inquiry: isCrisis ? 'crisis' : rng.pick(INQUIRY_TYPES.filter((t) => t !== 'crisis')),
            tone: Math.max(
              0,
              Math.round((rng.normal(2 + 4 * negWeight, 1.5) + (isCrisis ? 6 : 0)) * 10) / 10,
            ),
            ...(isCrisis
              ? {
                  crisis: {
                    sentence: 'Some days I feel like I want to die.',
                    grade: 'first_person' as const,
                  },
                }
              : isGraded
                ? {
                    crisis: {
                      sentence: 'My friend said she wanted to kill herself.',
                      grade: 'third_person' as const,
                    },
                  }
                : {}),
          });
        }
      }
      // Appointments every other week; no-shows follow engagement.
      if (w % 2 === 0) {
        const apptAt = atLocalHour(p.timeZone, wStart + rng.int(0, 4) * DAY, 9 + rng.int(0, 8));
        if (apptAt < asOf) {
          const appointmentId = `${id}-a${w}`;
          push({ type: 'appointment_scheduled', at: apptAt - 7 * DAY, appointmentId });
          const u = rng.next();
          const missP = 0.03 + (1 - st.reply) * 0.35;
          if (u < 0.06) push({ type: 'appointment_cancelled', at: apptAt - DAY, appointmentId });
          else if (u < 0.14) push({ type: 'appointment_rescheduled', at: apptAt - 2 * DAY, appointmentId });
          else if (u < 0.14 + missP) push({ type: 'appointment_missed', at: apptAt + HOUR, appointmentId });
          else push({ type: 'appointment_attended', at: apptAt + HOUR, appointmentId });
        }
      }
    }
    ev.sort((a, b) => (a.at as number) - (b.at as number));
    p.events = ev.filter((x) => (x.at as number) <= asOf);
    patients.push(p);
  }
  return { asOf, patients };
}
