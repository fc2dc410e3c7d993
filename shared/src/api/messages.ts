import { z } from 'zod';

// POST /v1/messages: the contract the add-ins and the gateway rely on. Keep it stable.

export const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;
export const MAX_ATTACHMENTS = 20;
export const MAX_RECIPIENTS = 100;
export const MAX_BODY_CHARS = 1_000_000;

/**
 * The Idempotency-Key header of POST /v1/messages: 1 to 200 printable ASCII characters. A repeat
 * under the same key replays the first send; the same key for a different request is refused.
 */
export const IDEMPOTENCY_KEY_RULE = /^[\x21-\x7e]{1,200}$/;

/**
 * The answer to a reused Idempotency-Key: 409 with code `conflict` (the key was used for another
 * request: other recipients, content, timing or delivery mode).
 */
export function isIdempotencyConflict(status: number | undefined, code: string | undefined): boolean {
  return status === 409 && code === 'conflict';
}

/**
 * Follow-on keys: a client that sends a new version of a message after a 409 (the earlier one
 * revoked, or kept) may post it under `<key>.2`, `<key>.3`, ... up to `<key>.<MAX_FOLLOW_ON_KEYS + 1>`
 * (the Gmail card does: it cannot be given a new key once a send succeeds). The server treats them
 * as versions of one message: a request under `<key>` is answered by the latest version (replayed
 * when it is the same request; otherwise 409 naming the latest version still live, so "revoke it"
 * revokes the one the patient can open).
 */
export const MAX_FOLLOW_ON_KEYS = 8;

/** The follow-on keys of `key`, in order (see MAX_FOLLOW_ON_KEYS); none for a key too long for them. */
export function followOnKeys(key: string): string[] {
  const out: string[] = [];
  for (let n = 2; n <= MAX_FOLLOW_ON_KEYS + 1; n++) {
    const k = `${key}.${n}`;
    if (IDEMPOTENCY_KEY_RULE.test(k)) out.push(k);
  }
  return out;
}

const email = z.string().trim().toLowerCase().pipe(z.email().max(254));

export const AttachmentSchema = z
  .object({
    // A lone surrogate is not Unicode text: it cannot be encoded in a download's filename (RFC 8187)
    // or in MIME, so it is refused here rather than stored.
    filename: z
      .string()
      .min(1)
      .max(255)
      .refine(
        (s) => !/\p{Cs}/u.test(s),
        'An attachment filename must be well-formed Unicode (no lone surrogates).',
      ),
    contentType: z.string().min(1).max(255).default('application/octet-stream'),
    contentBase64: z.base64(),
  })
  .strict();
export type Attachment = z.infer<typeof AttachmentSchema>;

export const SendMessageRequestSchema = z
  .object({
    to: z.array(email).min(1).max(MAX_RECIPIENTS),
    cc: z.array(email).max(MAX_RECIPIENTS).default([]),
    subject: z.string().max(998).default(''),
    text: z.string().max(MAX_BODY_CHARS).optional(),
    html: z.string().max(MAX_BODY_CHARS).optional(),
    attachments: z.array(AttachmentSchema).max(MAX_ATTACHMENTS).default([]),
    topics: z.array(z.string().min(1).max(50)).max(20).default([]),
    /** ISO 8601 time, or "best" for the patient's preferred hour once engagement data exists. */
    sendAt: z.union([z.iso.datetime({ offset: true }), z.literal('best')]).optional(),
    /** When the secure link stops working; at most the practice's linkExpiryDays after sending. */
    expiresAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe(
        "When the secure link stops working (default: the practice's linkExpiryDays after sending). It may shorten that period, never lengthen it: a time later than linkExpiryDays after the send time is refused with 400 validation_failed.",
      ),
    /**
     * The message this one answers (a check-in reply), for engagement latency. Must be the id of a
     * message of the sender's practice; otherwise the send is refused (400 validation_failed).
     */
    inReplyTo: z
      .string()
      .max(100)
      .optional()
      .describe(
        'Id of a message of your practice that this one answers; any other value is refused with 400 validation_failed.',
      ),
    /** Marks a check-in (engagement event `checkin_sent`). */
    checkIn: z.boolean().default(false),
    /**
     * Who emails the secure-link notice. "server" (the default): the server emails every recipient
     * their own notice and `notice` is a PHI-free text without a link, for the sender's own records.
     * "client": the caller sends the draft itself (Outlook's automatic mode, Gmail's compose card),
     * so the draft must carry the link. Rule: when the send goes now to exactly one recipient and
     * that recipient gets a secure link, the server emails nothing, `notice` carries that
     * recipient's link and the recipient is marked `delivery: "client"`. Otherwise (several
     * recipients: one draft cannot carry a personal link for each, and a link is a credential that
     * must not reach the others; an OpenPGP recipient; a scheduled send) the server delivers as
     * with "server" and `notice` says how the content was sent. Clients must not assume the link.
     * Optional rather than defaulted so that a request without it gets exactly the old response.
     */
    delivery: z
      .enum(['server', 'client'])
      .optional()
      .describe(
        'Who emails the secure-link notice: "server" (default) or "client" (the caller sends the draft, so the returned notice carries the link when the send goes now to exactly one secure-link recipient; otherwise the server delivers and the notice has no link).',
      ),
  })
  .strict()
  .refine((m) => m.text !== undefined || m.html !== undefined, {
    message: 'One of text or html is required.',
    path: ['text'],
  });
