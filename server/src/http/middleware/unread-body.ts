import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../types.ts';

/**
 * A response sent before the request body was read (401 before the handler, 404, 413, 415, 429,
 * a validation error thrown early) closes the connection explicitly. Otherwise @hono/node-server
 * drains the unread body for up to 500 ms and then destroys the socket without a word, and a
 * keep-alive client (undici, browsers, the add-ins) that already sent its next request on that
 * socket sees "other side closed": a retry after a 401 with a large send fails with a network error.
 * `Connection: close` tells the client not to reuse the socket.
 */
export const closeOnUnreadBody = (): MiddlewareHandler<AppEnv> =>
  async function closeOnUnreadBody(c, next) {
    await next();
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return;
    const length = c.req.header('content-length');
    const hasBody =
      (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
    if (hasBody && !c.get('bodyRead') && !c.req.raw.bodyUsed) c.res.headers.set('Connection', 'close');
  };
