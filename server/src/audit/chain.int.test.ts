import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendArchive } from '../archive/index.ts';
import { leafHash, merkleRoot, nodeHash } from '../archive/merkle.ts';
import { ensurePractice } from '../store/index.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { AUDIT, appendAudit, verifyChains } from './index.ts';
import { canonical, withHeldChainHeads } from './chain.ts';

const event = (n: number) => ({
  action: AUDIT.PHI_READ,
  outcome: 'success' as const,
  actor: { type: 'clinician' as const, id: `c-${n}` },
  target: { type: 'patient', id: `p-${n}` },
  details: { n },
});

describe.each(dialectsUnderTest())('hash chains on %s', (dialect) => {
  let store: TestStore;
  let practiceId: string;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    practiceId = (await ensurePractice(store.db, { name: 'P', domains: ['p.example.org'] })).practiceId;
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  it('keeps one unbroken chain under concurrent appends', async () => {
    await Promise.all(Array.from({ length: 40 }, (_, i) => appendAudit(store.db, event(i))));
    const seqs = (await store.db.selectFrom('audit_events').select('seq').orderBy('seq').execute()).map(
      (r) => r.seq,
    );
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const report = await verifyChains(store.db);
    expect(report.ok).toBe(true);
    expect(report.chains.find((c) => c.chain === 'audit')?.entries).toBe(40);
  });

  it('rolls back an audit event with the transaction that wrote it', async () => {
    await expect(
      store.db.transaction().execute(async (tx) => {
        await appendAudit(tx, event(999));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const report = await verifyChains(store.db);
    expect(report.ok).toBe(true);
    expect(report.chains.find((c) => c.chain === 'audit')?.entries).toBe(40);
  });

  it('keeps one audit chain per practice, verified separately', async () => {
    await appendAudit(store.db, { ...event(1), practiceId });
    await appendAudit(store.db, { ...event(2), practiceId });
    const report = await verifyChains(store.db);
    expect(report.ok).toBe(true);
    expect(report.chains.find((c) => c.chain === `audit:${practiceId}`)?.entries).toBe(2);
    expect(report.chains.find((c) => c.chain === 'audit')?.entries).toBe(40);
  });

  it('reports the first tampered audit row', async () => {
    const victim = await store.db
      .selectFrom('audit_events')
      .select(['id', 'details'])
      .where('seq', '=', 17)
      .executeTakeFirstOrThrow();
    await store.db
      .updateTable('audit_events')
      .set({ outcome: 'failure' })
      .where('id', '=', victim.id)
      .execute();
    const report = await verifyChains(store.db);
    expect(report.ok).toBe(false);
    expect(report.firstBreak).toEqual({ chain: 'audit', seq: 17, id: victim.id, reason: 'hash_mismatch' });
    await store.db
      .updateTable('audit_events')
      .set({ outcome: 'success' })
      .where('id', '=', victim.id)
      .execute();
    expect((await verifyChains(store.db)).ok).toBe(true);
  });

  it('reports a deleted audit row as a gap and a truncated tail as a head mismatch', async () => {
    const rows = await store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', 'in', [5, 40])
      .orderBy('seq')
      .execute();
    await store.db.deleteFrom('audit_events').where('seq', '=', 5).execute();
    expect((await verifyChains(store.db)).firstBreak).toMatchObject({
      chain: 'audit',
      seq: 5,
      reason: 'seq_gap',
    });
    await store.db.insertInto('audit_events').values(rows[0]!).execute();
    await store.db.deleteFrom('audit_events').where('seq', '=', 40).execute();
    expect((await verifyChains(store.db)).firstBreak).toMatchObject({
      chain: 'audit',
      seq: 40,
      reason: 'head_mismatch',
    });
    await store.db.insertInto('audit_events').values(rows[1]!).execute();
    expect((await verifyChains(store.db)).ok).toBe(true);
  });

  it('chains archive entries per practice and catches a changed ciphertext', async () => {
    for (let i = 0; i < 5; i++) {
      await appendArchive(store.db, {
        practiceId,
        kind: 'message',
        refId: `m-${i}`,
        ciphertext: Buffer.from(`ciphertext ${i}`),
      });
    }
    const ok = await verifyChains(store.db);
    const chain = ok.chains.find((c) => c.chain === `archive:${practiceId}`);
    expect(chain?.entries).toBe(5);
    expect(chain?.merkleRoot).toMatch(/^[0-9a-f]{64}$/);
    const row = await store.db
      .selectFrom('archive_entries')
      .select('id')
      .where('seq', '=', 3)
      .executeTakeFirstOrThrow();
    await store.db
      .updateTable('archive_entries')
      .set({ ciphertext: Buffer.from('ciphertext X') })
      .where('id', '=', row.id)
      .execute();
    expect((await verifyChains(store.db)).firstBreak).toEqual({
      chain: `archive:${practiceId}`,
      seq: 3,
      id: row.id,
      reason: 'ciphertext_mismatch',
    });
  });

  it('holds chain heads through one transaction (group commit): the same chains, heads written once at the end', async () => {
    const other = (await ensurePractice(store.db, { name: 'Q', domains: ['q.example.org'] })).practiceId;
    const append = async (tx: typeof store.db, i: number) => {
      await appendAudit(tx, { ...event(i), practiceId: other });
      await appendArchive(tx, {
        practiceId: other,
        kind: 'message',
        refId: `q-${i}`,
        ciphertext: Buffer.from(`q ${i}`),
      });
    };
    // (The archive chain of the first practice was tampered with above: look at this practice's.)
    const mine = (report: Awaited<ReturnType<typeof verifyChains>>) =>
      report.chains
        .filter((c) => c.chain.endsWith(`:${other}`))
        .map((c) => ({ chain: c.chain, entries: c.entries, ok: c.break === undefined }));
    // A new chain (genesis) and many appends in one transaction, then appends outside one.
    await store.db.transaction().execute((tx) =>
      withHeldChainHeads(tx, async () => {
        for (let i = 0; i < 5; i++) await append(tx, i);
        // Inside the transaction the head row is not yet written: the held one is ahead of it.
        const row = await tx
          .selectFrom('chain_heads')
          .select('seq')
          .where('chain', '=', `audit:${other}`)
          .executeTakeFirstOrThrow();
        expect(row.seq).toBe(1);
      }),
    );
    await append(store.db, 5);
    expect(mine(await verifyChains(store.db))).toEqual([
      { chain: `archive:${other}`, entries: 6, ok: true },
      { chain: `audit:${other}`, entries: 6, ok: true },
    ]);
    // A failed transaction leaves neither entries nor a moved head.
    await expect(
      store.db.transaction().execute((tx) =>
        withHeldChainHeads(tx, async () => {
          await append(tx, 6);
          await append(tx, 7);
          throw new Error('abort');
        }),
      ),
    ).rejects.toThrow('abort');
    await store.db.transaction().execute((tx) => withHeldChainHeads(tx, () => append(tx, 8)));
    expect(mine(await verifyChains(store.db))).toEqual([
      { chain: `archive:${other}`, entries: 7, ok: true },
      { chain: `audit:${other}`, entries: 7, ok: true },
    ]);
    const seqs = await store.db
      .selectFrom('archive_entries')
      .select('seq')
      .where('chain', '=', `archive:${other}`)
      .orderBy('seq')
      .execute();
    expect(seqs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('canonical form and Merkle tree', () => {
  it('serializes objects with sorted keys and no whitespace', () => {
    expect(canonical({ b: 1, a: { d: null, c: 'x' }, e: [2, 1] })).toBe(
      '{"a":{"c":"x","d":null},"b":1,"e":[2,1]}',
    );
  });

  it('computes RFC 6962 roots: leaf and node prefixes, split at the largest power of two', () => {
    const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
    const [a, b, c] = ['a', 'b', 'c'].map((s) => leafHash(s)) as [Buffer, Buffer, Buffer];
    expect(a).toEqual(sha(Buffer.from([0]), Buffer.from('a')));
    expect(merkleRoot([])).toEqual(sha());
    expect(merkleRoot([a])).toEqual(a);
    expect(merkleRoot([a, b])).toEqual(sha(Buffer.from([1]), a, b));
    // Three leaves: MTH = node(node(a, b), c), not node(a, node(b, c)).
    expect(merkleRoot([a, b, c])).toEqual(nodeHash(nodeHash(a, b), c));
    expect(merkleRoot([a, b, c])).not.toEqual(nodeHash(a, nodeHash(b, c)));
  });
});
