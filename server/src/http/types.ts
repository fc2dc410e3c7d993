import type { Hono } from 'hono';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/index.ts';
import type { Authenticator, Principal } from '../identity/authenticator.ts';
import type { RateLimiters } from './middleware/rate-limit.ts';

/** Who is calling, after `requireClinician`: always scoped to one practice (tenant). */
export type AuthContext = Principal;

export interface AppVariables {
  requestId: string;
  /** Client address (X-Forwarded-For only when TRUST_PROXY=true). */
  ip: string;
  /** Set by requireClinician / requireAdmin. */
  auth: AuthContext;
  /** Set by the rate limiter when the caller presented a bearer token (hash, not the token). */
  rateKey: string;
  /** Set when the body was read from the Node request directly (body.ts), not through c.req. */
  bodyRead: boolean;
}

export type AppEnv = { Variables: AppVariables };
export type App = Hono<AppEnv>;

/**
 * Everything route modules need. Built once by startServer (or by a test). Extend compatibly:
 * add optional fields so existing callers keep compiling.
 */
export interface AppDeps {
  config: Config;
  store: Store;
  logger: Logger;
  authenticator: Authenticator;
  /** Shared limiters (in-memory per process). createApp makes them from config.limits if absent. */
  rateLimiters?: RateLimiters;
  /** Injectable clock for tests. */
  now?: () => Date;
  /** Practice key material and other services added by other modules (crypto, delivery). */
  services?: Record<string, unknown>;
}

/**
 * A route module: server/src/http/routes/<name>.ts exports `mount(app, deps)` and registers its
 * routes (one file per endpoint group). routes/index.ts lists them.
 */
export interface RouteModule {
  mount(app: App, deps: AppDeps): void;
  /**
   * OpenAPI 3.1 `paths` entries for this module's endpoints (build schemas with z.toJSONSchema from
   * the same zod schemas the handlers validate with); merged into /openapi.json and /docs.
   */
  openapi?: Record<string, unknown>;
}
