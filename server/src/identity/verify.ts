import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { Config } from '../config.ts';
import type { DevIssuer } from './dev-issuer.ts';

// Bearer token verification (ASVS 9.1.1–9.2.3). The unverified `iss` only chooses which provider's
// rules to apply; the signature, issuer, audience, algorithm allowlist, exp and nbf are then all
// checked by jose against that provider's JWKS. `alg: none` and HMAC algorithms are never allowed.

export type Provider = 'entra' | 'google' | 'dev';

/** A verified identity, before it is mapped to a practice. */
export interface VerifiedIdentity {
  provider: Provider;
  /** Stable subject: `entra:<tid>:<oid>`, `google:<sub>`, `dev:<email>`. */
  subject: string;
  email: string;
  /** Entra tenant id (entra only). */
  tenantId?: string;
  /** Google Workspace domain (google only). */
  hostedDomain?: string;
  /** Role claims (Entra app roles; dev `admin`). */
  roles: string[];
  /** Token expiry (epoch seconds). */
  exp: number;
}

export type VerifyFailure =
  | 'malformed'
  | 'unknown_issuer'
  | 'bad_signature'
  | 'bad_algorithm'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_claims'
  | 'email_unverified'
  | 'jwks_unavailable';

export type VerifyResult = { ok: true; identity: VerifiedIdentity } | { ok: false; reason: VerifyFailure };

/** Asymmetric algorithms each provider signs with; anything else is refused before key lookup. */
const ENTRA_ALGS = ['RS256'];
const GOOGLE_ALGS = ['RS256'];
const DEV_ALGS = ['ES256'];

export interface TokenVerifier {
  verify(token: string): Promise<VerifyResult>;
  /**
   * Whether the token could be one of ours, from its unverified claims alone: a JWT of an accepted
   * issuer, for one of our audiences, not expired. Decoding only, no signature work: a token that
   * fails this never verifies, so it can be refused without spending anything on it.
   */
  plausible(token: string): boolean;
}

