import { sql } from 'kysely';
import { checkContentMac, signCleartext, type MasterKey } from '../crypto/index.ts';
import { newId, nowIso, type Db } from '../store/index.ts';
import { appendAudit } from './audit.ts';
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
import { AUDIT, type AuditEventInput } from './events.ts';
import { verifyChainFrom, type ChainBreak } from './verify.ts';

export interface WrittenCheckpoint extends CheckpointStatement {
  fingerprint: string;
  signed: string;
}

export interface CheckpointRun {
  written: (WrittenCheckpoint & { id: string })[];
  /** Chains that grew but did not verify from their last checkpoint: not signed (an alarm). */
  refused: ChainBreak[];
}

/**
 * Signs a checkpoint of every chain that has grown since its last valid one, and stores it. The
 * entries since then are verified first (from that checkpoint's signed head, or from the start when
 * there is none): a chain altered in between is refused, never signed. `signerFor` gives the signing
 * key of a practice (null: the deployment's own chain). Safe to run from several processes: a
 * second statement of the same chain and length is dropped.
 *
 * Each checkpoint written is audited (HIPAA 164.312(b)) in the same transaction, in the audit chain
 * of the chain's practice, by `actor` (the server: system; `attune checkpoint`: cli and the OS
 * user), and so is each refusal (outcome failure). The event about a checkpoint of an audit chain
 * lands in that chain after the signed head, so the next checkpoint covers it; an audit chain that
 * grew by nothing but such events is not signed again, or every run would sign the event of the
 * run before it, for ever.
 */
export interface WriteCheckpointsOptions {
  masterKey?: MasterKey;
  now?: Date;
  actor?: AuditEventInput['actor'];
  /**
   * The upgrade to content MACs (store/content-macs.ts rule (a)), run by the process that applies
   * migration 0008, just before it: sign the archive chains as they stand, their rows' MACs not
   * checked (there are none yet), every other check kept (links, hashes, head, each entry's row
   * there and equal to it). Audit chains are left to the next run.
   */
  upgrade?: boolean;
}

export async function writeCheckpoints(
  db: Db,
  signerFor: (practiceId: string | null) => Promise<CheckpointSigner>,
  opts: WriteCheckpointsOptions = {},
): Promise<CheckpointRun> {
  const now = opts.now ?? new Date();
  const actor = opts.actor ?? { type: 'system' as const };
  const run: CheckpointRun = { written: [], refused: [] };
  // References only: the chain's name, a length, a hash, a reason code.
  const refuse = async (b: ChainBreak): Promise<void> => {
    run.refused.push(b);
    await appendAudit(db, {
      action: AUDIT.CHAIN_CHECKPOINT,
      outcome: 'failure',
      actor,
      practiceId: practiceOfChain(b.chain),
      target: { type: 'chain', id: b.chain },
      details: { chain: b.chain, seq: b.seq, reason: b.reason },
    });
  };
  const heads = await db.selectFrom('chain_heads').selectAll().orderBy('chain').execute();
  let trusted: CheckpointKeys | null = null;
  for (const h of heads) {
    if (h.seq <= 0) continue;
    if (opts.upgrade && !h.chain.startsWith('archive:')) continue;
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
    let from: { seq: number; head: string; quarantined: readonly number[] } = {
      seq: 0,
      head: GENESIS_HASH,
      quarantined: [],
    };
    for (const row of last) {
      const checked = await checkCheckpoint(row.signed, trusted);
      if (checked.ok && checked.statement.chain === h.chain) {
        const st = checked.statement;
        from = { seq: st.seq, head: st.head, quarantined: st.quarantined ?? [] };
        break;
      }
    }
    if (from.seq > h.seq) {
      // Shorter than it was signed to be: cut short since.
      await refuse({ chain: h.chain, seq: h.seq + 1, id: null, reason: 'checkpoint_mismatch' });
      continue;
    }
    if (from.seq === h.seq) continue;
    const report = await verifyChainFrom(db, h.chain, from);
    if (report.break) {
      await refuse(report.break);
      continue;
    }
    if (report.entries <= from.seq) continue;
    const isAudit = !h.chain.startsWith('archive:');
    if (isAudit && !(await auditedSince(db, h.chain, from.seq, report.entries))) continue;
    // Quarantined entries of the stretch signed before, carried on (see CheckpointStatement).
    let quarantined = [...from.quarantined];
    if (!isAudit && (opts.masterKey || opts.upgrade)) {
      const content = await unvouchedContent(
        db,
        opts.upgrade ? null : opts.masterKey!,
        h.chain,
        from.seq,
        report.entries,
      );
      if (content.break) {
        await refuse(content.break);
        continue;
      }
      quarantined = [...quarantined, ...content.quarantined];
    }
    // Quarantined since the last checkpoint, though that checkpoint covers their entries already
    // (the admin quarantined a row it covers): named now, or nothing signed would say so, and a
    // marker deleted later would leave a row the start-up backfill binds on that checkpoint's word.
    if (!isAudit && opts.masterKey && !opts.upgrade && from.seq > 0) {
      const earlier = await quarantinedCovered(db, opts.masterKey, h.chain, from.seq);
      if (earlier.some((q) => !quarantined.includes(q)))
        quarantined = [...new Set([...quarantined, ...earlier])].sort((a, b) => a - b);
    }
    const statement: CheckpointStatement = {
      chain: h.chain,
      seq: report.entries,
      head: report.head,
      at: nowIso(now),
      ...(quarantined.length > 0 ? { quarantined } : {}),
    };
    const signer = await signerFor(practiceOfChain(h.chain));
    const signed = await signCleartext(checkpointText(statement), signer.privateKey, now);
    const id = newId();
    const insert = async (tx: Db): Promise<boolean> => {
      const res = await tx
        .insertInto('chain_checkpoints')
        // (The quarantined seqs live in the signed text only: what counts is what was signed.)
        .values({
          id,
          chain: statement.chain,
          seq: statement.seq,
          head: statement.head,
          at: statement.at,
          fingerprint: signer.fingerprint,
          signed,
        })
        .onConflict((oc) => oc.columns(['chain', 'seq']).doNothing())
        .executeTakeFirst();
      // Another process signed this chain at this length first: its run audits it.
      if (Number(res.numInsertedOrUpdatedRows ?? 1n) === 0) return false;
      await appendAudit(tx, {
        action: AUDIT.CHAIN_CHECKPOINT,
        outcome: 'success',
        actor,
        practiceId: practiceOfChain(h.chain),
        target: { type: 'chain_checkpoint', id },
        details: {
          chain: statement.chain,
          seq: statement.seq,
          head: statement.head,
          fingerprint: signer.fingerprint,
          ...(quarantined.length > 0 ? { quarantined: quarantined.length } : {}),
        },
      });
      return true;
    };
    // (The upgrade runs inside the migration's transaction on PostgreSQL.)
    const inserted = db.isTransaction ? await insert(db) : await db.transaction().execute(insert);
    if (inserted) run.written.push({ id, ...statement, fingerprint: signer.fingerprint, signed });
  }
  return run;
}

