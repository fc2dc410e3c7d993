import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { newId, nowIso } from '../store/index.ts';
import { createCommitQueue } from './commit-queue.ts';

/** A practice row to insert: the smallest row the writers under test can commit. */
const practice = (id: string) => ({
  id,
  name: 'P',
  reply_domain: null,
  entra_tenant_id: null,
  created_at: nowIso(),
  updated_at: nowIso(),
});

describe.each(dialectsUnderTest())('group commit on %s', (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  it('commits concurrent writers together, and a failing writer does not take its neighbours down', async () => {
    const q = createCommitQueue(store.db);
    const ids = Array.from({ length: 10 }, () => newId());
    const results = await Promise.allSettled(
      ids.map((id, i) =>
        q.run(async (tx) => {
          await tx.insertInto('practices').values(practice(id)).execute();
          if (i === 4) throw new Error('this writer fails');
          return id;
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(9);
    expect(results[4]?.status).toBe('rejected');
    const rows = await store.db.selectFrom('practices').select('id').where('id', 'in', ids).execute();
    expect(rows.map((r) => r.id).sort()).toEqual(ids.filter((_, i) => i !== 4).sort());
  });

  it('resolves a writer only after its rows are committed', async () => {
    const q = createCommitQueue(store.db);
    const id = newId();
    await q.run((tx) => tx.insertInto('practices').values(practice(id)).execute());
    const seen = await store.db.selectFrom('practices').select('id').where('id', '=', id).executeTakeFirst();
    expect(seen?.id).toBe(id);
  });
});

describe('group commit on sqlite with the WAL synced off the event loop', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore('sqlite');
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  it('resolves writers only after the WAL sync, and leaves the connection at synchronous=FULL', async () => {
    expect(store.syncWal).toBeTypeOf('function');
    const events: string[] = [];
    const q = createCommitQueue(store.db, {
      syncWal: async () => {
        events.push('sync start');
        await store.syncWal!();
        events.push('sync end');
      },
    });
    const ids = Array.from({ length: 5 }, () => newId());
    await Promise.all(
      ids.map((id) =>
        q
          .run((tx) => tx.insertInto('practices').values(practice(id)).execute())
          .then(() => events.push('resolved')),
      ),
    );
    expect(events.indexOf('sync end')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('sync end')).toBeLessThan(events.indexOf('resolved'));
    const rows = await store.db.selectFrom('practices').select('id').where('id', 'in', ids).execute();
    expect(rows).toHaveLength(5);
    // 2 = FULL: statements outside the queue still sync on every commit.
    const { rows: mode } = await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db);
    expect(mode[0]?.synchronous).toBe(2);
  });

  it('reports no success for a group whose WAL sync failed', async () => {
    const q = createCommitQueue(store.db, { syncWal: () => Promise.reject(new Error('EIO')) });
    const results = await Promise.allSettled(
      [newId(), newId()].map((id) =>
        q.run((tx) => tx.insertInto('practices').values(practice(id)).execute()),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
  /** A syncWal whose calls each wait for the test to release them, recording what happens. */
  function heldSyncs(events: string[], fail: (n: number) => boolean = () => false) {
    const releases: Array<() => void> = [];
    let n = 0;
    let inFlight = 0;
    const syncWal = async () => {
      const k = ++n;
      inFlight++;
      events.push(`sync ${k} start${inFlight > 1 ? ' (overlapping)' : ''}`);
      await new Promise<void>((r) => releases.push(r));
      inFlight--;
      events.push(`sync ${k} end`);
      if (fail(k)) throw new Error('EIO');
      await store.syncWal!();
    };
    const release = async () => {
      while (releases.length === 0) await new Promise((r) => setTimeout(r, 2));
      releases.shift()!();
    };
    return { syncWal, release };
  }
  const committedRow = async (id: string) =>
    (await store.db.selectFrom('practices').select('id').where('id', '=', id).executeTakeFirst()) !==
    undefined;
  const until = async (cond: () => Promise<boolean>) => {
    for (let i = 0; i < 500 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 2));
  };

  it('runs the next group while the previous one syncs, and resolves each only after its own and all earlier syncs', async () => {
    const events: string[] = [];
    const { syncWal, release } = heldSyncs(events);
    const q = createCommitQueue(store.db, { syncWal });
    const [a, b] = [newId(), newId()];
    const pa = q
      .run((tx) => tx.insertInto('practices').values(practice(a)).execute())
      .then(() => events.push('A resolved'));
    await until(() => Promise.resolve(events.includes('sync 1 start')));
    const pb = q
      .run((tx) => tx.insertInto('practices').values(practice(b)).execute())
      .then(() => events.push('B resolved'));
    // B's transaction commits while A's sync is still held; B is not answered, and its own sync
    // waits for A's.
    await until(() => committedRow(b));
    expect(await committedRow(b)).toBe(true);
    expect(events).toEqual(['sync 1 start']);
    await release();
    await pa;
    await until(() => Promise.resolve(events.includes('sync 2 start')));
    expect(events).toEqual(['sync 1 start', 'sync 1 end', 'A resolved', 'sync 2 start']);
    await release();
    await pb;
    expect(events).toEqual([
      'sync 1 start',
      'sync 1 end',
      'A resolved',
      'sync 2 start',
      'sync 2 end',
      'B resolved',
    ]);
  });

  it('fails a group committed behind a failed sync, and recovers for the next one', async () => {
    const events: string[] = [];
    const { syncWal, release } = heldSyncs(events, (k) => k === 1);
    const q = createCommitQueue(store.db, { syncWal });
    const [a, b, c] = [newId(), newId(), newId()];
    const pa = q.run((tx) => tx.insertInto('practices').values(practice(a)).execute());
    await until(() => Promise.resolve(events.includes('sync 1 start')));
    const pb = q.run((tx) => tx.insertInto('practices').values(practice(b)).execute());
    await until(() => committedRow(b));
    await release();
    const settled = await Promise.allSettled([pa, pb]);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    // B's sync never started: it could not make B durable ahead of A's lost frames.
    expect(events).toEqual(['sync 1 start', 'sync 1 end']);
    const pc = q.run((tx) => tx.insertInto('practices').values(practice(c)).execute());
    await release();
    await expect(pc).resolves.toBeDefined();
    expect(events).toEqual(['sync 1 start', 'sync 1 end', 'sync 2 start', 'sync 2 end']);
  });
});
