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

interface Timed {
  e: EngagementEvent;
  ms: number;
}

export function buildTimeline(events: readonly EngagementEvent[], asOf: number): Timeline {
  const timed: Timed[] = [];
  let sorted = true;
  for (const e of events) {
    const ms = toMs(e.at);
    if (!Number.isFinite(ms) || ms > asOf) continue;
    if (timed.length > 0 && ms < (timed[timed.length - 1] as Timed).ms) sorted = false;
    timed.push({ e, ms });
  }
  // Stores usually hand events over in time order; sort only when they do not.
  if (!sorted) timed.sort((a, b) => a.ms - b.ms);

  const messages: TimelineMessage[] = [];
  const byId = new Map<string, TimelineMessage>();
  const replies: TimelineReply[] = [];
  const appointments: TimelineAppointments = { scheduled: 0, attended: 0, missed: 0, rescheduled: 0, cancelled: 0, missedAt: [] };
  const seen = new Set<string>();
  let lastUnanswered: TimelineMessage | null = null;

  for (const { e, ms } of timed) {
    if (seen.has(e.id)) continue; // idempotent by event id
    seen.add(e.id);
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
        appointments.attended++;
        break;
      case 'appointment_missed':
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
    firstAt: timed.length > 0 ? (timed[0] as Timed).ms : null,
    events: seen.size,
    messages,
    replies,
    appointments,
  };
}
