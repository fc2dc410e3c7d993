import type { MiddlewareHandler } from 'hono';
import { AUDIT, appendAudit } from '../audit/index.ts';
import { forbidden, unauthenticated } from '../http/errors.ts';
import { rateLimitedResponse, setRateHeaders, type RateLimiters } from '../http/middleware/rate-limit.ts';
import type { AppDeps, AppEnv } from '../http/types.ts';

type AuthDeps = Pick<AppDeps, 'authenticator' | 'store'> & { rateLimiters?: RateLimiters | undefined };

const BEARER = /^Bearer\s+([A-Za-z0-9._~+/=-]{10,8192})$/i;

/**
 * Requires a valid bearer token of a clinician of a known practice, and puts
 * {practiceId, clinicianId, email, role, provider} in `c.get('auth')`. Failed attempts count
 * against the caller's address (ASVS 6.3.1: brute force and token stuffing), then 429.
 *
 * An address over its failure budget is not locked out for valid tokens: addresses are shared.
 * Every Gmail add-on call comes from Google's Apps Script egress addresses, which every Apps Script
 * project in the world shares, and a practice's Outlook users may sit behind one NAT: one caller's
 * bad tokens (a script of anyone's, a colleague's stale token) must not refuse everyone else. Past
 * the budget, a token that cannot be ours (not a JWT of an issuer and audience we accept, or
 * expired: decoding only) is refused without any work, and one that could be is verified, its
 * failure answered 429 and not audited (no audit flood). Signature checks are not guessable, so
 * the budget was never what protected them; what it bounds is the work and the audit log.
 */
export const requireClinician = (deps: AuthDeps): MiddlewareHandler<AppEnv> =>
  async function requireClinician(c, next) {
    const header = c.req.header('authorization');
    const token = header ? BEARER.exec(header.trim())?.[1] : undefined;
    // No credentials at all is not a login attempt; credentials that are not a bearer token are.
    if (!token && header === undefined) throw unauthenticated();
    const failures = deps.rateLimiters?.anonymous;
    const failKey = `authfail:${c.get('ip')}`;
    const blocked = failures?.exhausted(failKey);
    if (failures && blocked && (!token || !deps.authenticator.plausible(token))) {
      setRateHeaders(c, 'auth-failures', blocked, failures.windowMs / 1000);
      return rateLimitedResponse(c, blocked);
    }
    if (!token) {
      // Another scheme, an empty or oversized token: a refused credential, audited like a bad token
      // (the reason only, never the header) and counted against the address's failure budget.
      await appendAudit(deps.store.db, {
        action: AUDIT.AUTH_FAILURE,
        outcome: 'failure',
        actor: { type: 'anonymous' },
        ip: c.get('ip'),
        requestId: c.get('requestId'),
        details: { reason: 'malformed_authorization' },
      });
      failures?.take(failKey);
      throw unauthenticated('The bearer token is not valid for this service.');
    }
    const result = await deps.authenticator.authenticate(
      token,
      { ip: c.get('ip'), requestId: c.get('requestId') },
      { audit: !blocked },
    );
    if (!result.ok) {
      if (failures) {
        const d = failures.take(failKey);
        if (!d.allowed) {
          setRateHeaders(c, 'auth-failures', d, failures.windowMs / 1000);
          return rateLimitedResponse(c, d);
        }
      }
      // One message for every reason: which check failed is for the audit log, not the caller.
      throw unauthenticated('The bearer token is not valid for this service.');
    }
    c.set('auth', result.principal);
    await next();
    return undefined;
  };

/** requireClinician, and the clinician must be an admin of their practice; refusals are audited. */
export const requireAdmin = (deps: AuthDeps): MiddlewareHandler<AppEnv> => {
  const clinician = requireClinician(deps);
  return async function requireAdmin(c, next) {
    return clinician(c, async () => {
      const auth = c.get('auth');
      if (auth.role !== 'admin') {
        await appendAudit(deps.store.db, {
          action: AUDIT.AUTHZ_FAILURE,
          outcome: 'failure',
          actor: { type: 'clinician', id: auth.clinicianId },
          practiceId: auth.practiceId,
          ip: c.get('ip'),
          requestId: c.get('requestId'),
          details: { required: 'admin', method: c.req.method },
        });
        throw forbidden('This action needs a practice administrator.');
      }
      await next();
    });
  };
};
