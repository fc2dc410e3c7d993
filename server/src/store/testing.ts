// Test support: the same suite runs on SQLite (a temp folder) and on PostgreSQL (TEST_DATABASE_URL,
// a fresh schema per suite, dropped afterwards), so both dialects keep passing the same tests.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrateToLatest, openStore, type Dialect, type Store } from './store.ts';

export interface TestStore extends Store {
  dataDir: string;
  /** PostgreSQL only: the schema this suite owns. */
  pgSchema?: string;
  databaseUrl?: string;
  cleanup(): Promise<void>;
}

export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'];

/** The dialects to run: SQLite always; PostgreSQL when TEST_DATABASE_URL is set. */
export function dialectsUnderTest(): Dialect[] {
  if (!TEST_DATABASE_URL) {
    // Visible, so a green run without PostgreSQL is not mistaken for a PostgreSQL pass.
    console.warn('[store tests] TEST_DATABASE_URL is unset: PostgreSQL suites are SKIPPED');
    return ['sqlite'];
  }
  return ['sqlite', 'postgres'];
}

/**
 * Creates an empty, migrated store of the given dialect; `cleanup` closes it and removes its data.
 * `upTo`: migrated only up to and with that migration, as an older version left it (upgrade tests).
 */
export async function createTestStore(dialect: Dialect, upTo?: string): Promise<TestStore> {
  const dataDir = mkdtempSync(join(tmpdir(), 'attune-test-'));
  const open = async (config: { dataDir: string; databaseUrl?: string; pgSchema?: string }) => {
    if (!upTo) return openStore(config);
    const store = await openStore(config, { migrate: false });
    store.migrated = await migrateToLatest(store, config.pgSchema, {}, upTo);
    return store;
  };
  if (dialect === 'sqlite') {
    const store = await open({ dataDir });
    return {
      ...store,
      dataDir,
      async cleanup() {
        await store.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is required for PostgreSQL tests');
  const pgSchema = `t_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE SCHEMA ${pgSchema}`);
  const store = await open({ dataDir, databaseUrl: TEST_DATABASE_URL, pgSchema });
  return {
    ...store,
    dataDir,
    pgSchema,
    databaseUrl: TEST_DATABASE_URL,
    async cleanup() {
      await store.close();
      await adminQuery(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh, empty PostgreSQL schema for a test that boots the whole server:
 * `startServer(testConfig(dir, { DATABASE_URL: s.databaseUrl, DATABASE_SCHEMA: s.schema }))`.
 * `drop()` removes it and everything in it.
 */
export async function createTestSchema(): Promise<{
  databaseUrl: string;
  schema: string;
  drop(): Promise<void>;
}> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is required for PostgreSQL tests');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE SCHEMA ${schema}`);
  return {
    databaseUrl: TEST_DATABASE_URL,
    schema,
    drop: () => adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
