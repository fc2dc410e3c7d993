import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { errorBody } from '../errors.ts';
import type { AppEnv } from '../types.ts';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/**
 * Fixed-window counters per key, in memory. One process serves one practice's load; behind a load
 * balancer each process enforces its own share (documented in the README's scale-out notes).
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly limit: number,
    readonly windowMs: number = 60_000,
  ) {}

  take(key: string, now: number = Date.now(), cost = 1): RateDecision {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 50_000) this.sweep(now);
    }
    w.count += cost;
    const resetSeconds = Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
    return {
      allowed: w.count <= this.limit,
      limit: this.limit,
      remaining: Math.max(0, this.limit - w.count),
      resetSeconds,
    };
  }

  /** Whether `key` has used up its budget in the current window, without spending any. */
  exhausted(key: string, now: number = Date.now()): RateDecision | undefined {
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs || w.count < this.limit) return undefined;
    const resetSeconds = Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
    return { allowed: false, limit: this.limit, remaining: 0, resetSeconds };
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}

export interface RateLimiters {
  /** Per bearer token. */
  authenticated: RateLimiter;
  /** Per client address: requests without a token, and failed authentications. */
  anonymous: RateLimiter;
}

/** The key for the caller: a hash of its bearer token (never the token), else its address. */
export function rateKeyOf(c: Context<AppEnv>): { key: string; authenticated: boolean } {
  const authz = c.req.header('authorization');
  if (authz && /^bearer\s+\S+/i.test(authz)) {
    return {
      key: `tok:${createHash('sha256').update(authz).digest('base64url').slice(0, 22)}`,
      authenticated: true,
    };
  }
  return { key: `ip:${c.get('ip')}`, authenticated: false };
}

/** Sets the IETF RateLimit / RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers). */
export function setRateHeaders(
  c: Context<AppEnv>,
  policy: string,
  d: RateDecision,
  windowSeconds: number,
): void {
  c.header('RateLimit-Policy', `"${policy}";q=${d.limit};w=${windowSeconds}`);
  c.header('RateLimit', `"${policy}";r=${d.remaining};t=${d.resetSeconds}`);
}

export function rateLimitedResponse(c: Context<AppEnv>, d: RateDecision): Response {
  c.header('Retry-After', String(d.resetSeconds));
  return c.json(errorBody('rate_limited', `Too many requests. Try again in ${d.resetSeconds} seconds.`), 429);
}

/** 429 rate_limited with RateLimit headers once a caller exceeds its budget (ASVS 2.4.1). */
export const rateLimit = (
  limiters: RateLimiters,
  opts: { skip?: (path: string) => boolean } = {},
): MiddlewareHandler<AppEnv> =>
  async function rateLimit(c, next) {
    if (opts.skip?.(c.req.path)) return next();
    const { key, authenticated } = rateKeyOf(c);
    const limiter = authenticated ? limiters.authenticated : limiters.anonymous;
    const policy = authenticated ? 'token' : 'address';
    const d = limiter.take(key);
    setRateHeaders(c, policy, d, limiter.windowMs / 1000);
    if (!d.allowed) return rateLimitedResponse(c, d);
    c.set('rateKey', key);
    return next();
  };
