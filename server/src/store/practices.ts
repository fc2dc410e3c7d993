import { domainToASCII } from 'node:url';
import { DEFAULT_POLICY, PolicySchema, type Policy } from '@attune/shared/api';
import type { Db } from './store.ts';
import { runCompiled } from './compiled.ts';
import { newId, nowIso, parseJsonColumn } from './store.ts';

export interface PracticeBootstrap {
  name: string;
  domains: string[];
  replyDomain?: string | undefined;
  entraTenantId?: string | undefined;
}

/**
 * Makes sure the configured practice exists (first start) and that its domains and Entra tenant
 * match the configuration (later starts). Identified by its first domain. Returns its id and
 * whether it was created. Domains that belong to another practice are left with that practice.
 * With `update: false` (the CLI's demo and import, which only need the practice to write into) an
 * existing practice is left exactly as it is: its name, reply domain, tenant and domains may have
 * been set since with `attune practice`, and a one-off command run with another environment must
 * not rewrite them.
 */
export async function ensurePractice(
  db: Db,
  p: PracticeBootstrap,
  opts: { update?: boolean } = {},
): Promise<{ practiceId: string; created: boolean }> {
  return db.transaction().execute(async (tx) => {
    const now = nowIso();
    const owned = await tx
      .selectFrom('practice_domains')
      .select('practice_id')
      .where('domain', 'in', p.domains)
      .executeTakeFirst();
    let practiceId = owned?.practice_id;
    let created = false;
    if (!practiceId) {
      practiceId = await insertPractice(tx, p, now);
      created = true;
    } else if (opts.update !== false) {
      await tx
        .updateTable('practices')
        .set({
          name: p.name,
          reply_domain: p.replyDomain ?? null,
          entra_tenant_id: p.entraTenantId ?? null,
          updated_at: now,
        })
        .where('id', '=', practiceId)
        .execute();
    }
    for (const domain of created || opts.update !== false ? p.domains : []) {
      await tx
        .insertInto('practice_domains')
        .values({ domain, practice_id: practiceId, created_at: now })
        .onConflict((oc) => oc.column('domain').doNothing())
        .execute();
    }
    return { practiceId, created };
  });
}

/**
 * The practice's effective policy: its stored policy, or the safe defaults, with the practice's own
 * domains among its internal domains. Mail to colleagues in the practice's domains stays inside the
 * practice's own mail system: an admin should not have to list them again for PHI to a colleague not
 * to be forced into the portal (and for colleagues not to become patients on a secure send).
 */
export async function getPolicy(
  db: Db,
  practiceId: string,
): Promise<{ policy: Policy; version: number; updatedAt: string | null }> {
  const [row] = await runCompiled(db, 'policy:get', [practiceId], () =>
    db.selectFrom('practice_policy').selectAll().where('practice_id', '=', practiceId),
  );
  const base = row ? parsePolicy(row.policy) : DEFAULT_POLICY;
  const policy = withPracticeDomains(base, await practiceDomainList(db, practiceId));
  if (!row) return { policy, version: 0, updatedAt: null };
  return { policy, version: row.version, updatedAt: row.updated_at };
}

/** The practice's own mail domains (lower-case, sorted). */
export async function practiceDomainList(db: Db, practiceId: string): Promise<string[]> {
  const rows = await runCompiled(db, 'policy:domains', [practiceId], () =>
    db
      .selectFrom('practice_domains')
      .select('domain')
      .where('practice_id', '=', practiceId)
      .orderBy('domain'),
  );
  return rows.map((d) => d.domain);
}

// Merged policies by base policy and domain list: the same objects send after send.
const mergedPolicies = new WeakMap<Policy, Map<string, Policy>>();

