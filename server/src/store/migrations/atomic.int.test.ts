import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './index.ts';
import { migrateToLatest, openStore, type Store, type StoreConfig } from '../store.ts';
import { createTestSchema, dialectsUnderTest } from '../testing.ts';

const applied = async (store: Store) =>
  (await sql<{ name: string }>`select name from kysely_migration`.execute(store.db)).rows.map((r) => r.name);

// An upgrade is applied whole or not at all, on SQLite as on PostgreSQL: a migration that fails
// partway (here its second statement meets an object in the way) leaves nothing of its first half,
// so once the cause is gone the next start applies it cleanly.
describe.each(dialectsUnderTest())('migrations are atomic on %s', (dialect) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function config(): Promise<StoreConfig> {
    const dataDir = mkdtempSync(join(tmpdir(), 'attune-atomic-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    if (dialect === 'sqlite') return { dataDir };
    const schema = await createTestSchema();
    cleanups.push(schema.drop);
    return { dataDir, databaseUrl: schema.databaseUrl, pgSchema: schema.schema };
  }

  const applied = async (store: Store) =>
    (await sql<{ name: string }>`select name from kysely_migration`.execute(store.db)).rows.map(
      (r) => r.name,
    );

  it('rolls back a migration that fails after its first statement, and applies it whole next time', async () => {
    const cfg = await config();
    const store = await openStore(cfg, { migrate: false });
    cleanups.unshift(() => store.close());
    await migrateToLatest(store, cfg.pgSchema, {}, '0012-backfill-bounced-pgp');
    // 0013 creates outbox_delivery, then deliveries_practice_created: put an index of that name in
    // the way of the second.
    await sql`create index deliveries_practice_created on practices (name)`.execute(store.db);
    await expect(migrateToLatest(store, cfg.pgSchema)).rejects.toThrow(/0013-delivery-listing/);
    expect(await applied(store)).not.toContain('0013-delivery-listing');
    const leftover =
      dialect === 'sqlite'
        ? await sql<{
            name: string;
          }>`select name from sqlite_master where type = 'index' and name = 'outbox_delivery'`.execute(
            store.db,
          )
        : await sql<{
            name: string;
          }>`select indexname as name from pg_indexes where schemaname = ${cfg.pgSchema!} and indexname = 'outbox_delivery'`.execute(
            store.db,
          );
    expect(leftover.rows, 'the first statement of the failed migration').toEqual([]);

    await sql`drop index deliveries_practice_created`.execute(store.db);
    expect(await migrateToLatest(store, cfg.pgSchema)).toEqual(
      MIGRATIONS.map(([name]) => name).filter((n) => n >= '0013'),
    );
    expect((await applied(store)).sort()).toEqual(MIGRATIONS.map(([name]) => name));
  });
});

describe('migrations of one new SQLite store by two connections at once (as by two processes)', () => {
  it('both succeed and every migration is applied once: the one that met the other’s lock tries again', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'attune-atomic-race-'));
    const a = await openStore({ dataDir }, { migrate: false });
    const b = await openStore({ dataDir }, { migrate: false });
    try {
      // Short waits for the lock: both connections share this thread, so the one waiting blocks the other.
      for (const s of [a, b]) await sql`pragma busy_timeout = 200`.execute(s.db);
      const [ranA, ranB] = await Promise.all([migrateToLatest(a), migrateToLatest(b)]);
      expect([...ranA, ...ranB].sort()).toEqual(MIGRATIONS.map(([name]) => name));
      expect((await applied(a)).sort()).toEqual(MIGRATIONS.map(([name]) => name));
    } finally {
      await a.close();
      await b.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
