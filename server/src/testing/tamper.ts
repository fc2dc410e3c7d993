import { archiveCanonical, sha256Hex } from '../archive/archive.ts';
import { chainHash } from '../audit/chain.ts';
import { encryptForArchive, readPublicKey } from '../crypto/index.ts';
import type { Db } from '../store/index.ts';

// Tests: what someone who can write the database but has not the master key can put in body_ct:
// content of their own, encrypted to the practice's archive key, whose public half is in the
// database (public by design). It decrypts like ours; only the content MAC tells it apart.

/** A forged body_ct: `content` (a StoredContent or StoredReply) encrypted to the practice's archive key. */
export async function forgeBodyCt(db: Db, practiceId: string, content: object): Promise<Buffer> {
  const row = await db
    .selectFrom('practice_keys')
    .select('public_key')
    .where('practice_id', '=', practiceId)
    .where('purpose', '=', 'archive')
    .where('retired_at', 'is', null)
    .executeTakeFirstOrThrow();
  const key = await readPublicKey(row.public_key);
  if (!key.ok) throw new Error(`archive public key not usable: ${key.reason}`);
  return Buffer.from(await encryptForArchive(JSON.stringify(content), key.key));
}

/** Attacker content for a message, in the stored form. */
export const FORGED_MESSAGE = {
  v: 1,
  subject: 'Updated payment details',
  text: 'FORGED: please wire your copay to the new account.',
  attachments: [],
} as const;

/** Attacker content for a reply, in the stored form. */
export const FORGED_REPLY = { v: 1, text: 'FORGED: stop my medication.', source: 'viewer' } as const;

/**
 * The rest of what such an attacker can do: put `ciphertext` into the archive entry of a message or
 * reply too, and recompute its chain's hashes from there to the head (the chain is keyed by
 * nothing). Every unsigned check of the archive then passes; a signed checkpoint does not.
 */
export async function rewriteArchived(
  db: Db,
  kind: 'message' | 'reply',
  refId: string,
  ciphertext: Buffer,
  opts: { newRefId?: string } = {},
): Promise<void> {
  const entry = await db
    .selectFrom('archive_entries')
    .select(['chain', 'seq'])
    .where('kind', '=', kind)
    .where('ref_id', '=', refId)
    .executeTakeFirstOrThrow();
  await db
    .updateTable('archive_entries')
    .set({
      ciphertext,
      ciphertext_sha256: sha256Hex(ciphertext),
      ...(opts.newRefId ? { ref_id: opts.newRefId } : {}),
    })
    .where('kind', '=', kind)
    .where('ref_id', '=', refId)
    .execute();
  const rows = await db
    .selectFrom('archive_entries')
    .selectAll()
    .where('chain', '=', entry.chain)
    .where('seq', '>=', entry.seq)
    .orderBy('seq')
    .execute();
  let prev = rows[0]!.prev_hash;
  for (const r of rows) {
    const hash = chainHash(prev, archiveCanonical(r));
    await db.updateTable('archive_entries').set({ prev_hash: prev, hash }).where('id', '=', r.id).execute();
    prev = hash;
  }
  await db.updateTable('chain_heads').set({ head: prev }).where('chain', '=', entry.chain).execute();
}
