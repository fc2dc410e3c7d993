import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePractice, newId, nowIso } from '../store/index.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { EngagementEventCache } from './cache.ts';
import { warmEngagementCaches } from './service.ts';
import { insertEvents, type NewEvent } from './events-store.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const ev = (id: string, patientId: string, minutes: number): NewEvent => ({
  id,
  patientId,
  type: 'sent',
  at: new Date(T0 + minutes * 60_000),
  messageId: id,
});

describe.each(dialectsUnderTest())('engagement event cache on %s', (dialect) => {
  let store: TestStore;
  let practiceId: string;
  let p1: string;
  let p2: string;

  beforeEach(async () => {
    store = await createTestStore(dialect);
    practiceId = (await ensurePractice(store.db, { name: 'P', domains: ['p.example'] })).practiceId;
    const t = nowIso();
    [p1, p2] = [newId(), newId()];
    for (const [id, email] of [
      [p1, 'a@x.example'],
      [p2, 'b@x.example'],
    ] as const) {
      await store.db
        .insertInto('patients')
        .values({
          id,
          practice_id: practiceId,
          email,
          name: null,
          time_zone: null,
          public_key: null,
          fingerprint: null,
          created_at: t,
          updated_at: t,
        })
        .execute();
    }
  });
  afterEach(async () => {
    await store.cleanup();
  });

  const ids = (xs: ReadonlyArray<{ id: string }> | undefined) => (xs ?? []).map((e) => e.id);

  it('serves repeated reads from memory and picks up rows another writer adds, in time order', async () => {
    const cache = new EngagementEventCache();
    await insertEvents(
      store.db,
      practiceId,
      [ev('a1', p1, 10), ev('b1', p2, 5)],
      new Date('2026-03-02T00:00:00Z'),
    );
    expect(ids((await cache.practice(store.db, practiceId)).get(p1))).toEqual(['a1']);
    await cache.practice(store.db, practiceId);
    expect(cache.stats).toEqual({ hits: 1, incremental: 0, full: 1 });
    // A later write (another process would do the same) with an older event time.
    await insertEvents(
      store.db,
      practiceId,
      [ev('a0', p1, 1), ev('a2', p1, 20)],
      new Date('2026-03-03T00:00:00Z'),
    );
    const after = await cache.practice(store.db, practiceId);
    expect(ids(after.get(p1))).toEqual(['a0', 'a1', 'a2']);
    expect(cache.stats.incremental).toBe(1);
    expect(ids(await cache.patient(store.db, practiceId, p2))).toEqual(['b1']);
  });

  it('reloads in full when a row commits out of created_at order or rows are deleted', async () => {
    const cache = new EngagementEventCache();
    await insertEvents(store.db, practiceId, [ev('a1', p1, 10)], new Date('2026-03-05T00:00:00Z'));
    await cache.patient(store.db, practiceId, p1);
    // created_at older than the cached newest: an incremental load cannot see it; the stamp can.
    await insertEvents(store.db, practiceId, [ev('late', p1, 5)], new Date('2026-03-04T00:00:00Z'));
    expect(ids(await cache.patient(store.db, practiceId, p1))).toEqual(['late', 'a1']);
    await store.db.deleteFrom('engagement_events').where('id', '=', 'a1').execute();
    expect(ids(await cache.patient(store.db, practiceId, p1))).toEqual(['late']);
    // Same count, different rows (a reset that re-inserts): still reloaded.
    await insertEvents(store.db, practiceId, [ev('new', p1, 30)], new Date('2026-03-01T00:00:00Z'));
    await store.db.deleteFrom('engagement_events').where('id', '=', 'late').execute();
    expect(ids(await cache.patient(store.db, practiceId, p1))).toEqual(['new']);
    expect(cache.stats.full).toBeGreaterThanOrEqual(3);
  });

  it('handles rows sharing the newest created_at across two writes without duplicating them', async () => {
    const cache = new EngagementEventCache();
    const same = new Date('2026-03-06T00:00:00Z');
    await insertEvents(store.db, practiceId, [ev('s1', p1, 1)], same);
    await cache.patient(store.db, practiceId, p1);
    await insertEvents(store.db, practiceId, [ev('s2', p1, 2)], same);
    expect(ids(await cache.patient(store.db, practiceId, p1))).toEqual(['s1', 's2']);
    expect(cache.stats.incremental).toBe(1);
  });

  it('keeps at most the configured number of practices in memory (least recently used goes)', async () => {
    const cache = new EngagementEventCache({ maxPractices: 1 });
    const other = (await ensurePractice(store.db, { name: 'Q', domains: ['q.example'] })).practiceId;
    await cache.practice(store.db, practiceId);
    await cache.practice(store.db, other);
    await cache.practice(store.db, practiceId);
    expect(cache.stats).toEqual({ hits: 0, incremental: 0, full: 3 });
    await cache.practice(store.db, practiceId);
    expect(cache.stats.hits).toBe(1);
  });

  it('the start-up warm-up loads every practice of the store, as many as the cache keeps, the configured one kept', async () => {
    // Three more practices, each with an event; the cache keeps three whole practices.
    const others: string[] = [];
    for (const n of [1, 2, 3]) {
      const id = (await ensurePractice(store.db, { name: `O${n}`, domains: [`o${n}.example`] })).practiceId;
      await store.db
        .updateTable('practices')
        .set({ created_at: `2026-01-0${n}T00:00:00.000Z` })
        .where('id', '=', id)
        .execute();
      const patient = newId();
      const t = nowIso();
      await store.db
        .insertInto('patients')
        .values({
          id: patient,
          practice_id: id,
          email: `p@o${n}.example`,
          name: null,
          time_zone: null,
          public_key: null,
          fingerprint: null,
          created_at: t,
          updated_at: t,
        })
        .execute();
      await insertEvents(store.db, id, [ev(`o${n}`, patient, n)], new Date('2026-03-02T00:00:00Z'));
      others.push(id);
    }
    await insertEvents(store.db, practiceId, [ev('a1', p1, 10)], new Date('2026-03-02T00:00:00Z'));
    const cache = new EngagementEventCache({ maxPractices: 3 });
    const services: Record<string, unknown> = { engagementCache: cache };
    await warmEngagementCaches(store.db, practiceId, services);
    const loaded = cache.stats.full;
    // The configured practice and the two most recently added ones are served from memory.
    for (const id of [practiceId, others[2]!, others[1]!]) await cache.practice(store.db, id);
    expect(cache.stats.full).toBe(loaded);
    // The oldest other practice did not fit: it is read from the store.
    await cache.practice(store.db, others[0]!);
    expect(cache.stats.full).toBe(loaded + 1);
  });
});
