import { AUDIT, appendAudit, type AuditDetails, type AuditEventInput } from '../audit/index.ts';
import {
  checkContentMac,
  contentMac,
  loadPrivateKey,
  quarantineMarker,
  type ContentTable,
  type MasterKey,
} from '../crypto/index.ts';
import { signedCoverage, type ChainBreak } from '../audit/verify.ts';
import type { Db } from '../store/index.ts';
import { archiveChain, sha256Hex } from './archive.ts';

// What an admin does about a stored message or reply the master key does not vouch for
// (`attune archive content-macs`, cli/archive-content-macs.ts). Such a row is refused at every read,
// and the checkpoint writer refuses to sign its practice's archive past it, so that practice's
// checkpoints stop until someone decides. Nothing here can decide on its own: the database is what
// is in doubt (store/content-macs.ts: an attacker who can write it but has not the master key), so
// the decision is an admin's, made with the master key, audited, and one of two:
//
//  - bind: the admin checked the row out of band (decrypted it with `attune archive export
//    --allow-broken`, compared it with a backup or with the sender) and vouches for it: it gets its
//    MAC. Only when its body_ct is byte for byte its archive entry's ciphertext, so what is bound is
//    what the archive holds; otherwise only with --unsafe-bind-content-not-in-archive (the row's
//    entry then still differs, and the writer still refuses the stretch: bind makes the row readable,
//    not the archive whole). And "its archive entry's" proves something only where a signed
//    checkpoint covers the entry: after the last one, the entry is as forgeable as the row (write it
//    too and re-hash the chain to the head), so the match is no evidence at all. Such a bind is
//    refused unless the admin says they know (--entry-not-checkpointed): their out-of-band check is
//    then all the row rests on.
//  - quarantine: the admin judges it tampered: it gets a quarantine marker (crypto/content-mac.ts)
//    instead, reads answer "quarantined", and the checkpoint writer signs past its entry, naming the
//    entry's seq as quarantined in the signed statement (audit/checkpoint-writer.ts). The chain is
//    not changed: the archive keeps what it holds, and the checkpoint says it is not vouched for.
//    A row whose entry a checkpoint covers already is named by the next checkpoint written: else
//    nothing signed would record it, and once its marker were deleted the start-up backfill would
//    bind it again on the older checkpoint's word (store/content-macs.ts rule (b)).
//
// Only references are printed and audited: ids, seqs, SHA-256 digests of ciphertext, reason codes.

export type ContentKind = 'message' | 'reply';

/** A stored message or reply of a practice the master key does not vouch for, or quarantined. */
export interface UnvouchedRow {
  kind: ContentKind;
  id: string;
  /** Its MAC: missing, wrong, made under another master key, valid (ok), or a quarantine marker. */
  mac: 'missing' | 'mismatch' | 'wrong_master_key' | 'ok' | 'quarantined';
  /** Its body_ct against its archive entry's ciphertext (missing: no entry archives it). */
  archive: 'matches' | 'differs' | 'missing';
  /** Its archive entry's seq in the practice's archive chain, null without one. */
  seq: number | null;
  /** SHA-256 (hex) of the row's body_ct and of its entry's ciphertext: what bind would vouch for. */
  bodySha256: string;
  entrySha256: string | null;
  /**
   * The signed checkpoint that covers its archive entry (the longest valid one of the practice's
   * archive chain, at or past its seq, the chain matching it): its length and time; null when none
   * does (the entry lies after the last one, or there is no entry), and then the entry is no more
   * trustworthy than the row.
   */
  checkpoint: { seq: number; at: string } | null;
}

/** The practice's archive chain as far as a signed checkpoint vouches for it (verify.ts). */
export interface ArchiveCoverage {
  to: { seq: number; at: string } | null;
  /** The chain does not match itself or its checkpoints (attune verify says more): covers nothing. */
  broken: ChainBreak | null;
}

export async function archiveCoverage(
  db: Db,
  masterKey: MasterKey,
  practiceId: string,
): Promise<ArchiveCoverage> {
  return signedCoverage(db, archiveChain(practiceId), masterKey);
}

function checkpointOf(seq: number | null, coverage: ArchiveCoverage): UnvouchedRow['checkpoint'] {
  return seq !== null && coverage.to !== null && seq <= coverage.to.seq ? coverage.to : null;
}

const TABLES: ReadonlyArray<readonly [ContentTable, ContentKind]> = [
  ['messages', 'message'],
  ['replies', 'reply'],
];

const MAC_STATE = {
  content_mac_missing: 'missing',
  content_mac_mismatch: 'mismatch',
  content_mac_wrong_master_key: 'wrong_master_key',
  content_quarantined: 'quarantined',
} as const;

