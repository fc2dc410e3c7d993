import type { Selectable } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { Db } from '../store/index.ts';
import { archiveCanonical, archiveChain, sha256Hex } from '../archive/archive.ts';
import { checkContentMac, type MasterKey } from '../crypto/index.ts';
import { leafHash, merkleRoot } from '../archive/merkle.ts';
import { auditCanonical } from './audit.ts';
import { chainHash, GENESIS_HASH } from './chain.ts';
import {
  checkCheckpoint,
  checkpointKeys,
  checkpointsTableExists,
  type CheckpointStatement,
} from './checkpoint.ts';

// `attune verify`: recompute every chain from its first entry and report the first break.

export type BreakReason =
  | 'seq_gap' // an entry is missing (deleted) or out of order
  | 'prev_mismatch' // the entry does not link to the one before it
  | 'hash_mismatch' // the entry's content was changed after it was written
  | 'ciphertext_mismatch' // an archive blob was changed
  | 'head_mismatch' // the chain was truncated or its head rewritten
  | 'checkpoint_mismatch' // the chain differs from a signed checkpoint of it, or is shorter
  | 'checkpoint_signature' // a stored checkpoint is not validly signed by the practice's key
  | 'content_mismatch' // the stored message or reply (what is shown) is not the ciphertext archived for it
  | 'unarchived' // a message or reply that no archive entry covers (seq 0: it is in no chain)
  // An archived message or reply whose stored row is not there (the checkpoint writer refuses to sign
  // over it: audit/checkpoint-writer.ts).
  | 'row_missing'
  // A stored message or reply whose MAC (crypto/content-mac.ts) the master key does not vouch for:
  // wrong (replaced content), missing, or made under another master key. Checked with the master key only.
  | 'content_mac_mismatch'
  | 'content_mac_missing'
  | 'content_mac_wrong_master_key'
  // A stored message or reply an admin quarantined (a valid quarantine marker, crypto/content-mac.ts):
  // reported, not a break (attune archive content-macs).
  | 'content_quarantined';

export interface ChainBreak {
  chain: string;
  seq: number;
  id: string | null;
  reason: BreakReason;
  /** The message or reply id, for content_mismatch and unarchived. */
  ref?: string;
}

export interface ChainReport {
  chain: string;
  entries: number;
  head: string;
  /** RFC 6962 Merkle root over the entries' canonical forms (archive chains). */
  merkleRoot?: string;
  /** How many valid signed checkpoints of this chain were checked against it. */
  checkpoints: number;
  /** The longest of them. */
  checkpointedTo?: { seq: number; at: string };
  /**
   * Archive chains: the seqs its valid signed checkpoints name as quarantined (audit/checkpoint.ts),
   * ascending; absent when none. Their rows are never bound on a checkpoint's word.
   */
  quarantined?: number[];
  break?: ChainBreak;
}

export interface VerifyReport {
  ok: boolean;
  chains: ChainReport[];
  firstBreak?: ChainBreak;
  /**
   * Whether the keys checkpoints were checked with were vouched for by the master key (their sealed
   * private halves open under it); without it they are taken from the database as they are.
   */
  checkpointKeys: 'authenticated' | 'unauthenticated';
  /** Signing keys in the database the master key does not vouch for (possible forgeries). */
  rejectedKeys: string[];
  /** Checkpoints from `anchors` (kept outside the database) that were valid and checked. */
  anchorsChecked: number;
  /** False for a store a server of this version has not migrated yet: it has no checkpoints table. */
  storeHasCheckpoints: boolean;
  /**
   * How many stored messages and replies had their content MAC checked; null when it was not
   * checked (no master key here, or a store not yet migrated by this version).
   */
  contentMacsChecked: number | null;
  /** Every stored message or reply whose content MAC failed (seq 0, ref names the row). */
  contentMacFailures: ChainBreak[];
  /**
   * Every stored message or reply an admin quarantined (a valid quarantine marker: checked with the
   * master key only; seq 0, ref names the row, reason content_quarantined). Not breaks: the admin
   * dealt with them, and the checkpoints name their entries as not vouched for.
   */
  quarantinedRows: ChainBreak[];
}

export interface VerifyOptions {
  /** Authenticates the practices' signing keys (see VerifyReport.checkpointKeys). */
  masterKey?: MasterKey;
  /** Cleartext-signed checkpoints kept outside the database (`attune checkpoint` output). */
  anchors?: readonly string[];
  /** Check the content MACs too (with masterKey). Default true; the start-up backfill turns it off. */
  contentMacs?: boolean;
}

