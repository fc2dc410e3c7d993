import { archiveChain } from '../archive/archive.ts';
import { verifyChains } from '../audit/verify.ts';
import { contentMac, type MasterKey } from '../crypto/index.ts';
import type { Db } from './store.ts';

// Content MACs for rows written before migration 0008 (crypto/content-mac.ts). A migration has no
// master key, so the server gives them theirs when it starts, and a read refuses any row without
// one: a missing MAC is never taken as "an old row", or whoever can write the database would clear
// the MAC along with the content. A row gets its MAC only when the archive vouches for it: its
// practice's archive chain verifies from the first entry (hashes, links, head, the signed
// checkpoints with keys the master key vouches for) and the row's body_ct is byte for byte the
// ciphertext of its archive entry. Otherwise it stays without one, unreadable, and the operator is
// told to run attune verify. After the first start of this version there are none left, so later
// starts only look (a count over an empty partial index per table: migration 0008).

export interface ContentMacBackfill {
  /** Rows given their MAC now. */
  bound: number;
  /** Rows left without one: the archive does not vouch for them (attune verify says why). */
  refused: number;
}

const PAGE = 500;

export async function backfillContentMacs(db: Db, masterKey: MasterKey): Promise<ContentMacBackfill> {
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
  const intact = new Set(
    report.chains
      .filter(
        (c) =>
          c.chain.startsWith('archive:') &&
          (!c.break || c.break.reason === 'content_mismatch' || c.break.reason === 'unarchived'),
      )
      .map((c) => c.chain),
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
        .select(['r.id', 'r.practice_id', 'r.body_ct'])
        .where('r.body_mac', 'is', null)
        .where('r.id', '>', after)
        .whereRef('r.body_ct', '=', 'ae.ciphertext')
        .orderBy('r.id')
        .limit(PAGE)
        .execute();
      for (const r of rows) {
        if (!intact.has(archiveChain(r.practice_id))) continue;
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
