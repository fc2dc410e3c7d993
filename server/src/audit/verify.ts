import type { Db } from '../store/index.ts';
import { archiveCanonical, sha256Hex } from '../archive/archive.ts';
import { leafHash, merkleRoot } from '../archive/merkle.ts';
import { auditCanonical } from './audit.ts';
import { chainHash, GENESIS_HASH } from './chain.ts';

// `attune verify`: recompute every chain from its first entry and report the first break.

export type BreakReason =
  | 'seq_gap' // an entry is missing (deleted) or out of order
  | 'prev_mismatch' // the entry does not link to the one before it
  | 'hash_mismatch' // the entry's content was changed after it was written
  | 'ciphertext_mismatch' // an archive blob was changed
  | 'head_mismatch'; // the chain was truncated or its head rewritten

export interface ChainBreak {
  chain: string;
  seq: number;
  id: string | null;
  reason: BreakReason;
}

export interface ChainReport {
  chain: string;
  entries: number;
  head: string;
  /** RFC 6962 Merkle root over the entries' canonical forms (archive chains). */
  merkleRoot?: string;
  break?: ChainBreak;
}

export interface VerifyReport {
  ok: boolean;
  chains: ChainReport[];
  firstBreak?: ChainBreak;
}

const PAGE = 1000;

export async function verifyChains(db: Db): Promise<VerifyReport> {
  const heads = await db.selectFrom('chain_heads').selectAll().orderBy('chain').execute();
  const chains: ChainReport[] = [];
  for (const h of heads) {
    const report = h.chain.startsWith('archive:')
      ? await verifyArchiveChain(db, h.chain)
      : await verifyAuditChain(db, h.chain);
    if (!report.break && (report.entries !== h.seq || report.head !== h.head)) {
      report.break = { chain: h.chain, seq: report.entries + 1, id: null, reason: 'head_mismatch' };
    }
    chains.push(report);
  }
  const firstBreak = chains.find((c) => c.break)?.break;
  return { ok: !firstBreak, chains, ...(firstBreak ? { firstBreak } : {}) };
}

async function verifyAuditChain(db: Db, chain: string): Promise<ChainReport> {
  let prev = GENESIS_HASH;
  let expected = 1;
  for (let after = 0; ;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('chain', '=', chain)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      const broken = check(chain, row, expected, prev, chainHash(row.prev_hash, auditCanonical(row)));
      if (broken) return { chain, entries: expected - 1, head: prev, break: broken };
      prev = row.hash;
      expected++;
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]?.seq ?? after;
  }
  return { chain, entries: expected - 1, head: prev };
}

async function verifyArchiveChain(db: Db, chain: string): Promise<ChainReport> {
  let prev = GENESIS_HASH;
  let expected = 1;
  const leaves: Buffer[] = [];
  for (let after = 0; ;) {
    const rows = await db
      .selectFrom('archive_entries')
      .selectAll()
      .where('chain', '=', chain)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      const canon = archiveCanonical(row);
      const broken = check(chain, row, expected, prev, chainHash(row.prev_hash, canon));
      if (broken) return { chain, entries: expected - 1, head: prev, break: broken };
      if (sha256Hex(row.ciphertext) !== row.ciphertext_sha256) {
        return {
          chain,
          entries: expected - 1,
          head: prev,
          break: { chain, seq: row.seq, id: row.id, reason: 'ciphertext_mismatch' },
        };
      }
      leaves.push(leafHash(canon));
      prev = row.hash;
      expected++;
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]?.seq ?? after;
  }
  return { chain, entries: expected - 1, head: prev, merkleRoot: merkleRoot(leaves).toString('hex') };
}

function check(
  chain: string,
  row: { seq: number; id: string; prev_hash: string; hash: string },
  expectedSeq: number,
  prev: string,
  recomputed: string,
): ChainBreak | undefined {
  if (row.seq !== expectedSeq) return { chain, seq: expectedSeq, id: row.id, reason: 'seq_gap' };
  if (row.prev_hash !== prev) return { chain, seq: row.seq, id: row.id, reason: 'prev_mismatch' };
  if (recomputed !== row.hash) return { chain, seq: row.seq, id: row.id, reason: 'hash_mismatch' };
  return undefined;
}
