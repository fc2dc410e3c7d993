import type { MasterKey } from '../crypto/index.ts';
import { signCleartext } from '../crypto/index.ts';
import { newId, nowIso, type Db } from '../store/index.ts';
import { GENESIS_HASH } from './chain.ts';
import {
  checkCheckpoint,
  checkpointKeys,
  checkpointText,
  practiceOfChain,
  type CheckpointKeys,
  type CheckpointSigner,
  type CheckpointStatement,
} from './checkpoint.ts';
import { verifyChainFrom, type ChainBreak } from './verify.ts';

export interface WrittenCheckpoint extends CheckpointStatement {
  fingerprint: string;
  signed: string;
}

export interface CheckpointRun {
  written: WrittenCheckpoint[];
  /** Chains that grew but did not verify from their last checkpoint: not signed (an alarm). */
  refused: ChainBreak[];
}

/**
 * Signs a checkpoint of every chain that has grown since its last valid one, and stores it. The
 * entries since then are verified first (from that checkpoint's signed head, or from the start when
 * there is none): a chain altered in between is refused, never signed. `signerFor` gives the signing
 * key of a practice (null: the deployment's own chain). Safe to run from several processes: a
 * second statement of the same chain and length is dropped.
 */
export async function writeCheckpoints(
  db: Db,
  signerFor: (practiceId: string | null) => Promise<CheckpointSigner>,
  opts: { masterKey?: MasterKey; now?: Date } = {},
): Promise<CheckpointRun> {
  const now = opts.now ?? new Date();
  const heads = await db.selectFrom('chain_heads').selectAll().orderBy('chain').execute();
  const run: CheckpointRun = { written: [], refused: [] };
  let trusted: CheckpointKeys | null = null;
  for (const h of heads) {
    if (h.seq <= 0) continue;
    const last = await db
      .selectFrom('chain_checkpoints')
      .select(['seq', 'signed'])
      .where('chain', '=', h.chain)
      .orderBy('seq', 'desc')
      .limit(5)
      .execute();
    trusted ??= await checkpointKeys(db, opts.masterKey);
    // From the longest valid checkpoint (a forged row, even of a greater length, is passed over; more
    // than a few of them and the walk starts from the first entry), or from the start.
    let from = { seq: 0, head: GENESIS_HASH };
    for (const row of last) {
      const checked = await checkCheckpoint(row.signed, trusted);
      if (checked.ok && checked.statement.chain === h.chain) {
        from = { seq: checked.statement.seq, head: checked.statement.head };
        break;
      }
    }
    if (from.seq > h.seq) {
      // Shorter than it was signed to be: cut short since.
      run.refused.push({ chain: h.chain, seq: h.seq + 1, id: null, reason: 'checkpoint_mismatch' });
      continue;
    }
    if (from.seq === h.seq) continue;
    const report = await verifyChainFrom(db, h.chain, from);
    if (report.break) {
      run.refused.push(report.break);
      continue;
    }
    if (report.entries <= from.seq) continue;
    const statement: CheckpointStatement = {
      chain: h.chain,
      seq: report.entries,
      head: report.head,
      at: nowIso(now),
    };
    const signer = await signerFor(practiceOfChain(h.chain));
    const signed = await signCleartext(checkpointText(statement), signer.privateKey, now);
    const res = await db
      .insertInto('chain_checkpoints')
      .values({ id: newId(), ...statement, fingerprint: signer.fingerprint, signed })
      .onConflict((oc) => oc.columns(['chain', 'seq']).doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 1n) > 0)
      run.written.push({ ...statement, fingerprint: signer.fingerprint, signed });
  }
  return run;
}
