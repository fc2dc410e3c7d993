// One pass over a patient's raw events into the structure every metric reads: clinician messages
// with their open and reply, patient replies, appointment events. Events after `asOf`, with an
// unparseable time or for another patient are ignored (never a crash).
import type { EngagementEvent, CrisisGrade } from '../api/events.ts';
import type { INQUIRY_TYPES } from '../api/engagement.ts';
import { toMs } from './time.ts';

export interface TimelineMessage {
  messageId: string;
  sentAt: number;
  checkin: boolean;
  topics: readonly string[];
  openedAt: number | null;
  /** First reply to this message. */
  replyAt: number | null;
  latencyMs: number | null;
}

export interface TimelineReply {
  at: number;
  latencyMs: number | null;
  inquiry: (typeof INQUIRY_TYPES)[number] | null;
  tone: number | null;
  crisis: { sentence: string; grade: CrisisGrade } | null;
}

export interface TimelineAppointments {
  scheduled: number;
  attended: number;
  missed: number;
  rescheduled: number;
  cancelled: number;
  /** Times of missed appointments (for recency-weighted triage). */
  missedAt: number[];
}

export interface Timeline {
  asOf: number;
  firstAt: number | null;
  events: number;
  messages: TimelineMessage[];
  replies: TimelineReply[];
  appointments: TimelineAppointments;
}

/**
 * @param patientId when given, events of other patients are skipped (saves the caller a filtered copy).
 */
export function buildTimeline(
  events: readonly EngagementEvent[],
  asOf: number,
  patientId?: string,
): Timeline {
  // Parallel arrays instead of one object per event: this runs for every sidebar open and for every
  // patient of a caseload, so allocation (and GC) is most of its cost.
  const n = events.length;
  const times = new Float64Array(n);
  let kept = 0;
  const idx = new Uint32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    const e = events[i] as EngagementEvent;
    if (patientId !== undefined && e.patientId !== patientId) continue;
    const t = toMs(e.at);
    if (!Number.isFinite(t) || t > asOf) continue;
    if (kept > 0 && t < (times[idx[kept - 1] as number] as number)) sorted = false;
    times[i] = t;
    idx[kept++] = i;
  }
  let order = idx.subarray(0, kept);
  // Stores usually hand events over in time order; sort only when they do not.
  if (!sorted) order = Uint32Array.from(order).sort((x, y) => (times[x] as number) - (times[y] as number));

  const messages: TimelineMessage[] = [];
  const byId = new Map<string, TimelineMessage>();
  const replies: TimelineReply[] = [];
  const appointments: TimelineAppointments = {
    scheduled: 0,
    attended: 0,
    missed: 0,
    rescheduled: 0,
    cancelled: 0,
    missedAt: [],
  };
  let lastUnanswered: TimelineMessage | null = null;
  // Idempotent by event id: a repeated event has the same time, so only ids at the current instant are
  // remembered (no set of every id).
  let instant = NaN;
  const idsAtInstant: string[] = [];
  let count = 0;
  // An appointment has one outcome: a visit reported again under another event id (a FHIR export that
  // shows it arrived, then checked-in, then fulfilled; a scheduling system's retried webhook) is
  // counted once, or the no-show rate would look better the more often a visit is reported.
  const outcomes = new Set<string>();
  const firstOutcome = (e: EngagementEvent): boolean => {
    if (e.appointmentId === undefined) return true;
    const key = `${e.type}\u0000${e.appointmentId}`;
    if (outcomes.has(key)) return false;
    outcomes.add(key);
    return true;
  };

  for (let k = 0; k < order.length; k++) {
    const i = order[k] as number;
    const e = events[i] as EngagementEvent;
    const ms_ = times[i] as number;
    if (ms_ !== instant) {
      instant = ms_;
      idsAtInstant.length = 0;
    } else if (idsAtInstant.includes(e.id)) continue;
    idsAtInstant.push(e.id);
    count++;
    const ms = ms_;
    switch (e.type) {
      case 'sent':
      case 'checkin_sent': {
        const key = e.messageId ?? e.id;
        if (byId.has(key)) break;
        const m: TimelineMessage = {
          messageId: key,
          sentAt: ms,
          checkin: e.type === 'checkin_sent',
          topics: e.topics ?? [],
          openedAt: null,
          replyAt: null,
          latencyMs: null,
        };
        messages.push(m);
        byId.set(key, m);
        lastUnanswered = m;
        break;
      }
      case 'delivered':
        break;
      case 'opened': {
        const m = e.messageId ? byId.get(e.messageId) : undefined;
        if (m && m.openedAt === null) m.openedAt = ms;
        break;
      }
      case 'replied': {
        let m = e.inReplyTo ? byId.get(e.inReplyTo) : undefined;
        // A reply that names no message answers the latest message still waiting for one.
        if (!m && !e.inReplyTo && lastUnanswered && lastUnanswered.replyAt === null) m = lastUnanswered;
        let latency = e.latencyMs ?? null;
        if (m) {
          if (latency === null) latency = Math.max(0, ms - m.sentAt);
          if (m.replyAt === null) {
            m.replyAt = ms;
            m.latencyMs = latency;
            if (m.openedAt === null || m.openedAt > ms) m.openedAt = ms;
          }
        }
        replies.push({
          at: ms,
          latencyMs: latency,
          inquiry: e.inquiry ?? null,
          tone: e.tone ?? null,
          crisis: e.crisis ?? null,
        });
        break;
      }
      case 'appointment_scheduled':
        appointments.scheduled++;
        break;
      case 'appointment_attended':
        if (firstOutcome(e)) appointments.attended++;
        break;
      case 'appointment_missed':
        if (!firstOutcome(e)) break;
        appointments.missed++;
        appointments.missedAt.push(ms);
        break;
      case 'appointment_rescheduled':
        appointments.rescheduled++;
        break;
      case 'appointment_cancelled':
        appointments.cancelled++;
        break;
      default: {
        const never: never = e.type;
        void never;
      }
    }
  }
  return {
    asOf,
    firstAt: order.length > 0 ? (times[order[0] as number] as number) : null,
    events: count,
    messages,
    replies,
    appointments,
  };
}
