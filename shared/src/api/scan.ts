import { z } from 'zod';
import { AttachmentSchema, MAX_ATTACHMENTS, MAX_BODY_CHARS, MAX_RECIPIENTS } from './messages.ts';

/**
 * POST /v1/scan: the server's scan of a draft with its attachments' contents (PDF, Office, RTF,
 * HTML, text), which the add-ins cannot read themselves. The Outlook send handler asks when a draft
 * it would let go has attachments of those kinds. Nothing is stored; the call is audited without
 * content. Same shapes as the shared scan and decision (decision, reasons, phi, types).
 */
export const ScanRequestSchema = z
  .object({
    to: z
      .array(z.string().trim().toLowerCase().pipe(z.email().max(254)))
      .max(MAX_RECIPIENTS)
      .default([]),
    cc: z
      .array(z.string().trim().toLowerCase().pipe(z.email().max(254)))
      .max(MAX_RECIPIENTS)
      .default([]),
    subject: z.string().max(998).default(''),
    text: z.string().max(MAX_BODY_CHARS).optional(),
    html: z.string().max(MAX_BODY_CHARS).optional(),
    attachments: z.array(AttachmentSchema).min(1).max(MAX_ATTACHMENTS),
  })
  .strict();
export type ScanRequest = z.infer<typeof ScanRequestSchema>;
export type ScanRequestInput = z.input<typeof ScanRequestSchema>;

export const ScanResponseSchema = z
  .object({
    decision: z.enum(['allow', 'warn', 'encrypt', 'block']),
    /** Why, as decide() says it, plus one line per attachment found to hold PHI or not readable. */
    reasons: z.array(z.string()),
    phi: z.boolean(),
    /** Kinds of PHI found (PhiType names), never the values. */
    types: z.array(z.string()),
    /** Where they were: "subject", "body", "to", "cc", "attachment:<i>"; kinds only. */
    fields: z.array(z.object({ field: z.string(), types: z.array(z.string()) }).strict()),
    /** Per attachment, in order: its kind and whether its contents were read in full, in part or not. */
    attachments: z.array(
      z
        .object({
          kind: z.enum(['pdf', 'office', 'rtf', 'html', 'text', 'other']),
          read: z.enum(['full', 'partial', 'none']),
          /** Why not in full (stable code: encrypted, no_text, too_large, corrupt, limit, timeout, unsupported, truncated). */
          reason: z.string().optional(),
        })
        .strict(),
    ),
  })
  .strict();
export type ScanResponse = z.infer<typeof ScanResponseSchema>;