const PAGE = 500;

/**
 * The first message or reply in archive chain `chain` between seq `after` and `to` whose stored row
 * the master key does not vouch for: its content MAC is missing or wrong, or its body_ct is not the
 * entry's ciphertext. The chain is keyed by nothing, so someone who can write the database can clear
 * a row's MAC, put the same forged ciphertext in the row and its entry, and recompute the hashes; the
 * stretch then verifies. Signing it would vouch for the forgery, and the start-up backfill binds a
 * MAC-less row a checkpoint covers (store/content-macs.ts): so such a stretch is refused, an alarm
 * on every run, like any other break. So is an entry without its row (reason row_missing). A store
 * without the MAC columns (an admin command on a store the server has not migrated past 0008) has
 * nothing to check.
 *
 * A row an admin quarantined (a valid quarantine marker in place of its MAC, crypto/content-mac.ts)
 * is no break: its seq is returned in `quarantined`, and the checkpoint names it as such, so the
 * statement never vouches for that content, and no start-up binds it on that checkpoint's word even
 * when the marker is later deleted (the rule the backfill keeps). Its entry may differ from the row
 * (the marker binds the row's content as the admin saw it): neither is vouched for.
 *
 * `masterKey` null: the upgrade's run (WriteCheckpointsOptions.upgrade): MACs are not checked, the
 * rest is.
 */