const PAGE = 500;

interface Loaded extends Omit<UnvouchedRow, 'checkpoint'> {
  table: ContentTable;
  practiceId: string;
  bodyCt: Buffer;
  bodyMac: string | null;
}

function assess(
  masterKey: MasterKey,
  table: ContentTable,
  kind: ContentKind,
  r: {
    id: string;
    practice_id: string;
    body_ct: Buffer;
    body_mac: string | null;
    seq: number | null;
    ciphertext: Buffer | null;
  },
): Loaded {
  const mac = checkContentMac(
    masterKey,
    table,
    { id: r.id, practiceId: r.practice_id, bodyCt: r.body_ct },
    r.body_mac,
  );
  return {
    table,
    practiceId: r.practice_id,
    bodyCt: r.body_ct,
    bodyMac: r.body_mac,
    kind,
    id: r.id,
    mac: mac.ok ? 'ok' : MAC_STATE[mac.reason],
    archive:
      r.ciphertext === null
        ? 'missing'
        : Buffer.compare(r.body_ct, r.ciphertext) === 0
          ? 'matches'
          : 'differs',
    seq: r.seq,
    bodySha256: sha256Hex(r.body_ct),
    entrySha256: r.ciphertext === null ? null : sha256Hex(r.ciphertext),
  };
}

function rowsQuery(db: Db, table: ContentTable, kind: ContentKind, practiceId: string) {
  // (Widened: both tables have the columns used here.)
  const t: 'messages' = table as 'messages';
  return db
    .selectFrom(`${t} as r`)
    .leftJoin('archive_entries as ae', (j) =>
      j
        .onRef('ae.practice_id', '=', 'r.practice_id')
        .onRef('ae.ref_id', '=', 'r.id')
        .on('ae.kind', '=', kind),
    )
    .select(['r.id', 'r.practice_id', 'r.body_ct', 'r.body_mac', 'ae.seq', 'ae.ciphertext'])
    .where('r.practice_id', '=', practiceId);
}

/**
 * Every stored message and reply of the practice whose MAC the master key does not vouch for, or
 * whose content is not its archive entry's (either stops the practice's checkpoints), quarantined
 * ones included: messages first, then replies, by id.
 */
