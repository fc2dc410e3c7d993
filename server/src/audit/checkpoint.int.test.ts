import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveCanonical } from '../archive/archive.ts';
import { archiveStoredMessage } from '../testing/archived-message.ts';
import { practiceSigner } from '../checkpoints.ts';
import {
  generateKey,
  generateMasterKey,
  parseMasterKey,
  parseTrustedPrivateKey,
  signCleartext,
  type MasterKey,
} from '../crypto/index.ts';
import { ensurePracticeKeys } from '../delivery/keyring.ts';
import { ensurePractice, newId, type Db } from '../store/index.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { chainHash } from './chain.ts';
import { checkpointText, parseCheckpointText, signedBlocks } from './checkpoint.ts';
import { writeCheckpoints } from './checkpoint-writer.ts';
import { appendAudit, AUDIT, verifyChains } from './index.ts';

// What the signed checkpoints add to the hash chains: a chain rewritten and recomputed by someone
// with write access to the database (but not the master key) verifies as a chain, and fails
// against a checkpoint signed before the rewrite.

/** Each rewritten entry's original time, for 'restore'. */
const originalAt = new Map<string, string>();

/**
 * Rewrites archive entry `seq` of `chain` (its time: 'forge'; back to what it was: 'restore') and
 * recomputes every later hash and the head, as an insider could. (The entry keeps its row: the time
 * is in the hash, not in the row.)
 */
async function rewriteArchive(db: Db, chain: string, seq: number, how: 'forge' | 'restore'): Promise<void> {
  const rows = await db
    .selectFrom('archive_entries')
    .selectAll()
    .where('chain', '=', chain)
    .where('seq', '>=', seq)
    .orderBy('seq')
    .execute();
  let prev = rows[0]!.prev_hash;
  for (const row of rows) {
    let at = row.at;
    if (row.seq === seq) {
      if (!originalAt.has(row.id)) originalAt.set(row.id, row.at);
      at = how === 'forge' ? '1999-12-31T00:00:00.000Z' : originalAt.get(row.id)!;
    }
    const changed = { ...row, at, prev_hash: prev };
    const hash = chainHash(prev, archiveCanonical(changed));
    await db
      .updateTable('archive_entries')
      .set({ at, prev_hash: prev, hash })
      .where('id', '=', row.id)
      .execute();
    prev = hash;
  }
  await db.updateTable('chain_heads').set({ head: prev }).where('chain', '=', chain).execute();
}

