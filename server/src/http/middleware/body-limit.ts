import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { errorBody } from '../errors.ts';
import type { AppEnv } from '../types.ts';

/**
 * Request body size limits (ASVS 5.2.1): `maxBytes` for everything, `largeBytes` for the routes
 * that carry attachments (POST /v1/messages). Checks Content-Length first and counts streamed
 * bytes otherwise, so a lying or missing length cannot get past it.
 */
export const limitBody = (opts: {
  maxBytes: number;
  largeBytes: number;
  largeRoutes: string[];
}): MiddlewareHandler<AppEnv> => {
  const tooLarge = (limit: number) =>
    bodyLimit({
      maxSize: limit,
      onError: (c) =>
        c.json(errorBody('payload_too_large', `The request body exceeds the limit of ${limit} bytes.`), 413),
    });
  const normal = tooLarge(opts.maxBytes);
  const large = tooLarge(opts.largeBytes);
  return async function limitBodySize(c, next) {
    const method = c.req.method;
    // No body to limit (what hono's bodyLimit concludes too, after building the full Request).
    if (method === 'GET' || method === 'HEAD') return next();
    const isLarge = method === 'POST' && opts.largeRoutes.includes(c.req.path);
    // A declared length (and no chunked coding) is checked here, as hono's bodyLimit checks it,
    // without building the fetch Request that it reads the header from (body.ts).
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      const limit = isLarge ? opts.largeBytes : opts.maxBytes;
      if (!/^\d+$/.test(length.trim())) return (isLarge ? large : normal)(c, next);
      if (Number(length.trim()) > limit) {
        return c.json(
          errorBody('payload_too_large', `The request body exceeds the limit of ${limit} bytes.`),
          413,
        );
      }
      return next();
    }
    return (isLarge ? large : normal)(c, next);
  };
};
