import { z } from 'zod';

// One error shape over HTTP (CONVENTIONS 4): a stable machine code and a PHI-free human message.
export const ErrorBodySchema = z.object({
  error: z
    .object({
      code: z.string(),
      message: z.string(),
      messageId: z
        .string()
        .optional()
        .describe(
          'Only with 409 `conflict` from POST /v1/messages: the id of the message already accepted under this Idempotency-Key (sent by you, in your practice), so a client can show or revoke it (POST /v1/messages/{id}/revoke). Absent when that message is not yours.',
        ),
    })
    .strict(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** Stable error codes. Add, never rename. */
export const ERROR_CODES = [
  'bad_request',
  'invalid_json',
  'validation_failed',
  'unauthenticated',
  'forbidden',
  'not_found',
  'patient_not_found',
  'message_not_found',
  'payload_too_large',
  'rate_limited',
  'unsupported_media_type',
  'conflict',
  'blocked_by_policy',
  'invalid_public_key',
  'dev_tokens_disabled',
  'internal_error',
  'headers_too_large',
  'request_timeout',
  'reply_not_found',
  'content_unreadable',
  'content_quarantined',
  'message_revoked',
  'message_expired',
  'clinician_not_found',
  'delivery_not_found',
  'delivery_not_failed',
  'delivery_retry_limit',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