function withPracticeDomains(base: Policy, domains: readonly string[]): Policy {
  const missing = domains.filter((d) => !base.internalDomains.some((i) => i.toLowerCase() === d));
  if (missing.length === 0) return base;
  const key = missing.join(',');
  let byDomains = mergedPolicies.get(base);
  const hit = byDomains?.get(key);
  if (hit) return hit;
  const merged: Policy = { ...base, internalDomains: [...base.internalDomains, ...missing] };
  if (!byDomains) mergedPolicies.set(base, (byDomains = new Map<string, Policy>()));
  if (byDomains.size > 64) byDomains.clear();
  byDomains.set(key, merged);
  return merged;
}

// Parsed policies by their stored text: every secure send reads the policy (it must see a change at
// once, so the row is read each time), but parsing and validating the same JSON again is wasted.
// Callers treat a policy as read-only.
const parsedPolicies = new Map<string, Policy>();

function parsePolicy(stored: string): Policy {
  // PostgreSQL may hand back the column already parsed (parseJsonColumn): not cached then.
  const text = typeof stored === 'string' ? stored : null;
  const hit = text === null ? undefined : parsedPolicies.get(text);
  if (hit) return hit;
  // Re-parse: a policy stored by an older version gains the defaults of fields added since.
  const parsed = PolicySchema.safeParse(parseJsonColumn<unknown>(stored, {}));
  const policy = parsed.success ? parsed.data : DEFAULT_POLICY;
  if (text !== null) {
    if (parsedPolicies.size >= 100) parsedPolicies.delete(parsedPolicies.keys().next().value!);
    parsedPolicies.set(text, policy);
  }
  return policy;
}

/** Replaces the practice's policy (call inside the transaction that audits the change). */
export async function putPolicy(
  db: Db,
  practiceId: string,
  policy: Policy,
  updatedBy: string,
): Promise<{ version: number; updatedAt: string }> {
  const now = nowIso();
  const current = await db
    .selectFrom('practice_policy')
    .select('version')
    .where('practice_id', '=', practiceId)
    .executeTakeFirst();
  const version = (current?.version ?? 0) + 1;
  const json = JSON.stringify(policy);
  if (current) {
    await db
      .updateTable('practice_policy')
      .set({ policy: json, version, updated_at: now, updated_by: updatedBy })
      .where('practice_id', '=', practiceId)
      .execute();
  } else {
    await db
      .insertInto('practice_policy')
      .values({ practice_id: practiceId, policy: json, version, updated_at: now, updated_by: updatedBy })
      .execute();
  }
  return { version, updatedAt: now };
}

// Practices managed by an admin (`attune practice`): a multi-practice deployment maps each sign-in
// (Google `hd`, a development token's email domain, an Entra tenant) and each gateway sender to a
// practice through these rows, read per request, so a running server sees a change at once. The
// writers below run inside the caller's transaction, which audits the change (as putPolicy).

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A mail domain as stored (lower case, ASCII: an internationalised name in its punycode form), or
 * null when `input` is not a plain DNS name of two or more labels (no address, wildcard, port,
 * IP address or trailing junk).
 */
export function normalizeDomain(input: string): string | null {
  let d = input.trim().toLowerCase().replace(/\.$/, '');
  if (d === '' || d.length > 253) return null;
  // domainToASCII ('' when invalid) turns `bücher.example` into `xn--bcher-kva.example`.
  if (/[^\x20-\x7e]/.test(d)) d = domainToASCII(d);
  const labels = d.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null;
  // The top-level label is letters (or punycode): `10.0.0.1` is an address, not a mail domain.
  if (!/^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$/.test(labels[labels.length - 1]!)) return null;
  return d;
}

/** A Microsoft Entra tenant id (`tid`): a GUID, stored in lower case. */
export function normalizeTenantId(input: string): string | null {
  const t = input.trim().toLowerCase();
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(t) ? t : null;
}

export interface PracticeSummary {
  id: string;
  name: string;
  domains: string[];
  replyDomain: string | null;
  entraTenantId: string | null;
  /** Current (not retired) keys: none until the practice's first use or `attune practice add`. */
  keys: { purpose: string; fingerprint: string }[];
  clinicians: number;
  createdAt: string;
  updatedAt: string;
}

