import { createHash } from 'node:crypto';
import type { Config } from '../config.ts';
import { AUDIT, appendAudit } from '../audit/index.ts';
import type { Logger } from '../log.ts';
import { newId, nowIso, type Store } from '../store/index.ts';
import type { ClinicianRole } from '../store/schema.ts';
import type { DevIssuer } from './dev-issuer.ts';
import { createTokenVerifier, type Provider, type VerifiedIdentity, type VerifyFailure } from './verify.ts';

/** Who is calling, once their token is verified and mapped to a practice (tenant). */
export interface Principal {
  practiceId: string;
  clinicianId: string;
  email: string;
  role: ClinicianRole;
  provider: Provider;
}

export type AuthFailure =
  VerifyFailure | 'unknown_practice' | 'domain_mismatch' | 'not_provisioned' | 'disabled';

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: AuthFailure };

export interface Authenticator {
  /** The development issuer, when development tokens are enabled. */
  readonly devIssuer: DevIssuer | undefined;
  /**
   * Verifies the token and maps it to a clinician. `audit: false` leaves a failure out of the audit
   * log (an address already over its failure budget: its refusals would flood the chain).
   */
  authenticate(
    token: string,
    ctx: { ip: string; requestId: string },
    opts?: { audit?: boolean },
  ): Promise<AuthResult>;
  /** A token verified before and not yet expired, or one that could verify (TokenVerifier.plausible). */
  plausible(token: string): boolean;
}

const CACHE_MAX = 10_000;

/**
 * Verifies bearer tokens and maps them to a practice and a clinician:
 *  - Entra ID: the token's tenant (`tid`) must be a practice's configured tenant;
 *  - Google: the Workspace domain (`hd`) must be a practice domain, and the email in it;
 *  - development issuer: the email's domain must be a practice domain.
 * Clinicians are provisioned on their first valid login (AUTO_PROVISION_CLINICIANS); admins are
 * those in ADMIN_EMAILS or holding the admin app role. A verified token is cached until it expires,
 * so it is verified and audited as a login once, not once per request; each later use only re-reads
 * the clinician's disabled flag and role by primary key, so disabling takes effect on the next request.
 */
