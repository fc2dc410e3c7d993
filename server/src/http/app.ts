import { Hono } from 'hono';
import { limitBody } from './middleware/body-limit.ts';
import { corsHeaders } from './middleware/cors.ts';
import { handleError, handleNotFound } from './middleware/error-handler.ts';
import { RateLimiter, rateLimit } from './middleware/rate-limit.ts';
import { requestContext } from './middleware/request-context.ts';
import { requestLog } from './middleware/request-log.ts';
import { securityHeaders } from './middleware/security-headers.ts';
import { closeOnUnreadBody } from './middleware/unread-body.ts';
import { ROUTE_MODULES } from './routes/index.ts';
import { isAddinStaticPath } from './routes/addin.ts';
import type { App, AppDeps, AppEnv } from './types.ts';

/** Routes whose bodies carry attachments and get MAX_MESSAGE_BYTES instead of MAX_BODY_BYTES. */
export const LARGE_BODY_ROUTES = ['/v1/messages', '/v1/scan'];

/**
 * The HTTP application: the middleware chain, then every route module of routes/index.ts.
 * Order matters: the request id and client address come first (everything logs them), the log and
 * the security headers wrap everything after them (so they also cover 404s, 413s and 429s), then
 * CORS, rate limits and body limits before any handler reads the body.
 */
export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const full: AppDeps = {
    ...deps,
    rateLimiters: deps.rateLimiters ?? {
      authenticated: new RateLimiter(config.limits.rateLimitPerMinute),
      anonymous: new RateLimiter(config.limits.rateLimitUnauthPerMinute),
    },
  };
  const app = new Hono<AppEnv>();
  app.use('*', requestContext({ trustProxy: config.trustProxy }));
  app.use('*', requestLog(logger));
  app.use('*', securityHeaders());
  app.use('*', closeOnUnreadBody());
  app.use(
    '/v1/*',
    corsHeaders({
      origin: config.corsOrigins.includes('*') ? '*' : config.corsOrigins,
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      // Idempotency-Key: a browser add-in retrying POST /v1/messages must be able to send it.
      allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'Idempotency-Key'],
      exposeHeaders: ['X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After'],
      maxAge: 600,
    }),
  );
  // The add-in's static files are exempt: a practice behind one address opens many panes, each
  // loading several files, and serving them touches no database.
  app.use(
    '*',
    rateLimit(full.rateLimiters!, { skip: (path) => path === '/healthz' || isAddinStaticPath(path) }),
  );
  app.use(
    '*',
    limitBody({
      maxBytes: config.limits.maxBodyBytes,
      largeBytes: config.limits.maxMessageBytes,
      largeRoutes: LARGE_BODY_ROUTES,
    }),
  );
  for (const mod of ROUTE_MODULES) mod.mount(app, full);
  app.notFound(handleNotFound());
  app.onError(handleError(logger));
  return app;
}
