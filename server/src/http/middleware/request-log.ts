import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from '../../log.ts';
import type { AppEnv } from '../types.ts';

/**
 * One structured line per request: method, route *pattern* (`/v1/patients/:id`, never the concrete
 * path, which may carry an email or a token), status, latency and request id. No query strings,
 * headers or bodies: they may hold PHI or secrets.
 */
export const requestLog = (logger: Logger): MiddlewareHandler<AppEnv> =>
  async function requestLog(c, next) {
    const start = performance.now();
    await next();
    const status = c.res.status;
    const route = routePath(c) || 'unmatched';
    const entry = {
      requestId: c.get('requestId'),
      method: c.req.method,
      route: route === '*' || route === '/*' ? 'unmatched' : route,
      status,
      ms: Math.round((performance.now() - start) * 10) / 10,
      ...(c.get('auth')
        ? { practiceId: c.get('auth').practiceId, clinicianId: c.get('auth').clinicianId }
        : {}),
    };
    if (status >= 500) logger.error(entry, 'request');
    else logger.info(entry, 'request');
  };
