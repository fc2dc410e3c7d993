import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorBody, ErrorCode } from '@attune/shared/api';

/**
 * The one error type handlers throw for expected HTTP failures. The error handler turns it into
 * `{"error":{"code","message"}}`. Messages are PHI-free and safe to show (CONVENTIONS 4, 13).
 */
export class ApiError extends Error {
  constructor(
    public readonly status: ContentfulStatusCode,
    public readonly code: ErrorCode,
    message: string,
    /** Extra response headers (e.g. Retry-After). */
    public readonly headers: Record<string, string> = {},
    /** Extra fields of the error object (ErrorBodySchema), e.g. a 409's `messageId`. Never PHI. */
    public readonly extra: Pick<ErrorBody['error'], 'messageId'> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorBody(
  code: ErrorCode,
  message: string,
  extra: Pick<ErrorBody['error'], 'messageId'> = {},
): ErrorBody {
  return { error: { code, message, ...extra } };
}

// Common errors, so the same case always reads the same way.
export const notFound = (message = 'Not found.') => new ApiError(404, 'not_found', message);
export const unauthenticated = (message = 'A valid bearer token is required.') =>
  new ApiError(401, 'unauthenticated', message, { 'WWW-Authenticate': 'Bearer' });
export const forbidden = (message = 'You are not allowed to do this.') =>
  new ApiError(403, 'forbidden', message);