export function createTokenVerifier(config: Config, devIssuer: DevIssuer | undefined): TokenVerifier {
  const skew = config.identity.clockSkewSeconds;
  const { entra, google } = config.identity;
  // Remote key sets are fetched lazily, cached, and re-fetched on an unknown `kid` (key rotation),
  // with a cooldown so a flood of forged kids cannot make us hammer the provider.
  const remote = { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5_000 };
  const entraKeys =
    entra.clientIds.length > 0 ? createRemoteJWKSet(new URL(entra.jwksUrl), remote) : undefined;
  const googleKeys =
    google.clientIds.length > 0 ? createRemoteJWKSet(new URL(google.jwksUrl), remote) : undefined;
  const devKeys = devIssuer && config.identity.dev.enabled ? createLocalJWKSet(devIssuer.jwks) : undefined;
  const entraIssuer = issuerPattern(entra.issuerTemplate);

  async function check(
    token: string,
    keys: JWTVerifyGetKey,
    issuer: string | string[],
    audience: string[],
    algorithms: string[],
  ) {
    return jwtVerify(token, keys, {
      issuer,
      audience,
      algorithms,
      clockTolerance: skew,
      requiredClaims: ['exp', 'iat'],
      // A token valid for days is not a login token; bounds a stolen token's use.
      maxTokenAge: '25h',
    });
  }

  const audiencesOf = (iss: string): string[] | undefined => {
    if (devKeys && devIssuer && iss === devIssuer.issuer) return [devIssuer.audience];
    if (entraKeys && entraIssuer(iss)) return entra.clientIds;
    if (googleKeys && google.issuers.includes(iss)) return google.clientIds;
    return undefined;
  };

  return {
    plausible(token) {
      let p: JWTPayload;
      try {
        p = decodeJwt(token);
      } catch {
        return false;
      }
      const audiences = audiencesOf(typeof p.iss === 'string' ? p.iss : '');
      const aud = typeof p.aud === 'string' ? [p.aud] : Array.isArray(p.aud) ? p.aud : [];
      return (
        audiences !== undefined &&
        aud.some((a) => audiences.includes(a)) &&
        typeof p.exp === 'number' &&
        p.exp + skew > Date.now() / 1000
      );
    },
    async verify(token) {
      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(token);
      } catch {
        return { ok: false, reason: 'malformed' };
      }
      const iss = typeof unverified.iss === 'string' ? unverified.iss : '';
      try {
        if (devKeys && devIssuer && iss === devIssuer.issuer) {
          const { payload } = await check(token, devKeys, devIssuer.issuer, [devIssuer.audience], DEV_ALGS);
          const email = verifiedEmail(payload);
          if (!email) return { ok: false, reason: 'missing_claims' };
          return {
            ok: true,
            identity: {
              provider: 'dev',
              subject: `dev:${email}`,
              email,
              roles: stringArray(payload['roles']),
              exp: payload.exp ?? 0,
            },
          };
        }
        const tid = entraIssuer(iss);
        if (entraKeys && tid) {
          const { payload } = await check(token, entraKeys, iss, entra.clientIds, ENTRA_ALGS);
          // The tenant in the issuer must be the token's own tenant (multi-tenant apps: ASVS 9.2.3).
          if (payload['tid'] !== tid) return { ok: false, reason: 'wrong_issuer' };
          const oid = typeof payload['oid'] === 'string' ? payload['oid'] : undefined;
          const email =
            claimString(payload, 'preferred_username') ??
            claimString(payload, 'email') ??
            claimString(payload, 'upn');
          if (!oid || !email || !email.includes('@')) return { ok: false, reason: 'missing_claims' };
          return {
            ok: true,
            identity: {
              provider: 'entra',
              subject: `entra:${tid}:${oid}`,
              email: email.toLowerCase(),
              tenantId: tid,
              roles: stringArray(payload['roles']),
              exp: payload.exp ?? 0,
            },
          };
        }
        if (googleKeys && google.issuers.includes(iss)) {
          const { payload } = await check(token, googleKeys, google.issuers, google.clientIds, GOOGLE_ALGS);
          if (payload['email_verified'] !== true) return { ok: false, reason: 'email_unverified' };
          const email = claimString(payload, 'email')?.toLowerCase();
          const hd = claimString(payload, 'hd')?.toLowerCase();
          // Apps Script identity tokens of Workspace users carry `hd`; consumer accounts do not.
          if (!email || !hd || !payload.sub) return { ok: false, reason: 'missing_claims' };
          return {
            ok: true,
            identity: {
              provider: 'google',
              subject: `google:${payload.sub}`,
              email,
              hostedDomain: hd,
              roles: [],
              exp: payload.exp ?? 0,
            },
          };
        }
        return { ok: false, reason: 'unknown_issuer' };
      } catch (err) {
        return { ok: false, reason: classify(err) };
      }
    },
  };
}

function classify(err: unknown): VerifyFailure {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'wrong_audience';
    if (err.claim === 'iss') return 'wrong_issuer';
    if (err.claim === 'nbf') return 'not_yet_valid';
    if (err.claim === 'iat') return 'expired';
    return 'missing_claims';
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported)
    return 'bad_algorithm';
  if (err instanceof joseErrors.JWKSTimeout) return 'jwks_unavailable';
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWSSignatureVerificationFailed)
    return 'bad_signature';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'malformed';
  if (err instanceof joseErrors.JOSEError) return 'bad_signature';
  // Network failures fetching the JWKS.
  return 'jwks_unavailable';
}

function issuerPattern(template: string): (iss: string) => string | undefined {
  const [before, after] = template.split('{tid}') as [string, string | undefined];
  return (iss) => {
    if (after === undefined || !iss.startsWith(before) || !iss.endsWith(after)) return undefined;
    const tid = iss.slice(before.length, iss.length - after.length);
    return /^[0-9a-fA-F-]{36}$/.test(tid) ? tid.toLowerCase() : undefined;
  };
}

function claimString(p: JWTPayload, name: string): string | undefined {
  const v = p[name];
  return typeof v === 'string' && v.length > 0 && v.length <= 320 ? v : undefined;
}

function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function verifiedEmail(p: JWTPayload): string | undefined {
  const email = claimString(p, 'email');
  return email && p['email_verified'] === true ? email.toLowerCase() : undefined;
}
