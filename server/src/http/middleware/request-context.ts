import { randomUUID } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../types.ts';

// A caller-supplied X-Request-Id is kept only when it is short and plain, so it cannot inject
// into logs (ASVS 16.4.1); otherwise we make one.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,64}$/;

export const requestContext = (opts: { trustProxy: boolean }): MiddlewareHandler<AppEnv> =>
  async function requestContext(c, next) {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('ip', clientIp(c, opts.trustProxy));
    c.header('X-Request-Id', requestId);
    await next();
  };

function clientIp(c: Context<AppEnv>, trustProxy: boolean): string {
  if (trustProxy) {
    // Our proxy appends the address it saw to whatever the client sent, so only the right-most
    // entry is trustworthy; anything to its left is the client's to choose and would let it pick
    // its own rate-limit bucket and forge audit addresses (ASVS 16.2.1, 2.4.1). One proxy hop is
    // assumed: behind a chain of proxies the right-most is the last proxy, never a forged address.
    const forwarded = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
    if (forwarded && /^[0-9a-fA-F:.]{2,45}$/.test(forwarded)) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // app.request() in tests has no socket.
    return 'local';
  }
}
