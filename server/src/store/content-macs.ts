import { archiveChain } from '../archive/archive.ts';
import { writeCheckpoints, type CheckpointRun } from '../audit/checkpoint-writer.ts';
import { verifyChains } from '../audit/verify.ts';
import { practiceSigner } from '../checkpoints.ts';
import { contentMac, type MasterKey } from '../crypto/index.ts';
import type { Db, MigrationHooks } from './store.ts';

// Content MACs for rows written before migration 0008 (crypto/content-mac.ts). A migration has no
// master key, so the server gives them theirs when it starts, and a read refuses any row without
// one: a missing MAC is never taken as "an old row", or whoever can write the database would clear
// the MAC along with the content. A row gets its MAC only when the archive vouches for it: its
// practice's archive chain verifies from the first entry (hashes, links, head, the signed
// checkpoints with keys the master key vouches for) and the row's body_ct is byte for byte the
// ciphertext of its archive entry. Otherwise it stays without one, unreadable, and the operator is
// told to run attune verify. After the first start of this version there are none left, so later
// starts only look (a count over an empty partial index per table: migration 0008).
//
// A chain that verifies is not enough on every start. The chain is keyed by nothing: someone who can
// write the database but has not the master key can, after the last signed checkpoint, clear a
// row's MAC, replace its body_ct, put the same ciphertext in its archive entry and recompute the
// hashes to the head; the chain then verifies, and a restart would bind the forgery. So a row is
// bound only when one of these holds as well:
//  (a) this very process applied migration 0008 (`upgrade`): the store was written by a version
//      without MACs until a moment ago, and the chain with its checkpoints is all there is to go by;
//  (b) its archive entry is covered by a signed checkpoint the master key vouches for (the longest
//      valid one is at or past the entry's seq). Such a checkpoint cannot be forged, and the
//      checkpoint writer signs an archive stretch only when every row in it carries a valid MAC
//      (audit/checkpoint-writer.ts), so it cannot be made to sign a forgery either: a row covered by
//      one and merely missing its MAC (a restore from a dump without the column) is bound again.
// Entries after the last checkpoint are exactly the ones that can be rewritten: their rows stay
// refused, are counted, and attune verify names them (content_mac_missing). An admin then decides
// about each (`attune archive content-macs`, archive/unvouched-content.ts): bind it, after checking
// it out of band, or quarantine it. The writer signs past a quarantined row, and so breaks the
// invariant (b) leans on; so the signed statement names each quarantined seq, carried on to every
// later checkpoint of the chain, and (b) never binds a row at a seq a valid checkpoint names. The
// quarantine marker in the row is MACed, but it can be deleted; the name in the statement cannot
// (deleting every checkpoint that covers the entry leaves it uncovered: refused).
//
// A crash during the upgrade start, after 0008 was recorded applied and before every row was bound,
// used to leave the rest refused for good: the next start is not an upgrade start, and (b) needs a
// checkpoint over them. What (a) trusts is the chain as the upgrade found it; a record of that
// which outlives the crash and cannot be forged resumes it without trusting anything more. So the
// upgrading process signs a checkpoint of each archive chain just before 0008 is applied (a
// migration hook, signUpgradeCheckpoints: in the migration's transaction on PostgreSQL; on SQLite
// before 0008's statements, so before it is recorded applied), the chain verified as the writer
// does (links, hashes, head, every entry's row there and equal to it) but the MACs not checked:
// there are none yet. After a crash, (b) binds what those checkpoints cover: exactly the rows (a)
// would have bound. Why that is sound against someone who can write the database but has not the
// master key:
//  - they cannot forge such a checkpoint (the practice's signing key is sealed under the master key,
//    and the keys that count are those the master key opens);
//  - deleting it only makes things stricter (the rows are uncovered, refused: `bind` is the way out);
//  - replaying or keeping it grants nothing later: it commits to the chain's head at that length,
//    so a row rewritten afterwards (with its entry and the chain's hashes) contradicts it and its
//    chain binds nothing; a row that merely lost its MAC gets back the content the upgrade saw.
// A "backfill pending" flag (even a MACed one) would not do: replayed after the backfill, it hands
// the upgrade's trust to whatever the chain holds then. The residual risk is (a)'s, as below: the
// upgrade checkpoints sign what (a) trusts, no more. A store migrated past 0008 by something without
// the master key (an admin command that migrates) has no upgrade checkpoints: its rows wait for (b)
// or for `bind`.
//
// Residual risk of (a): an attacker who can make the store look un-upgraded gets the upgrade's trust.
// That needs the bookkeeping and the schema of 0008 and of every later migration rolled back (Kysely
// refuses a gap in the applied list, and re-running a later migration over its own tables fails),
// with the data of their tables lost, and every signed checkpoint that covers the target deleted
// (a surviving one contradicts the rewritten chain, and then nothing of it is bound). Nothing kept in
// the database can tell that apart from a real first start (a signed or MACed "already upgraded"
// marker can be deleted, and its absence is what a real upgrade looks like); checkpoints kept outside
// it can: `attune verify --against` shows the deleted checkpoints and the rewritten entries.

/** The migration that added the MAC columns: applied by this process means an upgrade start. */
export const CONTENT_MAC_MIGRATION = '0008-content-mac';

/** Applying 0008 over archived rows needs the master key to sign their chains first (below). */
export class UpgradeNeedsMasterKeyError extends Error {
  constructor() {
    super(
      'this store predates content MACs and holds archived messages: the upgrade signs their archive chains with the practice keys, which needs ATTUNE_MASTER_KEY (start the server, or set it)',
    );
  }
}

