import { newId, type Db } from './store.ts';

/**
 * The clinician account of `email` in the practice, created (role clinician, enabled, never signed in)
 * when there is none; concurrent callers get the same row. `created` says whether this call made it
 * (the caller audits that). For an account made before a first sign-in: the gateway's first mail
 * from a practice sender, the demo clinician.
 */
export async function ensureClinician(
  db: Db,
  practiceId: string,
  email: string,
  at: string,
): Promise<{ id: string; disabled: boolean; created: boolean }> {
  const id = newId();
  await db
    .insertInto('clinicians')
    .values({
      id,
      practice_id: practiceId,
      email,
      name: null,
      role: 'clinician',
      external_subject: null,
      disabled: 0,
      created_at: at,
      updated_at: at,
      last_login_at: null,
    })
    .onConflict((oc) => oc.columns(['practice_id', 'email']).doNothing())
    .execute();
  const row = await db
    .selectFrom('clinicians')
    .select(['id', 'disabled'])
    .where('practice_id', '=', practiceId)
    .where('email', '=', email)
    .executeTakeFirstOrThrow();
  return { id: row.id, disabled: row.disabled !== 0, created: row.id === id };
}
