import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  SqliteAdapter,
  SqliteDialect,
  type DialectAdapter,
  type Migration,
  type SqliteDatabase,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';
import { MIGRATIONS } from './migrations/index.ts';
import type { Dialect } from './migrations/types.ts';
import { ensurePrivateDir } from './private-dir.ts';

export type { Dialect } from './migrations/types.ts';

/** The database handle every module uses; a Transaction<Database> is also a Db. */
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

/** What the store needs from the configuration (Config satisfies it structurally). */
export interface StoreConfig {
  /** The data folder; the SQLite file lives at DATA_DIR/attune.db. */
  dataDir: string;
  /** postgres://… selects PostgreSQL; unset selects the embedded SQLite store. */
  databaseUrl?: string | undefined;
  /** PostgreSQL schema to use (search_path); tests use a fresh one each. Default: the server's default. */
  pgSchema?: string | undefined;
  /** PostgreSQL pool size (default 10). */
  pgPoolMax?: number | undefined;
}

export interface Store {
  db: Db;
  dialect: Dialect;
  close(): Promise<void>;
  /**
   * SQLite only: fsyncs the write-ahead log off the event loop (libuv's thread pool). After it
   * resolves, every transaction committed before the call is durable, as synchronous=FULL would
   * have made it at its commit. The group commit uses it (delivery/commit-queue.ts).
   */
  syncWal?: () => Promise<void>;
  /**
   * The migrations this open applied, in order (none when the schema was already current or
   * `migrate: false`). The start-up content-MAC backfill binds rows on the archive's word alone only
   * when this very process applied 0008 (store/content-macs.ts).
   */
  migrated: readonly string[];
}

const SQLITE_FILE = 'attune.db';

/**
 * Work to do just before a migration is applied, by its name, in the same transaction where the
 * dialect has one for migrations (PostgreSQL: the whole run is one): done exactly when that
 * migration is, and recorded applied only after it. The server's upgrade to content MACs signs the
 * archive chains there (store/content-macs.ts), with the master key a migration does not hold.
 */
export type MigrationHooks = Readonly<Record<string, (db: Db) => Promise<void>>>;

export interface OpenStoreOptions {
  /** false: no migrations (admin commands; the server migrates at start). */
  migrate?: boolean;
  beforeMigration?: MigrationHooks;
  /** false: refuse (StoreNotFoundError) rather than create a new SQLite store. */
  create?: boolean;
}

/** `openStore(…, { create: false })` found no SQLite file where the configuration points. */
export class StoreNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`no Attune store at ${path}`);
  }
}

/**
 * Opens the store. `migrate: false` leaves the schema as it is (admin commands that only read, or
 * that need the server of this version to have started once). `create: false` refuses, with
 * StoreNotFoundError, to create the SQLite file (and DATA_DIR) when there is none: an admin command
 * pointed at the wrong folder must not leave an empty database behind.
 */