type Signed = Map<number, CheckpointStatement[]>;

/** A point of a chain: its length and head hash there. */
export interface ChainPoint {
  seq: number;
  head: string;
}
const GENESIS: ChainPoint = { seq: 0, head: GENESIS_HASH };

/**
 * Checks the entries of `chain` after `from` (a point known good, e.g. a signed checkpoint) up to
 * its recorded head: the same checks as verifyChains, for that stretch only.
 */
export async function verifyChainFrom(db: Db, chain: string, from: ChainPoint): Promise<ChainReport> {
  const head = await db.selectFrom('chain_heads').selectAll().where('chain', '=', chain).executeTakeFirst();
  // Up to the head read here: entries appended meanwhile are the next checkpoint's.
  const to = head?.seq ?? from.seq;
  const report = await walkChain(db, chain, new Map<number, CheckpointStatement[]>(), from, to);
  if (!report.break && (!head || report.entries !== head.seq || report.head !== head.head)) {
    report.break = { chain, seq: report.entries + 1, id: null, reason: 'head_mismatch' };
  }
  return report;
}

/** A chain's longest signed checkpoint that the chain, walked from its first entry, still matches. */
export interface SignedCoverage {
  /** Entries 1..seq are vouched for by a checkpoint signed at `at`; null: none is. */
  to: { seq: number; at: string } | null;
  /** Where the chain stops matching itself or its checkpoints: nothing in it counts as covered then. */
  broken: ChainBreak | null;
}

/**
 * How far a valid signed checkpoint of `chain` (keys the master key vouches for, as the start-up
 * backfill takes them) covers it: an entry up to there cannot be rewritten without the master key,
 * one after it can (with the chain re-hashed to the head). The chain is walked from its first entry
 * up to that checkpoint against every valid statement of it, so a chain that no longer matches what
 * was signed covers nothing.
 */
export async function signedCoverage(db: Db, chain: string, masterKey: MasterKey): Promise<SignedCoverage> {
  if (!(await checkpointsTableExists(db))) return { to: null, broken: null };
  const trusted = await checkpointKeys(db, masterKey);
  const rows = await db.selectFrom('chain_checkpoints').select('signed').where('chain', '=', chain).execute();
  const sigs: Signed = new Map();
  let top: CheckpointStatement | undefined;
  for (const r of rows) {
    const checked = await checkCheckpoint(r.signed, trusted);
    if (!checked.ok || checked.statement.chain !== chain) continue;
    const st = checked.statement;
    const list = sigs.get(st.seq);
    if (list) list.push(st);
    else sigs.set(st.seq, [st]);
    if (!top || st.seq > top.seq) top = st;
  }
  if (!top) return { to: null, broken: null };
  const report = await walkChain(db, chain, sigs, GENESIS, top.seq);
  if (report.break) return { to: null, broken: report.break };
  if (report.entries !== top.seq)
    return { to: null, broken: { chain, seq: report.entries + 1, id: null, reason: 'checkpoint_mismatch' } };
  return { to: { seq: top.seq, at: top.at }, broken: null };
}

// A page is ~10 ms of hashing on SQLite (about 20 µs an archive entry, most of it the ciphertext's
// SHA-256), and the walk gives the event loop a turn after each one: better-sqlite3 answers
// synchronously, so without that turn a server's checkpoint run over a long chain (the first one
// after an upgrade walks the whole chain: 20,000 entries held the loop for 0.44 s) stopped every
// send, and shutdown's time bound on its last checkpoint could not fire.
const PAGE = 500;

