import { DEFAULT_TRIAGE_WEIGHTS, TriageWeightsSchema, type TriageWeights } from '@attune/shared/engagement';
import type { Db } from '../store/index.ts';
import { nowIso, parseJsonColumn } from '../store/index.ts';
import { edb } from './db.ts';

// Per-practice engagement settings: triage weights (admin-set, PUT /v1/caseload/weights) and whether
// mailbox sync may read message bodies (off by default: metadata is enough for reply timing).

/** The practice's triage weights: stored values over the defaults (a field added later gets its default). */
export async function getTriageWeights(db: Db, practiceId: string): Promise<TriageWeights> {
  const row = await edb(db)
    .selectFrom('engagement_settings')
    .select('triage_weights')
    .where('practice_id', '=', practiceId)
    .executeTakeFirst();
  if (!row) return DEFAULT_TRIAGE_WEIGHTS;
  const parsed = TriageWeightsSchema.safeParse(parseJsonColumn<unknown>(row.triage_weights, {}));
  return parsed.success ? parsed.data : DEFAULT_TRIAGE_WEIGHTS;
}

async function upsert(
  db: Db,
  practiceId: string,
  set: { triage_weights?: string; mailbox_bodies?: number },
  by: string | null,
  now: Date,
): Promise<void> {
  const t = nowIso(now);
  await edb(db)
    .insertInto('engagement_settings')
    .values({
      practice_id: practiceId,
      triage_weights: set.triage_weights ?? '{}',
      mailbox_bodies: set.mailbox_bodies ?? 0,
      updated_at: t,
      updated_by: by,
    })
    .onConflict((oc) => oc.column('practice_id').doUpdateSet({ ...set, updated_at: t, updated_by: by }))
    .execute();
}

/** Replaces the practice's weights (call inside the transaction that audits the change). */
export async function putTriageWeights(
  db: Db,
  practiceId: string,
  weights: TriageWeights,
  by: string,
  now: Date,
): Promise<void> {
  await upsert(db, practiceId, { triage_weights: JSON.stringify(weights) }, by, now);
}

/** Whether mailbox sync may read bodies for this practice (default false). */
export async function mailboxBodiesEnabled(db: Db, practiceId: string): Promise<boolean> {
  const row = await edb(db)
    .selectFrom('engagement_settings')
    .select('mailbox_bodies')
    .where('practice_id', '=', practiceId)
    .executeTakeFirst();
  return Number(row?.mailbox_bodies ?? 0) === 1;
}

export async function setMailboxBodies(
  db: Db,
  practiceId: string,
  enabled: boolean,
  by: string | null,
  now: Date,
): Promise<void> {
  await upsert(db, practiceId, { mailbox_bodies: enabled ? 1 : 0 }, by, now);
}