export async function openStore(config: StoreConfig, opts: OpenStoreOptions = {}): Promise<Store> {
  if (!config.databaseUrl && opts.create === false) {
    const file = join(config.dataDir, SQLITE_FILE);
    if (!existsSync(file)) throw new StoreNotFoundError(file);
  }
  const store = config.databaseUrl ? openPostgres(config) : openSqlite(config.dataDir);
  if (opts.migrate !== false) {
    try {
      store.migrated = await migrateToLatest(store, config.pgSchema, opts.beforeMigration);
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  return store;
}

/**
 * SQLite runs DDL inside transactions, but Kysely's SQLite adapter says it does not, so its migrator
 * ran each statement of a migration on its own: a crash or a failed statement partway through left
 * the migration half applied and unrecorded, and the next start failed on what the first half made
 * ("index … already exists"). Saying so makes the migrator run every pending migration, with its
 * bookkeeping row, in one transaction, as on PostgreSQL: an upgrade happens whole or not at all.
 * (No migration may rely on PRAGMAs that do nothing inside a transaction, such as foreign_keys.)
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class TransactionalDdlSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

function openSqlite(dataDir: string): Store {
  ensurePrivateDir(dataDir);
  const sqlite = new BetterSqlite3(join(dataDir, SQLITE_FILE));
  // WAL lets readers run beside the writer. synchronous=FULL syncs the WAL on every commit: under
  // NORMAL a power failure may roll back a transaction we already acknowledged with a 2xx.
  const walMode = sqlite.pragma('journal_mode = WAL', { simple: true }) === 'wal';
  sqlite.pragma('synchronous = FULL');
  // Another process (an `attune verify` run, a second server) may hold the write lock briefly.
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // Checkpoint every 4000 WAL pages (~16 MB) instead of SQLite's 1000: a checkpoint copies each
  // changed page once and costs two fsyncs on the event loop, and the hot pages (chain heads,
  // outbox, indexes) change with every send. bench:server: ~9 % less CPU per secure send.
  sqlite.pragma('wal_autocheckpoint = 4000');
  const db = new Kysely<Database>({
    dialect: new TransactionalDdlSqliteDialect({ database: withStatementCache(sqlite) }),
  });
  const file = join(dataDir, SQLITE_FILE);
  let dirSynced = false;
  // The WAL stays open for the store's lifetime: opening and closing it for every group commit
  // cost two system calls beside the fsync. SQLite keeps the same WAL file while a connection is
  // open (it resets and overwrites it after a checkpoint, it deletes it only on the last close),
  // so an fsync of this descriptor syncs whatever SQLite wrote to the WAL. fsync works on a
  // read-only descriptor and flushes every write to the file, whoever made it.
  let wal: Promise<FileHandle> | null = null;
  // Only in WAL mode (a file system without shared memory may refuse it); without it the group
  // commit keeps synchronous=FULL for its own commits.
  async function syncWal(): Promise<void> {
    wal ??= open(`${file}-wal`, 'r');
    const handle = wal;
    try {
      await (await handle).sync();
    } catch (err) {
      // Open afresh next time; this sync failed, and the caller reports it.
      if (wal === handle) wal = null;
      void handle.then((h) => h.close()).catch(() => undefined);
      throw err;
    }
    if (!dirSynced) {
      // The WAL's directory entry, once (SQLite syncs it on the WAL's first sync under FULL).
      const dir = await open(dataDir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      dirSynced = true;
    }
  }
  async function close(): Promise<void> {
    await db.destroy();
    const handle = wal;
    wal = null;
    if (handle) await handle.then((h) => h.close()).catch(() => undefined);
  }
  return { db, dialect: 'sqlite', close, migrated: [], ...(walMode ? { syncWal } : {}) };
}

/** Prepared statements kept per connection, by SQL text (bounded). */
const STATEMENT_CACHE_SIZE = 500;

// Kysely's SQLite driver prepares every query afresh; compiling the SQL was a measurable share of a
// secure send's CPU (bench:server). A statement is reusable once it has run, and Kysely's single
// connection mutex means no two queries use one statement at the same time. SQLite re-prepares a
// cached statement by itself after a schema change (migrations).
function withStatementCache(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => void sqlite.close(),
    prepare(source: string) {
      let stmt = cache.get(source);
      if (!stmt) {
        stmt = sqlite.prepare(source);
        // Oldest first out: a Map iterates in insertion order.
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
        cache.set(source, stmt);
      }
      return stmt;
    },
  };
}

// BIGINT (int8) comes back from pg as a string to avoid precision loss; our BIGINTs are epoch-ms
// quantities far below 2^53, so a number is exact and matches SQLite.
const INT8_OID = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : (pg.types.getTypeParser(oid, format ?? 'text') as unknown)) as typeof pg.types.getTypeParser,
};

function openPostgres(config: StoreConfig): Store {
  if (config.pgSchema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(config.pgSchema)) {
    throw new Error('pgSchema must be a lower-case SQL identifier');
  }
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: config.pgPoolMax ?? 10,
    types: pgTypes,
    // Set per connection at start-up, so every pooled connection sees the same schema.
    ...(config.pgSchema ? { options: `-c search_path=${config.pgSchema}` } : {}),
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener Node exits.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy(), migrated: [] };
}

/** Where a store's schema stands against this version's migrations (recorded in kysely_migration). */
export type SchemaState =
  | { state: 'empty' }
  | { state: 'behind'; pending: string[] }
  | { state: 'current' }
  | { state: 'ahead'; unknown: string[] };

/** Reads the store's applied migrations without changing anything. */
export async function schemaState(store: Store): Promise<SchemaState> {
  let applied: string[];
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(store.db);
    applied = rows.map((r) => r.name);
  } catch {
    return { state: 'empty' };
  }
  if (applied.length === 0) return { state: 'empty' };
  const ours = new Set(MIGRATIONS.map(([name]) => name));
  const unknown = applied.filter((n) => !ours.has(n)).sort();
  if (unknown.length > 0) return { state: 'ahead', unknown };
  const done = new Set(applied);
  const pending = MIGRATIONS.map(([name]) => name).filter((n) => !done.has(n));
  return pending.length > 0 ? { state: 'behind', pending } : { state: 'current' };
}

/**
 * Applies every pending migration (up to and with `upTo` when given: tests of upgrades) and names
 * those it applied; throws with the failing migration's name.
 */