async function unvouchedContent(
  db: Db,
  masterKey: MasterKey | null,
  chain: string,
  after: number,
  to: number,
): Promise<{ break: ChainBreak | null; quarantined: number[] }> {
  let first: ChainBreak | null = null;
  const quarantined: number[] = [];
  for (const [table, kind] of [
    ['messages', 'message'],
    ['replies', 'reply'],
  ] as const) {
    // (Widened: both tables have the columns used here.)
    const t: 'messages' = table as 'messages';
    let from = after;
    for (let more = true; more;) {
      let rows;
      try {
        rows = await db
          .selectFrom('archive_entries as ae')
          // The row of the entry's own practice: an entry naming another practice's row has none.
          .leftJoin(`${t} as r`, (j) =>
            j.onRef('r.id', '=', 'ae.ref_id').onRef('r.practice_id', '=', 'ae.practice_id'),
          )
          .select([
            'ae.seq',
            'ae.id',
            'ae.ciphertext',
            'ae.ref_id',
            'r.id as ref',
            'r.practice_id',
            'r.body_ct',
          ])
          .$if(masterKey !== null, (q) => q.select('r.body_mac'))
          .where('ae.chain', '=', chain)
          .where('ae.kind', '=', kind)
          .where('ae.seq', '>', from)
          // Past the first found in the other table is of no interest.
          .where('ae.seq', '<=', first ? first.seq - 1 : to)
          .orderBy('ae.seq')
          .limit(PAGE)
          .execute();
      } catch (err) {
        if (await hasMacColumns(db)) throw err;
        return { break: null, quarantined: [] };
      }
      more = rows.length === PAGE;
      for (const r of rows) {
        // An entry whose row is not (yet) there: signed now, a row written later with the same
        // ciphertext (anyone can encrypt to the archive's public key) and no MAC would be bound at
        // the next start as one a checkpoint covers. Rows are never deleted.
        if (r.ref === null || r.practice_id === null || r.body_ct === null) {
          first = { chain, seq: r.seq, id: r.id, reason: 'row_missing', ref: r.ref_id };
          more = false;
          break;
        }
        const mac = masterKey
          ? checkContentMac(
              masterKey,
              table,
              { id: r.ref, practiceId: r.practice_id, bodyCt: r.body_ct },
              (r as { body_mac?: string | null }).body_mac ?? null,
            )
          : ({ ok: true } as const);
        // Signed past as quarantined only as the row's one entry: an entry pointed at a quarantined
        // row after the last checkpoint (its ref_id rewritten, the chain re-hashed) would otherwise
        // be signed past with whatever content it carries. The row's genuine entry is either covered
        // by a checkpoint (then this is a second one) or is itself to be signed here (then one of
        // the two names another row, and is refused there).
        if (!mac.ok && mac.reason === 'content_quarantined') {
          const entries = await db
            .selectFrom('archive_entries')
            .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
            .where('kind', '=', kind)
            .where('ref_id', '=', r.ref)
            .executeTakeFirstOrThrow();
          if (Number(entries.n) === 1) {
            quarantined.push(r.seq);
            continue;
          }
          first = { chain, seq: r.seq, id: r.id, reason: 'content_mismatch', ref: r.ref };
          more = false;
          break;
        }
        const reason = !mac.ok
          ? mac.reason
          : Buffer.compare(r.body_ct, r.ciphertext) !== 0
            ? 'content_mismatch'
            : null;
        if (reason) {
          first = { chain, seq: r.seq, id: r.id, reason, ref: r.ref };
          more = false;
          break;
        }
      }
      if (more) from = rows[rows.length - 1]!.seq;
    }
  }
  return { break: first, quarantined: quarantined.sort((a, b) => a - b) };
}

/**
 * The rows of `table` with a quarantine marker, of every practice (a handful, found through the
 * partial index of migration 0015: the predicate is the index's own, word for word; with a
 * practice_id condition too, SQLite prefers the practice's index and reads all its rows).
 */
export function quarantinedRowsQuery(db: Db, table: 'messages' | 'replies') {
  // (Widened: both tables have the columns used here.)
  const t: 'messages' = table as 'messages';
  return db
    .selectFrom(t)
    .select(['id', 'practice_id', 'body_ct', 'body_mac'])
    .where(sql<boolean>`body_mac like 'cq1.%'`);
}

/**
 * The seqs (at most `upTo`, the last checkpoint's length) of archive chain `chain` whose stored row
 * carries a valid quarantine marker, under the same rule as unvouchedContent: the row's one entry
 * only (a second entry pointed at it is no quarantine of it).
 */
async function quarantinedCovered(
  db: Db,
  masterKey: MasterKey,
  chain: string,
  upTo: number,
): Promise<number[]> {
  const practiceId = practiceOfChain(chain);
  if (practiceId === null) return [];
  const out: number[] = [];
  for (const [table, kind] of [
    ['messages', 'message'],
    ['replies', 'reply'],
  ] as const) {
    let rows;
    try {
      rows = await quarantinedRowsQuery(db, table).execute();
    } catch (err) {
      if (await hasMacColumns(db)) throw err;
      return [];
    }
    for (const r of rows) {
      if (r.practice_id !== practiceId) continue;
      const mac = checkContentMac(
        masterKey,
        table,
        { id: r.id, practiceId: r.practice_id, bodyCt: r.body_ct },
        r.body_mac,
      );
      if (mac.ok || mac.reason !== 'content_quarantined') continue;
      const entries = await db
        .selectFrom('archive_entries')
        .select(['chain', 'seq'])
        .where('kind', '=', kind)
        .where('ref_id', '=', r.id)
        .execute();
      const own = entries[0];
      if (entries.length === 1 && own && own.chain === chain && own.seq <= upTo) out.push(own.seq);
    }
  }
  return out.sort((a, b) => a - b);
}

async function hasMacColumns(db: Db): Promise<boolean> {
  try {
    await db.selectFrom('messages').select('body_mac').limit(1).execute();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether audit chain `chain` holds, between seq `after` and `to`, an event other than the audit of
 * a checkpoint: only then is there something new for a checkpoint to vouch for.
 */
async function auditedSince(db: Db, chain: string, after: number, to: number): Promise<boolean> {
  const row = await db
    .selectFrom('audit_events')
    .select('id')
    .where('chain', '=', chain)
    .where('seq', '>', after)
    .where('seq', '<=', to)
    .where('action', '!=', AUDIT.CHAIN_CHECKPOINT)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
