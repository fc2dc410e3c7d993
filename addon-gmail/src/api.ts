// Typed calls to the Attune HTTP API (contract: shared/src/api). Responses are checked with the
// shared zod schemas, so a server of another version yields a clear "unexpected answer" card
// rather than a TypeError deep inside a card builder.

import {
  CaseloadSchema,
  EngagementSchema,
  MessageNoticeResponseSchema,
  MessageStatusResponseSchema,
  PolicySchema,
  ReplySchema,
  SendMessageResponseSchema,
  type Caseload,
  type Engagement,
  type MessageNoticeResponse,
  type MessageStatusResponse,
  type Policy,
  type Reply,
  type SendMessageRequestInput,
  type SendMessageResponse,
} from '@attune/shared/api';
import { request, type ApiResult } from './api-client.ts';

export const CASELOAD_PAGE_SIZE = 10;

export function getPolicy(): ApiResult<Policy> {
  return request({ method: 'get', path: '/v1/policy' }, PolicySchema);
}

/**
 * `idempotencyKey` goes out as the Idempotency-Key header: the server answers a repeat of the same
 * request under the same key with the message it already accepted, and a different request under
 * it with 409 `conflict` (server/src/http/routes/messages.ts).
 */
export function sendMessage(
  body: SendMessageRequestInput,
  opts: { idempotencyKey?: string } = {},
): ApiResult<SendMessageResponse> {
  return request(
    {
      method: 'post',
      path: '/v1/messages',
      body,
      ...(opts.idempotencyKey !== undefined ? { headers: { 'Idempotency-Key': opts.idempotencyKey } } : {}),
    },
    SendMessageResponseSchema,
  );
}

/** Revokes one of the clinician's messages: its links stop working, undelivered emails are not sent. */
export function revokeMessage(id: string): ApiResult<MessageStatusResponse> {
  // A message id (never PHI) is the only thing in the path.
  return request(
    { method: 'post', path: `/v1/messages/${encodeURIComponent(id)}/revoke` },
    MessageStatusResponseSchema,
  );
}

/**
 * The notice of one of the clinician's messages again (its 202 carried it): the same secure link,
 * for a draft that must carry it after "keep the earlier version" (server delivery/notice.ts).
 */
export function messageNotice(id: string): ApiResult<MessageNoticeResponse> {
  return request(
    { method: 'post', path: `/v1/messages/${encodeURIComponent(id)}/notice` },
    MessageNoticeResponseSchema,
  );
}

export function getEngagementByEmail(email: string): ApiResult<Engagement> {
  // The address goes in the body, never the URL: paths end up in proxy and server logs.
  return request(
    { method: 'post', path: '/v1/engagement/lookup', body: { email: email.toLowerCase() } },
    EngagementSchema,
  );
}

/**
 * A patient's engagement by the server's opaque patient id (the caseload's items carry it), so the
 * caseload card's actions hold a reference, not the patient's address.
 */
export function getEngagementByPatientId(patientId: string): ApiResult<Engagement> {
  return request(
    { method: 'get', path: `/v1/patients/${encodeURIComponent(patientId)}/engagement` },
    EngagementSchema,
  );
}

export function getCaseload(page: number, pageSize = CASELOAD_PAGE_SIZE): ApiResult<Caseload> {
  return request({ method: 'get', path: `/v1/caseload?page=${page}&pageSize=${pageSize}` }, CaseloadSchema);
}

/**
 * A patient's secure reply (GET /v1/replies/:id), by the reference the PHI-free reply notice carries.
 * The reference is the path the server defines for it and the only thing in the URL; the server
 * answers 404 for another practice's reply like an unknown one, and 500 `content_unreadable` for one
 * it stores but cannot read.
 */
export function getReply(reference: string): ApiResult<Reply> {
  return request({ method: 'get', path: `/v1/replies/${encodeURIComponent(reference)}` }, ReplySchema);
}