export async function migrateToLatest(
  store: Store,
  pgSchema?: string,
  hooks: MigrationHooks = {},
  upTo?: string,
): Promise<string[]> {
  const migrator = new Migrator({
    db: store.db,
    provider: {
      getMigrations: () =>
        Promise.resolve(
          Object.fromEntries(
            MIGRATIONS.map(([name, m]): [string, Migration] => [
              name,
              {
                up: async (db) => {
                  // (The migration handle is typed loosely; it is this store's database, mid-migration.)
                  await hooks[name]?.(db as Db);
                  await m.up(db, store.dialect);
                },
              },
            ]),
          ),
        ),
    },
    // Kysely looks for its bookkeeping table in every schema unless told which; name ours so that
    // several schemas (tests, tenants of a shared cluster) in one database never mistake each other's.
    ...(store.dialect === 'postgres' ? { migrationTableSchema: pgSchema ?? 'public' } : {}),
  });
  const migrate = () => (upTo ? migrator.migrateTo(upTo) : migrator.migrateToLatest());
  let { error, results } = await migrate();
  // Kysely's bookkeeping checks scan the catalog of every schema in the database (has_schema_privilege,
  // pg_get_serial_sequence per column); a schema or table another client drops meanwhile makes that scan
  // fail ("schema … does not exist") before any migration ran. Nothing was applied: try again.
  // On SQLite, another process migrating the same file at the same moment (a server and a gateway
  // started together on a new store) holds the write lock past busy_timeout, or committed under our
  // read snapshot (SQLITE_BUSY_SNAPSHOT). The whole run is one transaction, rolled back: try again,
  // and find its work done.
  for (
    let attempt = 1;
    error &&
    ((!results?.length && isConcurrentDrop(error)) || (store.dialect === 'sqlite' && isSqliteBusy(error))) &&
    attempt <= 5;
    attempt++
  ) {
    await new Promise((r) => setTimeout(r, 50 * attempt));
    ({ error, results } = await migrate());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(
      `database migration ${failed} failed: ${error instanceof Error ? error.message : 'unknown error'}`,
      {
        cause: error,
      },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** SQLite's SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, …): another writer. */
function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** PostgreSQL's undefined schema / table / column (3F000, 42P01, 42703): an object dropped under us. */
function isConcurrentDrop(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '3F000' || code === '42P01' || code === '42703';
}

/** Runs `fn` in one transaction: all of its writes commit together or none do. */
export function inTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction().execute(fn);
}

/** Current time as stored: ISO 8601 UTC with milliseconds. */
export function nowIso(now: Date = new Date()): string {
  return now.toISOString();
}

// Row ids are time-ordered UUIDs (version 7, RFC 9562): 48 bits of Unix milliseconds, a 12-bit
// counter within the millisecond (starting at a random value) and 62 random bits. Every id column
// is indexed (primary keys, and message, delivery and patient ids in other tables' indexes); with
// random v4 ids each insert lands on a random page of each index, so a group commit wrote about
// one page per index per row. Time-ordered ids append at the right edge, where the rows of a group
// share pages: fewer pages written to the WAL and checkpointed (bench:server), the same on
// PostgreSQL's B-trees. They reveal when a row was made (to the millisecond), which every row's
// created_at says anyway, and still not how many rows there are.
let lastMs = 0;
let lastPrefix = '';
let prefixMs = -1;
let counter = 0;
let pool = new Uint8Array(0);
let at = 0;

/** The next random byte, from a pool refilled 4 KB at a time. */
function randomByte(): number {
  if (at >= pool.length) {
    pool = new Uint8Array(randomBytes(4096));
    at = 0;
  }
  return pool[at++]!;
}

/** A new row id (UUIDv7). Ids are references, not secrets: secrets use 256-bit tokens. */
export function newId(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    counter = ((randomByte() << 8) | randomByte()) & 0x7ff; // half the range left for ids in the same millisecond
  } else {
    // The same millisecond (or the clock went back): count on, borrowing the next millisecond on overflow.
    ms = lastMs;
    if (++counter > 0xfff) {
      ms = ++lastMs;
      counter = 0;
    }
  }
  if (ms !== prefixMs) {
    const t = ms.toString(16).padStart(12, '0');
    lastPrefix = `${t.slice(0, 8)}-${t.slice(8)}-7`;
    prefixMs = ms;
  }
  const c = counter.toString(16).padStart(3, '0');
  const r = () => HEX[randomByte()]!;
  return `${lastPrefix}${c}-${HEX[(randomByte() & 0x3f) | 0x80]!}${r()}-${r()}${r()}${r()}${r()}${r()}${r()}`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Parses a JSON text column, falling back when the column is empty or corrupt. */
export function parseJsonColumn<T>(text: string | null | undefined, fallback: T): T {
  if (!text) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