describe.each(dialectsUnderTest())('signed chain checkpoints on %s', (dialect) => {
  let store: TestStore;
  let db: Db;
  let practiceId: string;
  let masterKey: MasterKey;
  let chain: string;
  const archive = (n: number) => archiveStoredMessage(db, masterKey, practiceId, Buffer.from(`sealed ${n}`));
  const write = () => writeCheckpoints(db, practiceSigner(db, masterKey, practiceId), { masterKey });

  beforeAll(async () => {
    store = await createTestStore(dialect);
    db = store.db;
    practiceId = (await ensurePractice(db, { name: 'Calm', domains: ['calm.example.org'] })).practiceId;
    const parsed = parseMasterKey(generateMasterKey());
    if (!parsed.ok) throw new Error('master key');
    masterKey = parsed.masterKey;
    await ensurePracticeKeys(db, masterKey, practiceId);
    chain = `archive:${practiceId}`;
    for (let i = 1; i <= 5; i++) await archive(i);
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  it('signs each chain that grew, once, and says what it signed', async () => {
    const first = await write();
    expect(first.refused).toEqual([]);
    const chains = first.written.map((w) => w.chain).sort();
    // The archive chain and the practice's audit chain (its key generation was audited).
    expect(chains).toEqual([chain, `audit:${practiceId}`].sort());
    const mine = first.written.find((w) => w.chain === chain)!;
    expect(mine.seq).toBe(5);
    const head = await db
      .selectFrom('chain_heads')
      .selectAll()
      .where('chain', '=', chain)
      .executeTakeFirstOrThrow();
    expect(mine.head).toBe(head.head);
    expect(parseCheckpointText(checkpointText(mine))).toEqual({
      chain: mine.chain,
      seq: mine.seq,
      head: mine.head,
      at: mine.at,
    });
    expect(mine.signed).toContain('-----BEGIN PGP SIGNED MESSAGE-----');
    expect(mine.signed).toContain(`head: ${head.head}`);
    // Nothing grew: nothing new to sign.
    expect((await write()).written).toEqual([]);
    await archive(6);
    const again = await write();
    expect(again.written.map((w) => [w.chain, w.seq])).toEqual([[chain, 6]]);
    const report = await verifyChains(db, { masterKey });
    expect(report.ok).toBe(true);
    expect(report.checkpointKeys).toBe('authenticated');
    const c = report.chains.find((x) => x.chain === chain)!;
    expect(c.checkpoints).toBe(2);
    expect(c.checkpointedTo?.seq).toBe(6);
  });

  it('catches a chain rewritten and recomputed before a checkpoint, which the hashes alone do not', async () => {
    const kept = (await db.selectFrom('chain_checkpoints').select('signed').execute()).map((r) => r.signed);
    await rewriteArchive(db, chain, 3, 'forge');
    // The chain itself verifies: every hash was recomputed.
    await db.deleteFrom('chain_checkpoints').execute();
    const bare = await verifyChains(db, { masterKey });
    expect(bare.ok).toBe(true);
    // Against the checkpoints kept elsewhere (deleted from the database above), it fails where the
    // first signed length no longer matches.
    const anchored = await verifyChains(db, { masterKey, anchors: signedBlocks(kept.join('\n')) });
    expect(anchored.ok).toBe(false);
    expect(anchored.anchorsChecked).toBe(kept.length);
    expect(anchored.firstBreak).toMatchObject({ chain, seq: 5, reason: 'checkpoint_mismatch' });
    // With the stored checkpoints back in place the same.
    for (const signed of kept) {
      const st = parseCheckpointText(
        signed.split('\n').slice(3).join('\n').split('\n-----BEGIN PGP SIGNATURE')[0]!,
      );
      expect(st).not.toBeNull();
      await db
        .insertInto('chain_checkpoints')
        .values({
          id: newId(),
          chain: st!.chain,
          seq: st!.seq,
          head: st!.head,
          at: st!.at,
          fingerprint: 'x',
          signed,
        })
        .execute();
    }
    const stored = await verifyChains(db, { masterKey });
    expect(stored.firstBreak).toMatchObject({ chain, seq: 5, reason: 'checkpoint_mismatch' });
    // And the next checkpoint is refused, not signed over the rewrite.
    await archive(7);
    const run = await write();
    expect(run.written.filter((w) => w.chain === chain)).toEqual([]);
    expect(run.refused).toEqual([expect.objectContaining({ chain, seq: 7, reason: 'prev_mismatch' })]);
  });

  it('catches a chain cut short of a checkpoint', async () => {
    await rewriteArchive(db, chain, 3, 'restore'); // undo: the chain is the signed one again
    await rewriteArchive(db, chain, 7, 'restore');
    expect((await verifyChains(db, { masterKey })).ok).toBe(true);
    expect((await write()).written.map((w) => [w.chain, w.seq])).toEqual([[chain, 7]]);
    // Drop the last two entries and move the head back: a consistent, shorter chain.
    const six = await db
      .selectFrom('archive_entries')
      .select('hash')
      .where('chain', '=', chain)
      .where('seq', '=', 5)
      .executeTakeFirstOrThrow();
    // (Their messages go too, as an insider hiding them would do.)
    const cut = db
      .selectFrom('archive_entries')
      .select('ref_id')
      .where('chain', '=', chain)
      .where('seq', '>', 5);
    await db.deleteFrom('messages').where('id', 'in', cut).execute();
    await db.deleteFrom('archive_entries').where('chain', '=', chain).where('seq', '>', 5).execute();
    await db.updateTable('chain_heads').set({ seq: 5, head: six.hash }).where('chain', '=', chain).execute();
    const report = await verifyChains(db, { masterKey });
    expect(report.firstBreak).toMatchObject({ chain, seq: 6, reason: 'checkpoint_mismatch' });
    const run = await write();
    expect(run.written).toEqual([]);
    expect(run.refused).toEqual([{ chain, seq: 6, id: null, reason: 'checkpoint_mismatch' }]);
  });

  it('refuses checkpoints signed by any other key, or altered after signing', async () => {
    const stranger = await generateKey({ name: 'Mallory' });
    const head = await db
      .selectFrom('chain_heads')
      .selectAll()
      .where('chain', '=', chain)
      .executeTakeFirstOrThrow();
    const forgedText = checkpointText({
      chain,
      seq: head.seq,
      head: head.head,
      at: new Date().toISOString(),
    });
    const forged = await signCleartext(forgedText, await parseTrustedPrivateKey(stranger.privateKey));
    await db.deleteFrom('chain_checkpoints').execute();
    await db
      .insertInto('chain_checkpoints')
      .values({
        id: newId(),
        chain,
        seq: 99,
        head: head.head,
        at: 'x',
        fingerprint: stranger.fingerprint,
        signed: forged,
      })
      .execute();
    expect((await verifyChains(db, { masterKey })).firstBreak).toMatchObject({
      chain,
      seq: 99,
      reason: 'checkpoint_signature',
    });
    // A forged row, even of a greater length, does not stop the genuine checkpoints.
    expect((await write()).written.map((w) => [w.chain, w.seq])).toContainEqual([chain, head.seq]);
    // The stranger's key slipped into the practice's keys, as someone with database access could:
    // the master key does not vouch for it, so what it signed still does not count.
    await db
      .insertInto('practice_keys')
      .values({
        id: newId(),
        practice_id: practiceId,
        purpose: 'signing',
        fingerprint: stranger.fingerprint,
        public_key: stranger.publicKey,
        sealed_private_key: 'as1.forged',
        created_at: new Date().toISOString(),
        retired_at: new Date().toISOString(),
      })
      .execute();
    const withKey = await verifyChains(db, { masterKey });
    expect(withKey.rejectedKeys).toEqual([stranger.fingerprint]);
    expect(withKey.firstBreak).toMatchObject({ reason: 'checkpoint_signature' });
    // Without the master key the stored keys are taken as they are, and the report says so.
    const unauthenticated = await verifyChains(db);
    expect(unauthenticated.checkpointKeys).toBe('unauthenticated');
    expect(unauthenticated.ok).toBe(true);
    await db.deleteFrom('practice_keys').where('fingerprint', '=', stranger.fingerprint).execute();
    await db.deleteFrom('chain_checkpoints').execute();

    // A genuine checkpoint with its statement edited after signing.
    const run = await write();
    const mine = run.written.find((w) => w.chain === chain)!;
    await db
      .updateTable('chain_checkpoints')
      .set({ signed: mine.signed.replace(`seq: ${mine.seq}`, `seq: ${mine.seq - 1}`) })
      .where('chain', '=', chain)
      .execute();
    expect((await verifyChains(db, { masterKey })).firstBreak).toMatchObject({
      chain,
      reason: 'checkpoint_signature',
    });
  });

  it('audits each checkpoint it writes (references only) and never puts entry content in one', async () => {
    await appendAudit(db, {
      action: AUDIT.PHI_READ,
      outcome: 'success',
      actor: { type: 'clinician', id: 'c-1' },
      practiceId,
      target: { type: 'patient', id: 'p-1' },
    });
    await db.deleteFrom('chain_checkpoints').execute();
    await rewriteArchive(db, chain, 5, 'restore');
    const before = await db.selectFrom('audit_events').select('id').execute();
    const run = await write();
    expect(run.refused).toEqual([]);
    expect(run.written.length).toBeGreaterThan(0);
    // One event per checkpoint, in the audit chain of the chain's practice, naming the stored row.
    const events = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', AUDIT.CHAIN_CHECKPOINT)
      .where('id', 'not in', before.length > 0 ? before.map((b) => b.id) : [''])
      .orderBy('seq')
      .execute();
    expect(events).toHaveLength(run.written.length);
    for (const w of run.written) {
      const e = events.find((x) => x.target_id === w.id);
      expect(e).toMatchObject({
        chain: `audit:${practiceId}`,
        practice_id: practiceId,
        outcome: 'success',
        actor_type: 'system',
        target_type: 'chain_checkpoint',
      });
      expect(JSON.parse(e!.details)).toEqual({
        chain: w.chain,
        seq: w.seq,
        head: w.head,
        fingerprint: w.fingerprint,
      });
      const stored = await db
        .selectFrom('chain_checkpoints')
        .select(['chain', 'seq'])
        .where('id', '=', w.id)
        .executeTakeFirstOrThrow();
      expect(stored).toEqual({ chain: w.chain, seq: w.seq });
      // The signed text is the statement and nothing else: chain name, length, head hash, time.
      const signed = w.signed.replace(/\r\n/g, '\n');
      const text = signed.slice(
        signed.indexOf('\n\n') + 2,
        signed.indexOf('\n-----BEGIN PGP SIGNATURE-----'),
      );
      expect(parseCheckpointText(text)).toEqual({ chain: w.chain, seq: w.seq, head: w.head, at: w.at });
    }
    // The events about the checkpoint of the audit chain come after its signed head: the chains
    // verify, and a chain that grew by nothing but those events is not signed again (each run would
    // otherwise sign the last run's event, for ever).
    const report = await verifyChains(db, { masterKey });
    expect(report.ok).toBe(true);
    const auditHead = report.chains.find((c) => c.chain === `audit:${practiceId}`)!;
    expect(auditHead.entries).toBeGreaterThan(auditHead.checkpointedTo!.seq);
    expect((await write()).written).toEqual([]);
    // Anything else audited since, and the next run signs the chain with the events in it.
    await appendAudit(db, {
      action: AUDIT.PHI_READ,
      outcome: 'success',
      actor: { type: 'clinician', id: 'c-1' },
      practiceId,
      target: { type: 'patient', id: 'p-1' },
    });
    const next = await write();
    expect(next.written.map((w) => [w.chain, w.seq])).toEqual([
      [`audit:${practiceId}`, auditHead.entries + 1],
    ]);
    expect((await verifyChains(db, { masterKey })).ok).toBe(true);
  });

  it('audits a refusal as a failure, with the chain, position and reason only', async () => {
    await archive(8);
    const head = await db
      .selectFrom('chain_heads')
      .selectAll()
      .where('chain', '=', chain)
      .executeTakeFirstOrThrow();
    await rewriteArchive(db, chain, head.seq, 'forge');
    // The rewrite recomputed the head too: only the link to the last signed entry is off.
    await db
      .updateTable('archive_entries')
      .set({ prev_hash: '1'.repeat(64) })
      .where('chain', '=', chain)
      .where('seq', '=', head.seq)
      .execute();
    const run = await write();
    expect(run.refused).toEqual([expect.objectContaining({ chain, seq: head.seq })]);
    const failure = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', AUDIT.CHAIN_CHECKPOINT)
      .where('outcome', '=', 'failure')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    expect(failure).toMatchObject({ practice_id: practiceId, target_type: 'chain', target_id: chain });
    expect(JSON.parse(failure.details)).toEqual({
      chain,
      seq: head.seq,
      reason: run.refused[0]!.reason,
    });
  });
});

describe('a long chain walk on the embedded store', () => {
  it('gives the event loop a turn between pages (sends go on during a checkpoint run)', async () => {
    // better-sqlite3 answers synchronously: a walk that only awaited its queries would hold the
    // loop for the whole chain (the first checkpoint after an upgrade walks all of it).
    const store = await createTestStore('sqlite');
    try {
      const db = store.db;
      const practiceId = (await ensurePractice(db, { name: 'Long', domains: ['long.example.org'] }))
        .practiceId;
      const parsed = parseMasterKey(generateMasterKey());
      if (!parsed.ok) throw new Error('master key');
      await ensurePracticeKeys(db, parsed.masterKey, practiceId);
      for (let i = 0; i < 1600; i++)
        await archiveStoredMessage(db, parsed.masterKey, practiceId, Buffer.from(`c ${i}`));
      // One count per event-loop turn while the run is under way.
      let turns = 0;
      let on = true;
      const tick = (): void => {
        turns++;
        if (on) setImmediate(tick);
      };
      setImmediate(tick);
      const run = await writeCheckpoints(db, practiceSigner(db, parsed.masterKey, practiceId), {
        masterKey: parsed.masterKey,
      });
      on = false;
      expect(run.refused).toEqual([]);
      expect(run.written.find((w) => w.chain === `archive:${practiceId}`)?.seq).toBe(1600);
      // 1,600 entries are four pages: at least a turn after each of the first three.
      expect(turns).toBeGreaterThanOrEqual(3);
    } finally {
      await store.cleanup();
    }
  });
});
