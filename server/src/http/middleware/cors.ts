import type { MiddlewareHandler } from 'hono';
import { cors as honoCors } from 'hono/cors';
import type { AppEnv } from '../types.ts';

export interface CorsOptions {
  origin: '*' | string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAge: number;
}

/**
 * CORS for the API: hono/cors's headers, set on the answer once it exists. hono/cors sets them on
 * c.res before the handler runs, which makes Hono create a placeholder response and then rebuild
 * the handler's answer to merge them in: a real fetch Response and a web stream for every JSON
 * answer, instead of the plain string body @hono/node-server writes directly (bench:server, perf:
 * ~4 % of the event loop per secure send). Preflight requests still go to hono/cors as they are.
 */
export function corsHeaders(opts: CorsOptions): MiddlewareHandler<AppEnv> {
  const preflight = honoCors(opts);
  const expose = opts.exposeHeaders.length > 0 ? opts.exposeHeaders.join(',') : null;
  const list = opts.origin;
  const allowOrigin = list === '*' ? () => '*' : (origin: string) => (list.includes(origin) ? origin : null);
  return async function cors(c, next) {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    const origin = allowOrigin(c.req.header('origin') ?? '');
    await next();
    // The answer's own headers (c.header() would rebuild a finalized response).
    const h = c.res.headers;
    if (origin) h.set('Access-Control-Allow-Origin', origin);
    if (expose) h.set('Access-Control-Expose-Headers', expose);
    if (list !== '*') h.append('Vary', 'Origin');
  };
}