/** Every practice with its domains, current keys and clinician count, oldest first. */
export async function listPractices(db: Db): Promise<PracticeSummary[]> {
  const practices = await db
    .selectFrom('practices')
    .selectAll()
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const domains = await db
    .selectFrom('practice_domains')
    .select(['practice_id', 'domain'])
    .orderBy('created_at')
    .orderBy('domain')
    .execute();
  const keys = await db
    .selectFrom('practice_keys')
    .select(['practice_id', 'purpose', 'fingerprint'])
    .where('retired_at', 'is', null)
    .orderBy('purpose')
    .execute();
  const clinicians = await db
    .selectFrom('clinicians')
    .select(['practice_id', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy('practice_id')
    .execute();
  return practices.map((p) => ({
    id: p.id,
    name: p.name,
    domains: domains.filter((d) => d.practice_id === p.id).map((d) => d.domain),
    replyDomain: p.reply_domain,
    entraTenantId: p.entra_tenant_id,
    keys: keys
      .filter((k) => k.practice_id === p.id)
      .map((k) => ({ purpose: k.purpose, fingerprint: k.fingerprint })),
    clinicians: Number(clinicians.find((c) => c.practice_id === p.id)?.n ?? 0),
    createdAt: p.created_at,
    updatedAt: p.updated_at,
  }));
}

/** The id of the practice named by `ref`: its id, or one of its domains. */
export async function findPracticeId(db: Db, ref: string): Promise<string | null> {
  const byId = await db.selectFrom('practices').select('id').where('id', '=', ref).executeTakeFirst();
  if (byId) return byId.id;
  const domain = normalizeDomain(ref);
  if (!domain) return null;
  const byDomain = await db
    .selectFrom('practice_domains')
    .select('practice_id')
    .where('domain', '=', domain)
    .executeTakeFirst();
  return byDomain?.practice_id ?? null;
}

export type PracticeConflict =
  | { ok: false; reason: 'domain_taken'; domain: string; ownerId: string }
  | { ok: false; reason: 'tenant_taken'; ownerId: string }
  | { ok: false; reason: 'unknown_practice' };

/** The first of `domains` that a practice other than `practiceId` owns. */
async function domainConflict(
  tx: Db,
  domains: readonly string[],
  practiceId: string | null,
): Promise<PracticeConflict | null> {
  if (domains.length === 0) return null;
  const owned = await tx
    .selectFrom('practice_domains')
    .select(['domain', 'practice_id'])
    .where('domain', 'in', [...domains])
    .$if(practiceId !== null, (q) => q.where('practice_id', '!=', practiceId!))
    .orderBy('domain')
    .executeTakeFirst();
  return owned
    ? { ok: false, reason: 'domain_taken', domain: owned.domain, ownerId: owned.practice_id }
    : null;
}

async function tenantConflict(
  tx: Db,
  tenantId: string | null | undefined,
  practiceId: string | null,
): Promise<PracticeConflict | null> {
  if (!tenantId) return null;
  const owner = await tx
    .selectFrom('practices')
    .select('id')
    .where('entra_tenant_id', '=', tenantId)
    .$if(practiceId !== null, (q) => q.where('id', '!=', practiceId!))
    .executeTakeFirst();
  return owner ? { ok: false, reason: 'tenant_taken', ownerId: owner.id } : null;
}

/**
 * Adds a practice with its (normalised, distinct) domains, unless a domain or the Entra tenant
 * already belongs to another practice. Call inside the transaction that audits it. Its keys are
 * generated separately (ensurePracticeKeys: crypto, outside the transaction); the policy is the
 * defaults until a practice admin sets one (getPolicy).
 */
export async function addPractice(
  tx: Db,
  p: { name: string; domains: string[]; replyDomain?: string | null; entraTenantId?: string | null },
): Promise<{ ok: true; practiceId: string } | PracticeConflict> {
  const conflict =
    (await domainConflict(tx, p.domains, null)) ?? (await tenantConflict(tx, p.entraTenantId, null));
  if (conflict) return conflict;
  const now = nowIso();
  const practiceId = await insertPractice(tx, p, now);
  for (const domain of p.domains)
    await tx
      .insertInto('practice_domains')
      .values({ domain, practice_id: practiceId, created_at: now })
      .execute();
  return { ok: true, practiceId };
}

/**
 * Makes `domains` the practice's whole set of domains (kept ones keep their order: the first is the
 * notices' default mail domain). Refused when another practice owns one. Call inside the
 * transaction that audits it.
 */
export async function setPracticeDomains(
  tx: Db,
  practiceId: string,
  domains: string[],
): Promise<{ ok: true; added: string[]; removed: string[] } | PracticeConflict> {
  const exists = await tx
    .selectFrom('practices')
    .select('id')
    .where('id', '=', practiceId)
    .executeTakeFirst();
  if (!exists) return { ok: false, reason: 'unknown_practice' };
  const conflict = await domainConflict(tx, domains, practiceId);
  if (conflict) return conflict;
  const current = (
    await tx.selectFrom('practice_domains').select('domain').where('practice_id', '=', practiceId).execute()
  ).map((r) => r.domain);
  const added = domains.filter((d) => !current.includes(d));
  const removed = current.filter((d) => !domains.includes(d));
  const now = nowIso();
  if (removed.length > 0)
    await tx
      .deleteFrom('practice_domains')
      .where('practice_id', '=', practiceId)
      .where('domain', 'in', removed)
      .execute();
  for (const domain of added)
    await tx
      .insertInto('practice_domains')
      .values({ domain, practice_id: practiceId, created_at: now })
      .execute();
  if (added.length > 0 || removed.length > 0)
    await tx.updateTable('practices').set({ updated_at: now }).where('id', '=', practiceId).execute();
  return { ok: true, added, removed };
}

/**
 * Changes a practice's name, reply domain or Entra tenant (undefined: unchanged; null: cleared).
 * Refused when another practice has the tenant. Call inside the transaction that audits it.
 */
export async function updatePractice(
  tx: Db,
  practiceId: string,
  changes: { name?: string; replyDomain?: string | null; entraTenantId?: string | null },
): Promise<{ ok: true; changed: string[] } | PracticeConflict> {
  const row = await tx.selectFrom('practices').selectAll().where('id', '=', practiceId).executeTakeFirst();
  if (!row) return { ok: false, reason: 'unknown_practice' };
  const conflict = await tenantConflict(tx, changes.entraTenantId, practiceId);
  if (conflict) return conflict;
  const set: { name?: string; reply_domain?: string | null; entra_tenant_id?: string | null } = {};
  if (changes.name !== undefined && changes.name !== row.name) set.name = changes.name;
  if (changes.replyDomain !== undefined && changes.replyDomain !== row.reply_domain)
    set.reply_domain = changes.replyDomain;
  if (changes.entraTenantId !== undefined && changes.entraTenantId !== row.entra_tenant_id)
    set.entra_tenant_id = changes.entraTenantId;
  const changed = Object.keys(set);
  if (changed.length > 0)
    await tx
      .updateTable('practices')
      .set({ ...set, updated_at: nowIso() })
      .where('id', '=', practiceId)
      .execute();
  return { ok: true, changed };
}

/** A new practices row (its domains are the caller's); its id. */
async function insertPractice(
  tx: Db,
  p: { name: string; replyDomain?: string | null; entraTenantId?: string | null },
  now: string,
): Promise<string> {
  const id = newId();
  await tx
    .insertInto('practices')
    .values({
      id,
      name: p.name,
      reply_domain: p.replyDomain ?? null,
      entra_tenant_id: p.entraTenantId ?? null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return id;
}
