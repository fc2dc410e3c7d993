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
 */
export async function ensurePractice(
  db: Db,
  p: PracticeBootstrap,
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
      practiceId = newId();
      created = true;
      await tx
        .insertInto('practices')
        .values({
          id: practiceId,
          name: p.name,
          reply_domain: p.replyDomain ?? null,
          entra_tenant_id: p.entraTenantId ?? null,
          created_at: now,
          updated_at: now,
        })
        .execute();
    } else {
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
    for (const domain of p.domains) {
      await tx
        .insertInto('practice_domains')
        .values({ domain, practice_id: practiceId, created_at: now })
        .onConflict((oc) => oc.column('domain').doNothing())
        .execute();
    }
    return { practiceId, created };
  });
}

/** The practice's effective policy: its stored policy, or the safe defaults. */
export async function getPolicy(
  db: Db,
  practiceId: string,
): Promise<{ policy: Policy; version: number; updatedAt: string | null }> {
  const [row] = await runCompiled(db, 'policy:get', [practiceId], () =>
    db.selectFrom('practice_policy').selectAll().where('practice_id', '=', practiceId),
  );
  if (!row) return { policy: DEFAULT_POLICY, version: 0, updatedAt: null };
  return { policy: parsePolicy(row.policy), version: row.version, updatedAt: row.updated_at };
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