export type SendMessageRequest = z.infer<typeof SendMessageRequestSchema>;
export type SendMessageRequestInput = z.input<typeof SendMessageRequestSchema>;

export const DeliveryMethodSchema = z.enum(['link', 'pgp']);
export const RecipientStatusSchema = z.enum([
  'scheduled',
  'queued',
  'sent',
  'opened',
  'replied',
  'failed',
  'revoked',
  'expired',
]);
export type RecipientStatus = z.infer<typeof RecipientStatusSchema>;

export const NoticeSchema = z.object({ text: z.string(), html: z.string() }).strict();

export const SendMessageResponseSchema = z
  .object({
    id: z.string(),
    decision: z.enum(['allow', 'warn', 'encrypt', 'block']),
    reasons: z.array(z.string()),
    recipients: z.array(
      z
        .object({
          email: z.string(),
          method: DeliveryMethodSchema,
          status: RecipientStatusSchema,
          /**
           * Present only when the request set `delivery`: "client" when the caller's draft is this
           * recipient's notice (the server emails it nothing), "server" when the server emails it.
           */
          delivery: z.enum(['server', 'client']).optional(),
        })
        .strict(),
    ),
    /**
     * PHI-free text an add-in puts in the draft in place of the content. It carries a secure link
     * only for a recipient marked `delivery: "client"`.
     */
    notice: NoticeSchema,
    sendAt: z.string().optional(),
  })
  .strict();
export type SendMessageResponse = z.infer<typeof SendMessageResponseSchema>;

export const MessageStatusResponseSchema = z
  .object({
    id: z.string(),
    createdAt: z.string(),
    sendAt: z.string().nullable(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    recipients: z.array(
      z
        .object({
          email: z.string(),
          method: DeliveryMethodSchema,
          status: RecipientStatusSchema,
          attempts: z.number().int(),
          /**
           * Why the last attempt did not deliver, as the admins' listing words it (GET /v1/deliveries
           * lastError): a stable code, then the SMTP reply code and the enhanced status when there
           * were ones. Never the remote server's text, which can quote an address or the message.
           */
          lastError: z
            .string()
            .nullable()
            .describe(
              'Why the last attempt did not deliver: a stable code (the lastError.code of GET /v1/deliveries), then "(last: <code>)" for attempts_exhausted, "SMTP <reply code>" and the enhanced status (RFC 3463) when known, e.g. "bounced SMTP 550 5.1.1". Never the remote server\'s text. null when there is none.',
            ),
          /**
           * Present when the delivery went by another method than chosen at send time, and why
           * (PHI-free), e.g. method "link" with "patient key unusable: expired".
           */
          methodReason: z.string().optional(),
          sentAt: z.string().nullable(),
          openedAt: z.string().nullable(),
          repliedAt: z.string().nullable(),
        })
        .strict(),
    ),
  })
  .strict();
export type MessageStatusResponse = z.infer<typeof MessageStatusResponseSchema>;

/**
 * POST /v1/messages/{id}/notice: the notice the 202 of that send carried, again (for "keep the
 * earlier version" after a lost answer: the draft must carry it, or the patient never gets a link).
 * The same secure link: the token is kept sealed for exactly this and for replays, so there is
 * still one link per recipient. PHI-free, like the 202's.
 */
export const MessageNoticeResponseSchema = z
  .object({
    id: z.string(),
    recipients: z.array(
      z
        .object({
          email: z.string(),
          method: DeliveryMethodSchema,
          status: RecipientStatusSchema,
          /** "client": the notice below is this recipient's, and only a draft sent to them delivers it. */
          delivery: z.enum(['server', 'client']),
        })
        .strict(),
    ),
    notice: NoticeSchema,
    sendAt: z.string().optional(),
  })
  .strict();
export type MessageNoticeResponse = z.infer<typeof MessageNoticeResponseSchema>;
