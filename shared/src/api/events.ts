import { z } from 'zod';
import { INQUIRY_TYPES } from './engagement.ts';

// Engagement events: the one input of the pure analytics in shared/src/engagement/. The server records
// sent/delivered/opened/replied/checkin_sent itself; practices push appointment events through
// `POST /v1/events` (a batch, idempotent by event id: a repeated id is a no-op, never a duplicate).
// Events carry references and derived values only: reply bodies stay in the encrypted archive; the
// classifier's results (inquiry type, tone score, crisis sentence + grade) are stored on the event.

export const MESSAGE_EVENT_TYPES = ['sent', 'delivered', 'opened', 'replied', 'checkin_sent'] as const;
export const APPOINTMENT_EVENT_TYPES = [
  'appointment_scheduled',
  'appointment_attended',
  'appointment_missed',
  'appointment_rescheduled',
  'appointment_cancelled',
] as const;
export const ENGAGEMENT_EVENT_TYPES = [...MESSAGE_EVENT_TYPES, ...APPOINTMENT_EVENT_TYPES] as const;
export type EngagementEventType = (typeof ENGAGEMENT_EVENT_TYPES)[number];

export const CRISIS_GRADES = ['first_person', 'negated', 'third_person', 'historical'] as const;
export type CrisisGrade = (typeof CRISIS_GRADES)[number];

/** ISO 8601 with an offset (or Z), or epoch milliseconds. */
export const EventTimeSchema = z.union([
  z.iso.datetime({ offset: true }),
  z.number().int().min(0).max(8_640_000_000_000_000),
]);

const id = z.string().min(1).max(200);

export const EngagementEventSchema = z
  .object({
    id,
    patientId: id,
    type: z.enum(ENGAGEMENT_EVENT_TYPES),
    at: EventTimeSchema,
    /** sent / checkin_sent / delivered / opened: the clinician message concerned. */
    messageId: id.optional(),
    /** replied: the clinician message answered (pairs the reply with its send). */
    inReplyTo: id.optional(),
    /** replied: time from the answered message's send to this reply (ms). */
    latencyMs: z
      .number()
      .finite()
      .min(0)
      .max(10 * 365 * 86_400_000)
      .optional(),
    /** sent: topics of the message, e.g. "homework", "stress management", "scheduling". */
    topics: z.array(z.string().trim().toLowerCase().min(1).max(64)).max(20).optional(),
    /** replied: the detector's CRISIS finding (the sentence is PHI: shown to the clinician only). */
    crisis: z
      .object({ sentence: z.string().max(2000), grade: z.enum(CRISIS_GRADES) })
      .strict()
      .optional(),
    /** replied: the inquiry type of the patient's message. */
    inquiry: z.enum(INQUIRY_TYPES).optional(),
    /** replied: negative-affect words per 100 words (lexicon count; a trend signal, not a diagnosis). */
    tone: z.number().finite().min(0).max(100).optional(),
    /** Appointment events: the appointment they concern (FHIR Appointment id or the practice's id). */
    appointmentId: id.optional(),
  })
  .strict();
export type EngagementEvent = z.infer<typeof EngagementEventSchema>;
/** What callers may pass (topics before trimming etc.). */
export type EngagementEventInput = z.input<typeof EngagementEventSchema>;

export const AppointmentEventSchema = EngagementEventSchema.extend({
  type: z.enum(APPOINTMENT_EVENT_TYPES),
}).strict();
export type AppointmentEvent = z.infer<typeof AppointmentEventSchema>;

/** Body of `POST /v1/events`. */
export const EventsBatchRequestSchema = z
  .object({ events: z.array(AppointmentEventSchema).min(1).max(1000) })
  .strict();
export type EventsBatchRequest = z.infer<typeof EventsBatchRequestSchema>;

/** Response of `POST /v1/events`: `duplicates` were already stored under the same id (idempotent). */
export const EventsBatchResponseSchema = z
  .object({ accepted: z.number().int(), duplicates: z.number().int() })
  .strict();
export type EventsBatchResponse = z.infer<typeof EventsBatchResponseSchema>;
