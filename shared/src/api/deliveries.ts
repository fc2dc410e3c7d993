import { z } from 'zod';
import { DeliveryMethodSchema } from './messages.ts';

// GET /v1/deliveries and POST /v1/deliveries/{id}/retry (practice admins), and `attune deliveries`:
// what happened to each delivery of a secure message, by reference (delivery, message and patient
// ids), never by address, subject or the remote servers' free text.

/**
 * A delivery's state as an admin sees it, derived from what the store records (deliveries.status,
 * the message's revocation and expiry, the delivery's outbox row and its last error):
 * - scheduled: not attempted yet, its send time is still to come (a scheduled or "best hour" send);
 * - queued: not attempted yet and due now: the delivery worker takes it within seconds;
 * - retrying: at least one attempt failed for now (relay busy or unreachable, 4xx); the next attempt
 *   is at nextAttemptAt, until the attempts run out;
 * - sent: our relay took it; opened / replied: the patient opened the secure link / answered;
 * - failed: refused for good before it left us (our relay's 5xx, attempts used up, a patient key the
 *   policy will not replace with a link);
 * - bounced: our relay took it and the patient's mail server returned it for good (a 5.x.x report);
 * - revoked / expired: the message was revoked / its link expired before the patient had it.
 * failed and bounced deliveries can be queued again (retry).
 */
export const DeliveryStatusSchema = z.enum([
  'scheduled',
  'queued',
  'retrying',
  'sent',
  'opened',
  'replied',
  'failed',
  'bounced',
  'revoked',
  'expired',
]);
export type DeliveryStatus = z.infer<typeof DeliveryStatusSchema>;

/**
 * Why the last attempt did not deliver, as a stable code: the stored error text can quote what a
 * remote server said, which may echo an address or words of the message, so it is never shown.
 */
export const DeliveryErrorCodeSchema = z.enum([
  /** Our relay refused the message for good (a 5xx to its recipient or content). */
  'relay_refused',
  /** Our relay refused it for now (4xx); retried. */
  'relay_deferred',
  /** Our relay could not be reached (connection refused, timeout, DNS). */
  'relay_unreachable',
  /** Our relay refused the session itself (authentication, relaying denied): fix SMTP_URL or the relay. */
  'relay_session_refused',
  /** Our relay does not offer STARTTLS, which is required (SMTP_REQUIRE_TLS). */
  'relay_tls_required',
  /** The patient's mail server returned it (a delivery status notification, 5.x.x). */
  'bounced',
  /** The patient's mail server reported a delay (4.x.x); not final. */
  'remote_delayed',
  /** The attempts ran out; `cause` says what the last one met. */
  'attempts_exhausted',
  /** The patient's OpenPGP key cannot be used and the policy does not allow a secure link instead. */
  'patient_key_unusable',
  /** The stored message failed its integrity check or did not decrypt: run attune verify. */
  'content_unreadable',
  /** The notice's sealed link token was missing or unreadable. */
  'link_token_missing',
  /** Writing to the development mail folder failed (no SMTP_URL). */
  'mail_folder_error',
  'internal_error',
  'other',
]);
export type DeliveryErrorCode = z.infer<typeof DeliveryErrorCodeSchema>;

export const DeliveryErrorSchema = z
  .object({
    code: DeliveryErrorCodeSchema,
    /** For attempts_exhausted: what the last attempt met. */
    cause: DeliveryErrorCodeSchema.optional(),
    /** The SMTP reply code (e.g. 550), when there was one. */
    smtpCode: z.number().int().optional(),
    /** The enhanced status code (RFC 3463, e.g. 5.1.1), when there was one. */
    enhancedStatus: z.string().optional(),
  })
  .strict();
export type DeliveryError = z.infer<typeof DeliveryErrorSchema>;

export const DeliveryReportSummarySchema = z
  .object({
    /**
     * failed (5.x.x, final), delayed (4.x.x), auto_reply (an out-of-office or other automatic reply:
     * the patient's mailbox took the message) or unknown (a bounce in free text, not RFC 3464).
     */
    action: z.enum(['failed', 'delayed', 'auto_reply', 'unknown']),
    /** RFC 3463 enhanced status code, or 'unknown'. */
    status: z.string(),
    receivedAt: z.string(),
    /**
     * About an earlier send of the delivery than its current one when it came (a late report on
     * the send before a retry): recorded, and it changed nothing (status, engagement, notices).
     */
    stale: z.boolean(),
  })
  .strict();

export const DeliverySummarySchema = z
  .object({
    id: z.string(),
    messageId: z.string(),
    /** The recipient as a patient of the practice; null for a cc recipient who is no patient. */
    patientId: z.string().nullable(),
    kind: z.enum(['to', 'cc']),
    method: DeliveryMethodSchema,
    /** Why it went by another method than chosen at send time ("patient key unusable: expired"). */
    methodReason: z.string().optional(),
    status: DeliveryStatusSchema,
    /** Attempts since the delivery was last queued (a retry starts a fresh budget). */
    attempts: z.number().int(),
    /** For scheduled, queued and retrying: when the worker may take it next. */
    nextAttemptAt: z.string().nullable(),
    lastError: DeliveryErrorSchema.nullable(),
    createdAt: z.string(),
    sentAt: z.string().nullable(),
    openedAt: z.string().nullable(),
    repliedAt: z.string().nullable(),
    /** Delivery status notifications from the patient's mail server, oldest first. */
    reports: z.array(DeliveryReportSummarySchema),
  })
  .strict();
export type DeliverySummary = z.infer<typeof DeliverySummarySchema>;

export const MAX_DELIVERY_PAGE = 500;

/** `status=failed,bounced`: one or more statuses, comma-separated. */
export const DeliveryStatusListSchema = z
  .string()
  .max(200)
  .transform((s) => s.split(',').map((x) => x.trim()))
  .pipe(z.array(DeliveryStatusSchema).min(1).max(DeliveryStatusSchema.options.length));

export const DeliveryListQuerySchema = z
  .object({
    status: DeliveryStatusListSchema.optional().describe(
      'One or more of scheduled, queued, retrying, sent, opened, replied, failed, bounced, revoked, expired, comma-separated',
    ),
    messageId: z.uuid().optional().describe("Only this message's deliveries"),
    since: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('Only deliveries created at or after this time (ISO 8601)'),
    limit: z.coerce.number().int().min(1).max(MAX_DELIVERY_PAGE).default(50),
    cursor: z
      .string()
      .max(200)
      .optional()
      .describe('nextCursor of the previous page: the deliveries after it, newest first'),
  })
  .strict();
export type DeliveryListQuery = z.infer<typeof DeliveryListQuerySchema>;

export const DeliveryListResponseSchema = z
  .object({
    /** Newest first. */
    items: z.array(DeliverySummarySchema),
    /** Pass as `cursor` for the next page; null on the last page. */
    nextCursor: z.string().nullable(),
  })
  .strict();
export type DeliveryListResponse = z.infer<typeof DeliveryListResponseSchema>;
