import { z } from 'zod';

// POST /v1/messages: the contract the add-ins and the gateway rely on. Keep it stable.

export const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;
export const MAX_ATTACHMENTS = 20;
export const MAX_RECIPIENTS = 100;
export const MAX_BODY_CHARS = 1_000_000;

const email = z.string().trim().toLowerCase().pipe(z.email().max(254));

export const AttachmentSchema = z
  .object({
    filename: z.string().min(1).max(255),
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
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    /** The message this one answers (a check-in reply), for engagement latency. */
    inReplyTo: z.string().max(100).optional(),
    /** Marks a check-in (engagement event `checkin_sent`). */
    checkIn: z.boolean().default(false),
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
        .object({ email: z.string(), method: DeliveryMethodSchema, status: RecipientStatusSchema })
        .strict(),
    ),
    /** PHI-free text an add-in puts in the draft in place of the content. */
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
          lastError: z.string().nullable(),
          sentAt: z.string().nullable(),
          openedAt: z.string().nullable(),
          repliedAt: z.string().nullable(),
        })
        .strict(),
    ),
  })
  .strict();
export type MessageStatusResponse = z.infer<typeof MessageStatusResponseSchema>;
