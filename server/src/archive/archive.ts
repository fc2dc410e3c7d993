import { createHash } from 'node:crypto';
import type { Db } from '../store/index.ts';
import { newId, nowIso } from '../store/index.ts';
import { insertRow } from '../store/compiled.ts';
import type { ArchiveEntriesTable } from '../store/schema.ts';
import { appendToChain, canonical, chainHash } from '../audit/chain.ts';

// The archive: every sent message and every reply, encrypted to the practice's archive key by the
// caller (crypto wrapper), appended to a per-practice hash chain. The chain covers the ciphertext
// through its SHA-256, so a changed blob is caught as well as a changed row.

export const archiveChain = (practiceId: string): string => `archive:${practiceId}`;

export type ArchiveKind = 'message' | 'reply';

export interface ArchiveEntryInput {
  practiceId: string;
  kind: ArchiveKind;
  /** The message or reply id this entry archives. */
  refId: string;
  /** Content already encrypted to the practice's archive key (never plaintext). */
  ciphertext: Uint8Array;
  at?: Date;
}

export function archiveCanonical(
  row: Omit<ArchiveEntriesTable, 'hash' | 'prev_hash' | 'ciphertext'>,
): string {
  return canonical({
    id: row.id,
    chain: row.chain,
    seq: row.seq,
    practice_id: row.practice_id,
    at: row.at,
    kind: row.kind,
    ref_id: row.ref_id,
    ciphertext_sha256: row.ciphertext_sha256,
  });
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Appends an archive entry inside the caller's transaction (or its own, given a plain Db). */
export async function appendArchive(
  tx: Db,
  entry: ArchiveEntryInput,
): Promise<{ id: string; seq: number; hash: string }> {
  if (!tx.isTransaction) return tx.transaction().execute((inner) => appendArchive(inner, entry));
  const id = newId();
  const chain = archiveChain(entry.practiceId);
  const ciphertext = Buffer.from(entry.ciphertext);
  const result = await appendToChain(tx, chain, async ({ seq, prevHash }) => {
    const row = {
      id,
      chain,
      seq,
      practice_id: entry.practiceId,
      at: nowIso(entry.at),
      kind: entry.kind,
      ref_id: entry.refId,
      ciphertext_sha256: sha256Hex(ciphertext),
    };
    const hash = chainHash(prevHash, archiveCanonical(row));
    await insertRow(tx, 'archive_entries', { ...row, ciphertext, prev_hash: prevHash, hash });
    return hash;
  });
  return { id, seq: result.seq, hash: result.hash };
}
