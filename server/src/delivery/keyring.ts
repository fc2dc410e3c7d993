import { appendAudit, AUDIT } from '../audit/index.ts';
import {
  generatePracticeKeys,
  loadPrivateKey,
  loadPublicKey,
  type MasterKey,
  type PracticeKeyPurpose,
  type PrivateKey,
  type PublicKey,
} from '../crypto/index.ts';
import { newId, nowIso, type Db } from '../store/index.ts';

// A practice's live keys, parsed and unsealed. The first call for a practice without keys generates
// them (issue 3: "generated on first start"); startServer may call ensurePracticeKeys up front.

export interface Keyring {
  practiceId: string;
  signing: { publicKey: PublicKey; privateKey: PrivateKey; fingerprint: string };
  archive: { publicKey: PublicKey; privateKey: PrivateKey; fingerprint: string };
}

const CACHE_MS = 60_000;
const cache = new Map<string, { at: number; value: Promise<Keyring> }>();

/**
 * Generates the practice's signing and archive keys if it has none, sealed under the master key;
 * audited. Idempotent, and safe when two processes start together. `email` goes into the keys'
 * user ID (the practice's sending address). Returns the keys it generated.
 */
export async function ensurePracticeKeys(
  db: Db,
  masterKey: MasterKey,
  practiceId: string,
  opts: { email?: string } = {},
): Promise<{ created: boolean; generated: { purpose: PracticeKeyPurpose; fingerprint: string }[] }> {
  const existing = await db
    .selectFrom('practice_keys')
    .select('purpose')
    .where('practice_id', '=', practiceId)
    .where('retired_at', 'is', null)
    .execute();
  const have = new Set(existing.map((r) => r.purpose));
  if (have.has('signing') && have.has('archive')) return { created: false, generated: [] };
  const practice = await db
    .selectFrom('practices')
    .select('name')
    .where('id', '=', practiceId)
    .executeTakeFirst();
  if (!practice) throw new Error('ensurePracticeKeys: unknown practice');
  const keys = await generatePracticeKeys({
    practiceId,
    practiceName: practice.name,
    ...(opts.email ? { email: opts.email } : {}),
    masterKey,
  });
  const generated: { purpose: PracticeKeyPurpose; fingerprint: string }[] = [];
  await db.transaction().execute(async (tx) => {
    // Re-check inside the transaction: two processes starting together must not both add keys.
    const again = await tx
      .selectFrom('practice_keys')
      .select('purpose')
      .where('practice_id', '=', practiceId)
      .where('retired_at', 'is', null)
      .execute();
    const now = nowIso();
    for (const purpose of ['signing', 'archive'] as const) {
      if (again.some((r) => r.purpose === purpose)) continue;
      const k = keys[purpose];
      const id = newId();
      await tx
        .insertInto('practice_keys')
        .values({
          id,
          practice_id: practiceId,
          purpose,
          fingerprint: k.fingerprint,
          public_key: k.publicKey,
          sealed_private_key: k.sealedPrivateKey,
          created_at: now,
          retired_at: null,
        })
        .execute();
      await appendAudit(tx, {
        action: AUDIT.KEY_CHANGE,
        outcome: 'success',
        actor: { type: 'system' },
        practiceId,
        target: { type: 'practice_key', id },
        details: { purpose, operation: 'generate', fingerprint: k.fingerprint },
      });
      generated.push({ purpose, fingerprint: k.fingerprint });
    }
  });
  cache.delete(practiceId);
  return { created: generated.length > 0, generated };
}

async function load(db: Db, masterKey: MasterKey, practiceId: string): Promise<Keyring> {
  await ensurePracticeKeys(db, masterKey, practiceId);
  const rows = await db
    .selectFrom('practice_keys')
    .select(['purpose', 'public_key', 'sealed_private_key', 'fingerprint', 'created_at'])
    .where('practice_id', '=', practiceId)
    .where('retired_at', 'is', null)
    .orderBy('created_at', 'desc')
    .execute();
  const pick = async (purpose: PracticeKeyPurpose) => {
    const row = rows.find((r) => r.purpose === purpose);
    if (!row) throw new Error(`practice ${purpose} key missing`);
    return {
      publicKey: await loadPublicKey(row.public_key),
      privateKey: await loadPrivateKey(masterKey, practiceId, purpose, row.sealed_private_key),
      fingerprint: row.fingerprint,
    };
  };
  return { practiceId, signing: await pick('signing'), archive: await pick('archive') };
}

/** The practice's keyring, cached for a minute (a rotated key is picked up within that). */
export function getKeyring(db: Db, masterKey: MasterKey, practiceId: string): Promise<Keyring> {
  const hit = cache.get(practiceId);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.value;
  const value = load(db, masterKey, practiceId);
  cache.set(practiceId, { at: Date.now(), value });
  value.catch(() => cache.delete(practiceId));
  return value;
}