/** Lets timers and I/O run (one event-loop turn). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function verifyChains(db: Db, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const heads = await db.selectFrom('chain_heads').selectAll().orderBy('chain').execute();
  const trusted = await checkpointKeys(db, opts.masterKey);
  // Every signed statement, from the database and from the anchors, by chain and length.
  const signed = new Map<string, Signed>();
  const badSignatures: ChainBreak[] = [];
  const add = (st: CheckpointStatement): void => {
    let byChain = signed.get(st.chain);
    if (!byChain) signed.set(st.chain, (byChain = new Map<number, CheckpointStatement[]>()));
    const list = byChain.get(st.seq);
    if (list) list.push(st);
    else byChain.set(st.seq, [st]);
  };
  const storeHasCheckpoints = await checkpointsTableExists(db);
  const stored = storeHasCheckpoints
    ? await db.selectFrom('chain_checkpoints').selectAll().orderBy('chain').orderBy('seq').execute()
    : [];
  for (const row of stored) {
    const checked = await checkCheckpoint(row.signed, trusted);
    if (checked.ok) add(checked.statement);
    else badSignatures.push({ chain: row.chain, seq: row.seq, id: row.id, reason: 'checkpoint_signature' });
  }
  let anchorsChecked = 0;
  for (const block of opts.anchors ?? []) {
    const checked = await checkCheckpoint(block, trusted);
    if (checked.ok) {
      add(checked.statement);
      anchorsChecked++;
    }
  }
  const chains: ChainReport[] = [];
  const macs =
    opts.masterKey && opts.contentMacs !== false ? await contentMacBreaks(db, opts.masterKey) : null;
  // A quarantined row, and its entry, are vouched for by nothing and say so: no break either where
  // the row differs from its entry (the marker binds the row's content as the admin saw it). Known
  // from the marker (with the master key), or from a signed checkpoint naming the entry.
  // Only the row's own entry: one in its practice's chain, and the only one that names it. An entry
  // pointed at a quarantined row (its ref_id rewritten after the last checkpoint) is no excuse.
  const quarantinedRefs = new Map((macs?.quarantined ?? []).map((b) => [b.ref ?? '', b.chain]));
  const named = macs && macs.quarantined.length > 0 ? await refsOfSeveralEntries(db) : new Set<string>();
  const ownQuarantined = (b: ChainBreak): boolean =>
    b.ref !== undefined && quarantinedRefs.get(b.ref) === b.chain && !named.has(b.ref);
  const signedQuarantine = (chain: string, seq: number): boolean => {
    for (const list of signed.get(chain)?.values() ?? [])
      if (list.some((st) => st.quarantined?.includes(seq))) return true;
    return false;
  };
  // After the copy-versus-archive breaks: a chain reports the first of them.
  const stray = [
    ...(await contentBreaks(db)).filter(
      (b) => !ownQuarantined(b) && !(b.seq > 0 && signedQuarantine(b.chain, b.seq)),
    ),
    ...(macs?.failures ?? []),
  ];
  // Every chain that has entries too, not only those with a head row: deleting a chain's head must
  // not take its entries out of the check (they would then go unchecked, edits and all).
  const names = new Set([
    ...heads.map((h) => h.chain),
    ...signed.keys(),
    ...(await chainsWithEntries(db)),
    ...stray.map((b) => b.chain),
  ]);
  for (const chain of [...names].sort()) {
    const h = heads.find((x) => x.chain === chain);
    const sigs = signed.get(chain) ?? new Map<number, CheckpointStatement[]>();
    const report = await walkChain(db, chain, sigs);
    // A chain with entries but no head row has lost its head: it is as long as nobody can say.
    if (!report.break && (h ? report.entries !== h.seq || report.head !== h.head : report.entries > 0)) {
      report.break = { chain, seq: report.entries + 1, id: null, reason: 'head_mismatch' };
    }
    // Signed lengths the chain no longer reaches: it was cut short (or deleted) after they were signed.
    let longest = 0;
    for (const seq of sigs.keys()) if (seq > longest) longest = seq;
    if (!report.break && longest > report.entries) {
      report.break = { chain, seq: report.entries + 1, id: null, reason: 'checkpoint_mismatch' };
    }
    let counted = 0;
    let top: CheckpointStatement | undefined;
    for (const [seq, list] of sigs) {
      if (seq > report.entries) continue;
      counted += list.length;
      for (const st of list) if (!top || st.seq > top.seq) top = st;
    }
    report.checkpoints = counted;
    if (top) report.checkpointedTo = { seq: top.seq, at: top.at };
    const quarantined = new Set<number>();
    for (const [seq, list] of sigs)
      if (seq <= report.entries)
        for (const st of list) for (const q of st.quarantined ?? []) quarantined.add(q);
    if (quarantined.size > 0) report.quarantined = [...quarantined].sort((a, b) => a - b);
    if (!report.break) {
      const bad = badSignatures.find((b) => b.chain === chain);
      if (bad) report.break = bad;
    }
    if (!report.break) {
      const content = stray.find((b) => b.chain === chain);
      if (content) report.break = content;
    }
    chains.push(report);
  }
  // A bad signature on a checkpoint of a chain that does not exist is a break too.
  const orphan = badSignatures.find((b) => !names.has(b.chain));
  const firstBreak = chains.find((c) => c.break)?.break ?? orphan;
  return {
    ok: !firstBreak,
    chains,
    ...(firstBreak ? { firstBreak } : {}),
    checkpointKeys: trusted.authenticated ? 'authenticated' : 'unauthenticated',
    rejectedKeys: trusted.rejected,
    anchorsChecked,
    storeHasCheckpoints,
    contentMacsChecked: macs?.checked ?? null,
    contentMacFailures: macs?.failures ?? [],
    quarantinedRows: macs?.quarantined ?? [],
  };
}

/**
 * Each stored message's and reply's content MAC, checked with the master key: a copy replaced by
 * someone who could write the database but had not the master key fails here even when they also
 * rewrote its archive entry and recomputed the chain. Null on a store without the MAC columns (not
 * yet migrated by this version). A page of rows at a time, the event loop given a turn after each.
 */
