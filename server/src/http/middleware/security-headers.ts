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
    h.set('Strict-Transport-Security', STRICT_HEADERS['Strict-Transport-Security']);
    h.set('X-Content-Type-Options', STRICT_HEADERS['X-Content-Type-Options']);
    h.set('Referrer-Policy', STRICT_HEADERS['Referrer-Policy']);
    // A response that names its own frame ancestors (the Outlook add-in pages, framed by Outlook on
    // the web) must not also carry X-Frame-Options: DENY; everything else may never be framed.
    if (!ownsFraming(h.get('Content-Security-Policy')))
      h.set('X-Frame-Options', STRICT_HEADERS['X-Frame-Options']);
    h.set('Cross-Origin-Opener-Policy', STRICT_HEADERS['Cross-Origin-Opener-Policy']);
    if (!h.has('Content-Security-Policy'))
      h.set('Content-Security-Policy', STRICT_HEADERS['Content-Security-Policy']);
    if (!h.has('Cache-Control')) h.set('Cache-Control', STRICT_HEADERS['Cache-Control']);
  };

/**
 * The headers of a response whose handler set none of its own (an API answer, an error): also what
 * answers Node's HTTP parser rejects carry (client-error.ts).
 */
export const STRICT_HEADERS = {
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Cache-Control': 'no-store',
} as const;

/** True when a handler's CSP allows some framing (frame-ancestors other than 'none'). */
function ownsFraming(csp: string | null): boolean {
  const m = /(?:^|;)\s*frame-ancestors\s+([^;]*)/i.exec(csp ?? '');
  return m !== null && m[1]!.trim() !== "'none'";
}
