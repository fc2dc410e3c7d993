import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../types.ts';

/**
 * Security headers on every response (ASVS 3.4.x). Hono's secureHeaders() defaults to a 180-day
 * HSTS and no CSP, so we set our own. A handler that needs a different CSP (the viewer, with
 * nonces) or cache policy sets it and we leave it alone; everything else is `no-store` because an
 * API answer or a viewer page may hold PHI (ASVS 14.3.2).
 */
export const securityHeaders = (): MiddlewareHandler<AppEnv> =>
  async function securityHeaders(c, next) {
    await next();
    const h = c.res.headers;
    h.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    h.set('X-Content-Type-Options', 'nosniff');
    h.set('Referrer-Policy', 'no-referrer');
    h.set('X-Frame-Options', 'DENY');
    h.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (!h.has('Content-Security-Policy')) {
      h.set('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    }
    if (!h.has('Cache-Control')) h.set('Cache-Control', 'no-store');
  };