/**
 * The migration hooks every process that migrates the store passes to openStore (the server, the
 * gateway, attune import, demo, the mailbox sync): whichever of them applies 0008 first signs the
 * upgrade checkpoints, so the server's next start binds the old rows under rule (b) even when it was
 * not the one that upgraded. Without the master key, 0008 is not applied over archived rows at all
 * (the migration run fails and rolls back whole, on SQLite as on PostgreSQL), since the rows would
 * then wait for `attune archive content-macs bind`, one by one; a store without any is upgraded.
 */
export function contentMacUpgradeHooks(
  masterKey: MasterKey | null,
  onSigned?: (run: CheckpointRun) => void,
): MigrationHooks {
  return {
    [CONTENT_MAC_MIGRATION]: async (db) => {
      if (!masterKey) {
        const any = await db.selectFrom('archive_entries').select('seq').limit(1).executeTakeFirst();
        if (any) throw new UpgradeNeedsMasterKeyError();
        return;
      }
      const run = await signUpgradeCheckpoints(db, masterKey);
      onSigned?.(run);
    },
  };
}

/**
 * The migration hook of the upgrade start (see above): signs a checkpoint of every archive chain as
 * it stands, just before 0008 is applied. A chain that does not verify is not signed (refused:
 * returned, and audited as the writer does); its rows wait for (a) in this process, or for `bind`.
 */
export async function signUpgradeCheckpoints(db: Db, masterKey: MasterKey): Promise<CheckpointRun> {
  // Only practice chains are signed here: the deployment's own chain is no archive chain.
  return writeCheckpoints(db, practiceSigner(db, masterKey, ''), { masterKey, upgrade: true });
}

export interface ContentMacBackfill {
  /** Rows given their MAC now. */
  bound: number;
  /** Rows left without one: the archive does not vouch for them (attune verify says why). */
  refused: number;
}

export interface ContentMacBackfillOptions {
  /** This process applied migration 0008 just now (Store.migrated): rule (a) above. */
  upgrade: boolean;
}

const PAGE = 500;

export async function backfillContentMacs(
  db: Db,
  masterKey: MasterKey,
  opts: ContentMacBackfillOptions,
): Promise<ContentMacBackfill> {
  const pending = async (): Promise<number> => {
    let n = 0;
    for (const table of ['messages', 'replies'] as const) {
      const t: 'messages' = table as 'messages';
      const r = await db
        .selectFrom(t)
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('body_mac', 'is', null)
        .executeTakeFirstOrThrow();
      n += Number(r.n);
    }
    return n;
  };
  if ((await pending()) === 0) return { bound: 0, refused: 0 };
  const report = await verifyChains(db, { masterKey, contentMacs: false });
  // A chain whose only fault is a row that differs from its entry (or has none) is intact: those
  // rows are left out below (body_ct must equal the entry's ciphertext), the others are vouched for.
  // (verifyChains reports such a fault only when the walk, head and signatures are sound.)
  // Each intact chain with the length its longest valid signed checkpoint vouches for (0: none).
  // The checkpoints' keys are authenticated with the master key (verifyChains' checkpointKeys), so a
  // key row added by someone without it signs nothing that counts here.
  const intact = new Map(
    report.chains
      .filter(
        (c) =>
          c.chain.startsWith('archive:') &&
          (!c.break || c.break.reason === 'content_mismatch' || c.break.reason === 'unarchived'),
      )
      .map((c) =>
        report.checkpointKeys === 'authenticated'
          ? [c.chain, { covered: c.checkpointedTo?.seq ?? 0, quarantined: new Set(c.quarantined) }]
          : [c.chain, { covered: 0, quarantined: new Set(c.quarantined) }],
      ),
  );
  let bound = 0;
  for (const [table, kind] of [
    ['messages', 'message'],
    ['replies', 'reply'],
  ] as const) {
    const t: 'messages' = table as 'messages';
    let after = '';
    for (;;) {
      const rows = await db
        .selectFrom(`${t} as r`)
        .innerJoin('archive_entries as ae', (j) =>
          j
            .onRef('ae.practice_id', '=', 'r.practice_id')
            .onRef('ae.ref_id', '=', 'r.id')
            .on('ae.kind', '=', kind),
        )
        .select(['r.id', 'r.practice_id', 'r.body_ct', 'ae.seq'])
        .where('r.body_mac', 'is', null)
        .where('r.id', '>', after)
        .whereRef('r.body_ct', '=', 'ae.ciphertext')
        .orderBy('r.id')
        .limit(PAGE)
        .execute();
      for (const r of rows) {
        const chain = intact.get(archiveChain(r.practice_id));
        if (chain === undefined) continue;
        // (b), unless (a): an entry after the last checkpoint may have been rewritten since.
        if (!opts.upgrade && r.seq > chain.covered) continue;
        // Quarantined by an admin, says a signed checkpoint: it vouches for nothing there.
        if (chain.quarantined.has(r.seq)) continue;
        const res = await db
          .updateTable(t)
          .set({
            body_mac: contentMac(masterKey, table, {
              id: r.id,
              practiceId: r.practice_id,
              bodyCt: r.body_ct,
            }),
          })
          .where('id', '=', r.id)
          .where('body_mac', 'is', null)
          // The content just vouched for, not whatever may have replaced it meanwhile.
          .where('body_ct', '=', r.body_ct)
          .executeTakeFirst();
        bound += Number(res.numUpdatedRows);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
  }
  return { bound, refused: await pending() };
}