export function createAuthenticator(opts: {
  config: Config;
  store: Store;
  devIssuer?: DevIssuer | undefined;
  logger?: Logger;
}): Authenticator {
  const { config, store } = opts;
  const devIssuer = config.identity.dev.enabled ? opts.devIssuer : undefined;
  const verifier = createTokenVerifier(config, devIssuer);
  const cache = new Map<string, { principal: Principal; exp: number }>();

  async function failure(
    reason: AuthFailure,
    ctx: { ip: string; requestId: string; audit?: boolean | undefined },
    provider?: Provider,
    practiceId?: string,
  ): Promise<AuthResult> {
    if (ctx.audit === false) return { ok: false, reason };
    await appendAudit(store.db, {
      action: AUDIT.AUTH_FAILURE,
      outcome: 'failure',
      actor: { type: 'anonymous' },
      practiceId: practiceId ?? null,
      ip: ctx.ip,
      requestId: ctx.requestId,
      details: { reason, ...(provider ? { provider } : {}) },
    });
    return { ok: false, reason };
  }

  async function practiceFor(
    id: VerifiedIdentity,
  ): Promise<{ practiceId: string } | { reason: AuthFailure }> {
    const emailDomain = id.email.split('@')[1] ?? '';
    if (id.provider === 'entra') {
      const p = await store.db
        .selectFrom('practices')
        .select('id')
        .where('entra_tenant_id', '=', id.tenantId ?? '')
        .executeTakeFirst();
      return p ? { practiceId: p.id } : { reason: 'unknown_practice' };
    }
    const domain = id.provider === 'google' ? (id.hostedDomain ?? '') : emailDomain;
    if (id.provider === 'google' && emailDomain !== domain) return { reason: 'domain_mismatch' };
    const d = await store.db
      .selectFrom('practice_domains')
      .select('practice_id')
      .where('domain', '=', domain)
      .executeTakeFirst();
    return d ? { practiceId: d.practice_id } : { reason: 'unknown_practice' };
  }

  function roleOf(id: VerifiedIdentity): ClinicianRole {
    if (config.adminEmails.includes(id.email)) return 'admin';
    const adminRoles =
      id.provider === 'entra' ? [config.identity.entra.adminRole] : id.provider === 'dev' ? ['admin'] : [];
    return id.roles.some((r) => adminRoles.includes(r)) ? 'admin' : 'clinician';
  }

  return {
    devIssuer,
    plausible(token) {
      const hit = cache.get(createHash('sha256').update(token).digest('base64url'));
      return (hit !== undefined && hit.exp > Date.now() / 1000) || verifier.plausible(token);
    },
    async authenticate(token, reqCtx, opts) {
      const ctx = { ...reqCtx, audit: opts?.audit };
      const key = createHash('sha256').update(token).digest('base64url');
      const nowSec = Math.floor(Date.now() / 1000);
      const hit = cache.get(key);
      if (hit && hit.exp > nowSec) {
        // ASVS 7.4.2: disabling a clinician ends their access at once, not when the cached token
        // expires (up to a day later). One primary-key read per request keeps that true.
        const row = await store.db
          .selectFrom('clinicians')
          .select(['disabled', 'role'])
          .where('id', '=', hit.principal.clinicianId)
          .executeTakeFirst();
        if (row && !row.disabled) {
          // Admin only while both the token and the store say so: a demotion in the store applies
          // at once, and the store alone never grants admin the token did not carry.
          if (hit.principal.role === 'admin' && row.role !== 'admin') {
            return { ok: true, principal: { ...hit.principal, role: 'clinician' } };
          }
          return { ok: true, principal: hit.principal };
        }
        cache.delete(key);
        if (row) return failure('disabled', ctx, hit.principal.provider, hit.principal.practiceId);
        // The clinician row is gone: verify again as a first login would.
      } else if (hit) cache.delete(key);

      const verified = await verifier.verify(token);
      if (!verified.ok) return failure(verified.reason, ctx);
      const id = verified.identity;
      const practice = await practiceFor(id);
      if ('reason' in practice) return failure(practice.reason, ctx, id.provider);
      const role = roleOf(id);
      const now = nowIso();

      const outcome = await store.db
        .transaction()
        .execute(async (tx): Promise<{ reason: AuthFailure } | { clinicianId: string }> => {
          let clinician = await tx
            .selectFrom('clinicians')
            .select(['id', 'role', 'disabled'])
            .where('practice_id', '=', practice.practiceId)
            .where('email', '=', id.email)
            .executeTakeFirst();
          let provisioned = false;
          if (!clinician) {
            if (!config.autoProvisionClinicians) return { reason: 'not_provisioned' };
            const clinicianId = newId();
            await tx
              .insertInto('clinicians')
              .values({
                id: clinicianId,
                practice_id: practice.practiceId,
                email: id.email,
                name: null,
                role,
                external_subject: id.subject,
                disabled: 0,
                created_at: now,
                updated_at: now,
                last_login_at: now,
              })
              .onConflict((oc) => oc.columns(['practice_id', 'email']).doNothing())
              .execute();
            clinician = await tx
              .selectFrom('clinicians')
              .select(['id', 'role', 'disabled'])
              .where('practice_id', '=', practice.practiceId)
              .where('email', '=', id.email)
              .executeTakeFirstOrThrow();
            provisioned = clinician.id === clinicianId;
          } else {
            await tx
              .updateTable('clinicians')
              .set({ role, last_login_at: now, updated_at: now })
              .where('id', '=', clinician.id)
              .execute();
          }
          if (clinician.disabled) return { reason: 'disabled' };
          const audit = {
            practiceId: practice.practiceId,
            ip: ctx.ip,
            requestId: ctx.requestId,
            actor: { type: 'clinician' as const, id: clinician.id },
          };
          if (provisioned) {
            await appendAudit(tx, {
              ...audit,
              action: AUDIT.CLINICIAN_PROVISIONED,
              outcome: 'success',
              target: { type: 'clinician', id: clinician.id },
              details: { role },
            });
          }
          await appendAudit(tx, {
            ...audit,
            action: AUDIT.LOGIN,
            outcome: 'success',
            details: { provider: id.provider, role },
          });
          return { clinicianId: clinician.id };
        });
      if ('reason' in outcome) return failure(outcome.reason, ctx, id.provider, practice.practiceId);

      const principal: Principal = {
        practiceId: practice.practiceId,
        clinicianId: outcome.clinicianId,
        email: id.email,
        role,
        provider: id.provider,
      };
      if (cache.size >= CACHE_MAX) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      cache.set(key, { principal, exp: id.exp });
      return { ok: true, principal };
    },
  };
}
