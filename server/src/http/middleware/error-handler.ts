import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ZodError } from 'zod';
import type { ErrorCode } from '@attune/shared/api';
import type { Logger } from '../../log.ts';
import { ApiError, errorBody } from '../errors.ts';
import { describeZodError } from '../validate.ts';
import type { AppEnv } from '../types.ts';

const HTTP_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/**
 * The one error handler: every failure becomes `{"error":{"code","message"}}` with a stable code,
 * never a stack trace (CONVENTIONS 4, ASVS 16.5.1). Unexpected errors are logged by name and stack
 * frames only: messages of database or library errors can quote the values involved (PHI).
 */
export const handleError = (logger: Logger): ErrorHandler<AppEnv> =>
  function handleError(err: Error, c: Context<AppEnv>) {
    if (err instanceof ApiError) {
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      return c.json(errorBody(err.code, err.message, err.extra), err.status);
    }
    if (err instanceof ZodError) {
      return c.json(errorBody('validation_failed', describeZodError(err)), 400);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      const code = HTTP_CODES[status];
      if (code && status < 500) return c.json(errorBody(code, err.message || 'Bad request.'), status);
    }
    logger.error(
      {
        requestId: c.get('requestId'),
        err: { name: err.name, code: (err as { code?: unknown }).code, frames: stackFrames(err) },
      },
      'unhandled error',
    );
    return c.json(
      errorBody(
        'internal_error',
        'Something went wrong on our side. The request id identifies it in our logs.',
      ),
      500,
    );
  };

export const handleNotFound = (): NotFoundHandler<AppEnv> =>
  function handleNotFound(c) {
    return c.json(errorBody('not_found', 'No such endpoint.'), 404);
  };

function stackFrames(err: Error): string[] {
  return (err.stack ?? '')
    .split('\n')
    .filter((l) => l.trimStart().startsWith('at '))
    .slice(0, 12)
    .map((l) => l.trim());
}
