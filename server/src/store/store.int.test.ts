import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './migrations/index.ts';
import { inTransaction, newId, nowIso, openStore } from './store.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from './testing.ts';

describe.each(dialectsUnderTest())('store on %s', (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  async function addPractice(): Promise<string> {
    const id = newId();
    const now = nowIso();
    await store.db
      .insertInto('practices')
      .values({ id, name: 'P', reply_domain: null, entra_tenant_id: null, created_at: now, updated_at: now })
      .execute();
    return id;
  }

  it('creates every table of the schema', async () => {
    const tables = (await store.db.introspection.getTables()).map((t) => t.name);
    for (const t of [
      'practices',
      'practice_domains',
      'clinicians',
      'patients',
      'practice_keys',
      'practice_policy',
      'messages',
      'deliveries',
      'outbox',
      'viewer_links',
      'replies',
      'engagement_events',
      'audit_events',
      'archive_entries',
      'chain_heads',
    ]) {
      expect(tables).toContain(t);
    }
  });

  it('re-running migrations on an up-to-date store changes nothing', async () => {
    const again = await openStore({
      dataDir: store.dataDir,
      databaseUrl: store.databaseUrl,
      pgSchema: store.pgSchema,
    });
    const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(again.db);
    await again.close();
    expect(rows.rows.map((r) => r.name).sort()).toEqual(MIGRATIONS.map(([name]) => name));
  });

  it('round-trips ciphertext as a Buffer, ISO timestamps as text and BIGINT as a number', async () => {
    const practiceId = await addPractice();
    const patientId = newId();
    const at = '2026-03-04T05:06:07.089Z';
    await store.db
      .insertInto('patients')
      .values({
        id: patientId,
        practice_id: practiceId,
        email: 'a@example.org',
        name: null,
        time_zone: null,
        public_key: null,
        fingerprint: null,
        created_at: at,
        updated_at: at,
      })
      .execute();
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    await store.db
      .insertInto('outbox')
      .values({
        id: newId(),
        practice_id: practiceId,
        delivery_id: null,
        kind: 'blob',
        payload_ref: null,
        payload: bytes,
        available_at: at,
        attempts: 0,
        claimed_by: null,
        claimed_until: null,
        done_at: null,
        permanent_failure: 0,
        last_error: null,
        created_at: at,
      })
      .execute();
    const row = await store.db
      .selectFrom('outbox')
      .selectAll()
      .where('practice_id', '=', practiceId)
      .executeTakeFirstOrThrow();
    expect(Buffer.isBuffer(row.payload)).toBe(true);
    expect(Buffer.compare(row.payload ?? Buffer.alloc(0), bytes)).toBe(0);
    expect(row.available_at).toBe(at);

    const big = 9_000_000_000_123; // > 2^32: must stay exact and numeric on both dialects
    await store.db
      .insertInto('engagement_events')
      .values({
        id: newId(),
        practice_id: practiceId,
        patient_id: patientId,
        type: 'replied',
        at,
        message_id: null,
        latency_ms: big,
        topics: '[]',
        data: '{}',
        created_at: at,
      })
      .execute();
    const ev = await store.db
      .selectFrom('engagement_events')
      .select('latency_ms')
      .where('patient_id', '=', patientId)
      .executeTakeFirstOrThrow();
    expect(ev.latency_ms).toBe(big);
  });

  it('refuses a second patient with the same email in one practice but allows it in another', async () => {
    const [p1, p2] = [await addPractice(), await addPractice()];
    const now = nowIso();
    const row = (practice_id: string) => ({
      id: newId(),
      practice_id,
      email: 'same@example.org',
      name: null,
      time_zone: null,
      public_key: null,
      fingerprint: null,
      created_at: now,
      updated_at: now,
    });
    await store.db.insertInto('patients').values(row(p1)).execute();
    await expect(store.db.insertInto('patients').values(row(p1)).execute()).rejects.toThrow();
    await store.db.insertInto('patients').values(row(p2)).execute();
  });

  it('rolls back every write of a transaction that throws', async () => {
    const practiceId = newId();
    const now = nowIso();
    await expect(
      inTransaction(store.db, async (tx) => {
        await tx
          .insertInto('practices')
          .values({
            id: practiceId,
            name: 'X',
            reply_domain: null,
            entra_tenant_id: null,
            created_at: now,
            updated_at: now,
          })
          .execute();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const found = await store.db
      .selectFrom('practices')
      .select('id')
      .where('id', '=', practiceId)
      .executeTakeFirst();
    expect(found).toBeUndefined();
  });

  it('lets an outbox row be claimed once by concurrent claimers', async () => {
    const practiceId = await addPractice();
    const now = nowIso();
    const ids = Array.from({ length: 5 }, () => newId());
    await store.db
      .insertInto('outbox')
      .values(
        ids.map((id) => ({
          id,
          practice_id: practiceId,
          delivery_id: null,
          kind: 'test',
          payload_ref: null,
          payload: null,
          available_at: now,
          attempts: 0,
          claimed_by: null,
          claimed_until: null,
          done_at: null,
          permanent_failure: 0,
          last_error: null,
          created_at: now,
        })),
      )
      .execute();
    const claim = async (worker: string) => {
      const until = new Date(Date.now() + 60_000).toISOString();
      const t = nowIso();
      const pending = store.db
        .selectFrom('outbox')
        .select('id')
        .where('practice_id', '=', practiceId)
        .where('done_at', 'is', null)
        .where('permanent_failure', '=', 0)
        .where('available_at', '<=', t)
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', t)]))
        .orderBy('available_at')
        .limit(2);
      const rows = await store.db
        .updateTable('outbox')
        .set({ claimed_by: worker, claimed_until: until })
        .where('id', 'in', dialect === 'postgres' ? pending.forUpdate().skipLocked() : pending)
        .returning(['id', 'claimed_by'])
        .execute();
      return rows.map((r) => r.id);
    };
    const claimed = (await Promise.all(['w1', 'w2', 'w3', 'w4'].map(claim))).flat();
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.sort()).toEqual([...ids].sort());
  });

  if (dialect === 'sqlite') {
    it('opens SQLite in WAL mode with synchronous=FULL', async () => {
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db);
      const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db);
      expect(mode.rows[0]?.journal_mode).toBe('wal');
      expect(sync.rows[0]?.synchronous).toBe(2); // 2 = FULL
    });
  }
});
