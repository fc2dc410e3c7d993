// Typed calls to the Attune HTTP API (contract: shared/src/api). Responses are checked with the
// shared zod schemas, so a server of another version yields a clear "unexpected answer" card
// rather than a TypeError deep inside a card builder.

import {
  CaseloadSchema,
  EngagementSchema,
  PolicySchema,
  SendMessageResponseSchema,
  type Caseload,
  type Engagement,
  type Policy,
  type SendMessageRequestInput,
  type SendMessageResponse,
} from '@attune/shared/api';
import { request, type ApiResult } from './api-client.ts';

export const CASELOAD_PAGE_SIZE = 10;

export function getPolicy(): ApiResult<Policy> {
  return request({ method: 'get', path: '/v1/policy' }, PolicySchema);
}

export function sendMessage(body: SendMessageRequestInput): ApiResult<SendMessageResponse> {
  return request({ method: 'post', path: '/v1/messages', body }, SendMessageResponseSchema);
}

export function getEngagementByEmail(email: string): ApiResult<Engagement> {
  // The address is a path segment by contract; encode it so '+', '/' and '%' survive.
  const path = `/v1/patients/by-email/${encodeURIComponent(email.toLowerCase())}/engagement`;
  return request({ method: 'get', path }, EngagementSchema);
}

export function getCaseload(page: number, pageSize = CASELOAD_PAGE_SIZE): ApiResult<Caseload> {
  return request({ method: 'get', path: `/v1/caseload?page=${page}&pageSize=${pageSize}` }, CaseloadSchema);
}