async function contentMacBreaks(
  db: Db,
  masterKey: MasterKey,
): Promise<{ checked: number; failures: ChainBreak[]; quarantined: ChainBreak[] } | null> {
  try {
    await db.selectFrom('messages').select('body_mac').limit(1).execute();
  } catch {
    return null;
  }
  let checked = 0;
  const failures: ChainBreak[] = [];
  const quarantined: ChainBreak[] = [];
  for (const table of ['messages', 'replies'] as const) {
    // (Widened, as in chainRows: both tables have the columns used here.)
    const t: 'messages' = table as 'messages';
    let after = '';
    for (;;) {
      const rows = await db
        .selectFrom(t)
        .select(['id', 'practice_id', 'body_ct', 'body_mac'])
        .where('id', '>', after)
        .orderBy('id')
        .limit(PAGE)
        .execute();
      for (const r of rows) {
        checked++;
        const c = checkContentMac(
          masterKey,
          table,
          { id: r.id, practiceId: r.practice_id, bodyCt: r.body_ct },
          r.body_mac,
        );
        if (!c.ok)
          (c.reason === 'content_quarantined' ? quarantined : failures).push({
            chain: archiveChain(r.practice_id),
            seq: 0,
            id: null,
            reason: c.reason,
            ref: r.id,
          });
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.id;
      await turn();
    }
  }
  return { checked, failures, quarantined };
}

/**
 * The chain vouches for the archive's copy of each message and reply; the viewer shows the patient
 * messages.body_ct and the clinician reads replies.body_ct. Anyone can encrypt to the archive's
 * public key, so a replaced copy decrypts and is shown while every chain still verifies: each copy
 * must be byte for byte the ciphertext archived for it, in the same practice, and each message and
 * reply must have an archive entry. (An entry whose row is gone is not a break here: the archive is
 * the record, and the rows cannot be deleted while deliveries refer to them.) Compared in the
 * database, so no ciphertext is read twice.
 */
/** Rows that more than one archive entry names (each row has one: a second was pointed at it). */
export async function refsOfSeveralEntries(db: Db): Promise<Set<string>> {
  const rows = await db
    .selectFrom('archive_entries')
    .select('ref_id')
    .groupBy(['ref_id', 'kind'])
    .having((eb) => eb.fn.countAll(), '>', 1)
    .execute();
  return new Set(rows.map((r) => r.ref_id));
}

async function contentBreaks(db: Db): Promise<ChainBreak[]> {
  const breaks: ChainBreak[] = [];
  for (const [table, kind] of [
    ['messages', 'message'],
    ['replies', 'reply'],
  ] as const) {
    // (Widened, as in chainRows: both tables have the columns used here.)
    const t: 'messages' = table as 'messages';
    const changed = await db
      .selectFrom('archive_entries as ae')
      .innerJoin(`${t} as r`, 'r.id', 'ae.ref_id')
      .select(['ae.chain', 'ae.seq', 'ae.id', 'r.id as ref'])
      .where('ae.kind', '=', kind)
      .where((eb) =>
        eb.or([
          eb('r.practice_id', '!=', eb.ref('ae.practice_id')),
          eb('r.body_ct', '!=', eb.ref('ae.ciphertext')),
        ]),
      )
      .orderBy('ae.chain')
      .orderBy('ae.seq')
      .execute();
    for (const c of changed)
      breaks.push({ chain: c.chain, seq: c.seq, id: c.id, reason: 'content_mismatch', ref: c.ref });
    const unarchived = await db
      .selectFrom(`${t} as r`)
      .leftJoin('archive_entries as ae', (j) =>
        j
          .onRef('ae.practice_id', '=', 'r.practice_id')
          .onRef('ae.ref_id', '=', 'r.id')
          .on('ae.kind', '=', kind),
      )
      .select(['r.id', 'r.practice_id'])
      .where('ae.id', 'is', null)
      .orderBy('r.id')
      .execute();
    for (const u of unarchived)
      breaks.push({ chain: archiveChain(u.practice_id), seq: 0, id: null, reason: 'unarchived', ref: u.id });
  }
  return breaks;
}

/** The chains that have at least one entry, audit or archive. */
async function chainsWithEntries(db: Db): Promise<string[]> {
  const audit = await db.selectFrom('audit_events').select('chain').distinct().execute();
  const archive = await db.selectFrom('archive_entries').select('chain').distinct().execute();
  return [...audit, ...archive].map((r) => r.chain);
}

/**
 * Walks `chain` from `from` (up to seq `to` when given; all when undefined), checking each entry
 * links to the one before, hashes to its stored hash and matches the signed statements of its
 * length; archive entries also their ciphertext digest, and a walk of a whole archive chain gives
 * its Merkle root.
 */
async function walkChain(
  db: Db,
  chain: string,
  signed: Signed,
  from: ChainPoint = GENESIS,
  to?: number,
): Promise<ChainReport> {
  if (!chain.startsWith('archive:'))
    return walk(chainRows(db, 'audit_events', chain, from.seq, to), chain, signed, from, auditCanonical);
  const leaves: Buffer[] = [];
  const report = await walk(
    chainRows(db, 'archive_entries', chain, from.seq, to),
    chain,
    signed,
    from,
    archiveCanonical,
    (row, canon) => {
      if (sha256Hex(row.ciphertext) !== row.ciphertext_sha256)
        return { chain, seq: row.seq, id: row.id, reason: 'ciphertext_mismatch' };
      leaves.push(leafHash(canon));
      return undefined;
    },
  );
  // (Of the whole chain only: a walk from a later point has not seen the earlier leaves.)
  if (!report.break && from.seq === 0) report.merkleRoot = merkleRoot(leaves).toString('hex');
  return report;
}

async function walk<R extends { seq: number; id: string; prev_hash: string; hash: string }>(
  rows: AsyncIterable<R>,
  chain: string,
  signed: Signed,
  from: ChainPoint,
  canonicalOf: (row: R) => string,
  /** A further check of an entry that passed the chain's own; its break, if any. */
  more?: (row: R, canonical: string) => ChainBreak | undefined,
): Promise<ChainReport> {
  let prev = from.head;
  let expected = from.seq + 1;
  for await (const row of rows) {
    const canon = canonicalOf(row);
    const broken =
      check(chain, row, expected, prev, chainHash(row.prev_hash, canon), signed) ?? more?.(row, canon);
    if (broken) return { chain, entries: expected - 1, head: prev, checkpoints: 0, break: broken };
    prev = row.hash;
    expected++;
  }
  return { chain, entries: expected - 1, head: prev, checkpoints: 0 };
}

/** The entries of `chain` in `table` after seq `after` (up to `to` when given), in order, a page at a time. */
async function* chainRows<T extends 'audit_events' | 'archive_entries'>(
  db: Db,
  table: T,
  chain: string,
  after: number,
  to: number | undefined,
): AsyncGenerator<Selectable<Database[T]>> {
  // (Widened: Kysely types a query on either table, not on a table chosen by a type parameter.)
  const either: 'audit_events' | 'archive_entries' = table;
  for (;;) {
    const rows = (await db
      .selectFrom(either)
      .selectAll()
      .where('chain', '=', chain)
      .where('seq', '>', after)
      .$if(to !== undefined, (q) => q.where('seq', '<=', to!))
      .orderBy('seq')
      .limit(PAGE)
      .execute()) as Selectable<Database[T]>[];
    yield* rows;
    if (rows.length < PAGE) return;
    after = (rows[rows.length - 1] as { seq: number }).seq;
    await turn();
  }
}

function check(
  chain: string,
  row: { seq: number; id: string; prev_hash: string; hash: string },
  expectedSeq: number,
  prev: string,
  recomputed: string,
  signed: Signed,
): ChainBreak | undefined {
  if (row.seq !== expectedSeq) return { chain, seq: expectedSeq, id: row.id, reason: 'seq_gap' };
  if (row.prev_hash !== prev) return { chain, seq: row.seq, id: row.id, reason: 'prev_mismatch' };
  if (recomputed !== row.hash) return { chain, seq: row.seq, id: row.id, reason: 'hash_mismatch' };
  // Intact so far, recomputed or not: it must also be the chain that was signed at this length.
  const statements = signed.get(row.seq);
  if (statements?.some((st) => st.head !== row.hash))
    return { chain, seq: row.seq, id: row.id, reason: 'checkpoint_mismatch' };
  return undefined;
}
