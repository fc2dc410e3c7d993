import { z } from 'zod';

// GET /v1/patients/:id/engagement, GET /v1/patients/by-email/:email/engagement, GET /v1/caseload.
// Both sidebars (Outlook read pane, Gmail card) render these. Decision support, not diagnosis:
// every number carries how it was computed (`basis`) and from how much data (`n`).

export const ENGAGEMENT_STYLES = [
  'steady',
  'sporadic',
  'declining',
  'disengaged',
  're_engaging',
  'new',
] as const;
export const EngagementStyleSchema = z.enum(ENGAGEMENT_STYLES);
export type EngagementStyle = z.infer<typeof EngagementStyleSchema>;

export const INQUIRY_TYPES = [
  'scheduling',
  'medication',
  'symptoms',
  'homework',
  'billing',
  'administrative',
  'crisis',
  'other',
] as const;

export const MetricSchema = z.object({
  value: z.number().nullable(),
  n: z.number().int(),
  basis: z.string(),
});
export type Metric = z.infer<typeof MetricSchema>;

export const AlertSchema = z.object({
  kind: z.enum(['crisis', 'drop', 'missed_appointments', 'unanswered', 'tone']),
  severity: z.enum(['urgent', 'warning', 'info']),
  /** ISO date the change began (drops) or the event time (crisis). */
  since: z.string().nullable(),
  message: z.string(),
  /** Crisis only: the sentence from the patient's reply, shown to the clinician. */
  sentence: z.string().optional(),
  grade: z.enum(['first_person', 'negated', 'third_person', 'historical']).optional(),
  reasons: z.array(z.string()),
});
export type Alert = z.infer<typeof AlertSchema>;

export const EngagementSchema = z.object({
  patient: z.object({
    id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    timeZone: z.string().nullable(),
  }),
  asOf: z.string(),
  data: z.object({
    firstEventAt: z.string().nullable(),
    events: z.number().int(),
    messagesSent: z.number().int(),
    replies: z.number().int(),
  }),
  style: z.object({
    style: EngagementStyleSchema,
    label: z.string(),
    confidence: z.number(),
    reasons: z.array(z.string()),
  }),
  replyRate: MetricSchema,
  responseTime: z.object({
    medianHours: z.number().nullable(),
    q1Hours: z.number().nullable(),
    q3Hours: z.number().nullable(),
    n: z.number().int(),
    trend: z.enum(['faster', 'slower', 'stable', 'insufficient_data']),
    recentMedianHours: z.number().nullable(),
    baselineMedianHours: z.number().nullable(),
    basis: z.string(),
    /** Expected time to the next reply (hours): shortest-half midpoint shrunk to the practice's. */
    predictedHours: z.number().nullable().optional(),
    /** Weekly median reply latency (hours) for the trend chart. */
    series: z.array(z.object({ week: z.string(), medianHours: z.number() })),
  }),
  replyHours: z.object({
    /** Replies per hour of day 0..23 in the patient's time zone. */
    histogram: z.array(z.number()).length(24),
    peakHour: z.number().int().nullable(),
    /** Mean resultant length (0 = spread out, 1 = always the same hour). */
    concentration: z.number().nullable(),
    /** Circular mean direction as an hour of day (0..24). */
    meanHour: z.number().nullable().optional(),
    /** 0..1: Rayleigh-test evidence of a preferred hour, discounted for little data. */
    confidence: z.number().optional(),
    timeZone: z.string(),
    n: z.number().int(),
    basis: z.string(),
  }),
  frequency: MetricSchema,
  topics: z.array(
    z.object({
      topic: z.string(),
      sent: z.number().int(),
      opened: z.number().int(),
      replied: z.number().int(),
      replyRate: z.number().nullable(),
    }),
  ),
  inquiries: z.array(z.object({ type: z.enum(INQUIRY_TYPES), count: z.number().int() })),
  tone: z.object({
    trend: z.enum(['more_negative', 'less_negative', 'stable', 'insufficient_data']),
    points: z.array(z.object({ at: z.string(), score: z.number() })),
    basis: z.string(),
  }),
  appointments: z.object({
    scheduled: z.number().int(),
    attended: z.number().int(),
    missed: z.number().int(),
    rescheduled: z.number().int(),
    cancelled: z.number().int(),
    noShowRate: z.number().nullable(),
    rescheduleRate: z.number().nullable(),
    basis: z.string(),
  }),
  alerts: z.array(AlertSchema),
  recommendations: z.object({
    bestHour: z.object({
      hour: z.number().int().nullable(),
      windowStart: z.number().int().nullable(),
      windowEnd: z.number().int().nullable(),
      timeZone: z.string(),
      confidence: z.number(),
      reasons: z.array(z.string()),
    }),
    approach: z.object({
      kind: z.enum(['structured', 'flexible', 'simplified', 'other_channel', 'standard']),
      text: z.string(),
      reasons: z.array(z.string()),
    }),
    checkIn: z.object({ subject: z.string(), template: z.string(), reasons: z.array(z.string()) }).nullable(),
  }),
  charts: z.object({
    responseTimeSvg: z.string(),
    replyHoursSvg: z.string(),
    /** Short-lived signed URL of a PNG rendering (for Gmail cards, which cannot show SVG). */
    pngUrl: z.string().nullable(),
  }),
  disclaimer: z.string(),
});
export type Engagement = z.infer<typeof EngagementSchema>;

export const CaseloadItemSchema = z.object({
  patientId: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  rank: z.number().int(),
  score: z.number(),
  crisis: z.boolean(),
  style: EngagementStyleSchema,
  reasons: z.array(z.string()),
  lastReplyAt: z.string().nullable(),
});
export type CaseloadItem = z.infer<typeof CaseloadItemSchema>;

export const CaseloadSchema = z.object({
  items: z.array(CaseloadItemSchema),
  page: z.number().int(),
  pageSize: z.number().int(),
  total: z.number().int(),
  disclaimer: z.string(),
});
export type Caseload = z.infer<typeof CaseloadSchema>;