export async function listUnvouched(
  db: Db,
  masterKey: MasterKey,
  practiceId: string,
  coverage?: ArchiveCoverage,
): Promise<UnvouchedRow[]> {
  const out: Loaded[] = [];
  for (const [table, kind] of TABLES) {
    let after = '';
    for (;;) {
      const rows = await rowsQuery(db, table, kind, practiceId)
        .where('r.id', '>', after)
        .orderBy('r.id')
        .limit(PAGE)
        .execute();
      for (const r of rows) {
        const a = assess(masterKey, table, kind, r);
        if (a.mac !== 'ok' || a.archive !== 'matches') out.push(a);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
  }
  if (out.length === 0) return [];
  const covered = coverage ?? (await archiveCoverage(db, masterKey, practiceId));
  return out.map((a) => publicView(a, covered));
}

function publicView(a: Loaded, coverage: ArchiveCoverage): UnvouchedRow {
  return {
    kind: a.kind,
    id: a.id,
    mac: a.mac,
    archive: a.archive,
    seq: a.seq,
    bodySha256: a.bodySha256,
    entrySha256: a.entrySha256,
    checkpoint: checkpointOf(a.seq, coverage),
  };
}

async function loadRow(db: Db, masterKey: MasterKey, practiceId: string, id: string): Promise<Loaded | null> {
  for (const [table, kind] of TABLES) {
    const r = await rowsQuery(db, table, kind, practiceId).where('r.id', '=', id).executeTakeFirst();
    if (r) return assess(masterKey, table, kind, r);
  }
  return null;
}

/**
 * Whether the master key opens the practice's signing key: a MAC made under another master key
 * would be refused by the server, and a wrong key here is a setup error, not a decision.
 */
export async function masterKeyOpensPractice(
  db: Db,
  masterKey: MasterKey,
  practiceId: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('practice_keys')
    .select('sealed_private_key')
    .where('practice_id', '=', practiceId)
    .where('purpose', '=', 'signing')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!row) return false;
  try {
    await loadPrivateKey(masterKey, practiceId, 'signing', row.sealed_private_key);
    return true;
  } catch {
    return false;
  }
}

export type ContentDecision = 'bind' | 'quarantine';

export type ContentDecisionResult =
  | { ok: true; row: UnvouchedRow; previous: UnvouchedRow['mac'] }
  | {
      ok: false;
      reason:
        | 'not_found' // no message or reply with that id in the practice
        | 'already_bound' // bind: its MAC is valid already
        | 'already_quarantined' // quarantine: it is quarantined already
        | 'vouched_for' // quarantine: its MAC is valid and its content is its archive entry's
        | 'wrong_master_key' // its MAC was made under another master key: set the server's
        | 'content_not_in_archive' // bind: its content is not its entry's (or it has none)
        // bind: its content is its entry's, but no signed checkpoint covers the entry (see the top)
        | 'entry_not_checkpointed'
        | 'changed_meanwhile'; // the row changed between the check and the write
      row?: UnvouchedRow;
    };

export interface ContentDecisionOptions {
  decision: ContentDecision;
  actor: AuditEventInput['actor'];
  /** bind only: bind content that is not its archive entry's ciphertext (or has no entry). */
  unsafeContentNotInArchive?: boolean;
  /** bind only: bind though no signed checkpoint covers the row's archive entry (see the top). */
  entryNotCheckpointed?: boolean;
}

/**
 * Binds the MAC of, or quarantines, message or reply `id` of the practice (see the top of this
 * file). The write is conditional on the row being as checked (its body_ct and body_mac), and is
 * audited in the same transaction; a refusal is audited too.
 */
export async function decideContent(
  db: Db,
  masterKey: MasterKey,
  practiceId: string,
  id: string,
  opts: ContentDecisionOptions,
): Promise<ContentDecisionResult> {
  const row = await loadRow(db, masterKey, practiceId, id);
  const coverage = row ? await archiveCoverage(db, masterKey, practiceId) : { to: null, broken: null };
  const checkpoint = row ? checkpointOf(row.seq, coverage) : null;
  const base: AuditDetails = { operation: opts.decision };
  const audit = (tx: Db, outcome: 'success' | 'failure', details: AuditDetails) =>
    appendAudit(tx, {
      action: AUDIT.CONTENT_DECISION,
      outcome,
      actor: opts.actor,
      practiceId,
      target: { type: row?.kind ?? 'stored_content', id },
      details: { ...base, ...details },
    });
  const refuse = async (reason: Extract<ContentDecisionResult, { ok: false }>['reason']) => {
    await audit(db, 'failure', { reason, ...(row ? rowDetails(row, checkpoint) : {}) });
    return { ok: false as const, reason, ...(row ? { row: publicView(row, coverage) } : {}) };
  };
  if (!row) return refuse('not_found');
  if (row.mac === 'wrong_master_key') return refuse('wrong_master_key');
  let mac: string;
  if (opts.decision === 'bind') {
    if (row.mac === 'ok') return refuse('already_bound');
    if (row.archive !== 'matches' && !opts.unsafeContentNotInArchive) return refuse('content_not_in_archive');
    // (Content that is not its entry's rests on the admin's check alone already: the unsafe flag.)
    if (row.archive === 'matches' && checkpoint === null && !opts.entryNotCheckpointed)
      return refuse('entry_not_checkpointed');
    mac = contentMac(masterKey, row.table, { id, practiceId, bodyCt: row.bodyCt });
  } else {
    if (row.mac === 'quarantined') return refuse('already_quarantined');
    if (row.mac === 'ok' && row.archive === 'matches') return refuse('vouched_for');
    mac = quarantineMarker(masterKey, row.table, { id, practiceId, bodyCt: row.bodyCt });
  }
  const t: 'messages' = row.table as 'messages';
  const written = await db.transaction().execute(async (tx) => {
    const res = await tx
      .updateTable(t)
      .set({ body_mac: mac })
      .where('id', '=', id)
      .where('practice_id', '=', practiceId)
      // The content just checked (and shown to the admin as its digest), not whatever may have
      // replaced it meanwhile.
      .where('body_ct', '=', row.bodyCt)
      .where((eb) => (row.bodyMac === null ? eb('body_mac', 'is', null) : eb('body_mac', '=', row.bodyMac)))
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await audit(tx, 'success', {
      ...rowDetails(row, checkpoint),
      ...(opts.decision === 'bind'
        ? {
            unsafe_content_not_in_archive: row.archive !== 'matches',
            entry_not_checkpointed: checkpoint === null,
          }
        : {}),
    });
    return true;
  });
  if (!written) return refuse('changed_meanwhile');
  const after = {
    ...publicView(row, coverage),
    mac: opts.decision === 'bind' ? ('ok' as const) : ('quarantined' as const),
  };
  return { ok: true, row: after, previous: row.mac };
}

function rowDetails(row: Loaded, checkpoint: UnvouchedRow['checkpoint']): AuditDetails {
  return {
    kind: row.kind,
    seq: row.seq,
    checkpointed_to: checkpoint?.seq ?? null,
    previous: row.mac,
    archive: row.archive,
    body_sha256: row.bodySha256,
  };
}
