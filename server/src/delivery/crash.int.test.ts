import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT, verifyChains } from '../audit/index.ts';
import { loadConfig } from '../config.ts';
import { parseMasterKey } from '../crypto/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';
import { ddb } from './db.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';

// "A 2xx from a send means durable", under kill -9. The real server (crash-child.ts) takes
// concurrent secure sends (POST /v1/messages, each with its own Idempotency-Key) and is killed with
// SIGKILL after a random delay, mostly mid-burst, then started again on the same DATA_DIR (or
// PostgreSQL schema; only our process is killed, never PostgreSQL), CRASH_POINTS times (default 8,
// to keep CI short; CRASH_POINTS=1000 for the security notes' figure). After each kill, in the store:
// every message that got a 202 is there with its archive entry, its message.send audit event, its
// deliveries and their outbox rows; `attune verify` (verifyChains) is ok; SQLite's integrity_check
// is ok. After each restart the requests whose answer was lost with the process are sent again with
// the same Idempotency-Key: each must answer 202 (the same id when it had committed) and leave
// exactly one message. At the end the outbox delivers every acknowledged message's notices to an
// SMTP sink in this process at least once and at most twice (by Message-ID: a notice the relay
// accepted just before the kill, not yet marked sent, goes again: at-least-once).
//
// What a process kill can and cannot catch: SIGKILL leaves the kernel's page cache alone, so a WAL
// frame written but never fsynced still reaches the file on Linux. A missing fsync (commit-queue.ts
// answering before syncWal) is NOT caught here; that needs a power cut or a storage shim. Answering
// before the commit, or acknowledging writes that never commit, is.

const POINTS = Math.max(1, Number(process.env['CRASH_POINTS'] ?? 8) || 8);
const CONNECTIONS = 6;
const PATIENTS = [
  'jordan.alvarez@patient.example',
  'sam.okafor@patient.example',
  'ri.tanaka@patient.example',
];
const ROOT = resolve(import.meta.dirname, '../../..');
const CHILD = join(import.meta.dirname, 'crash-child.ts');

interface Request {
  key: string;
  body: string;
}

function request(n: number): Request {
  return {
    key: `crash-${n}-${randomBytes(4).toString('hex')}`,
    body: JSON.stringify({
      to: [PATIENTS[n % PATIENTS.length]],
      subject: 'Follow-up from Tuesday',
      text:
        `Hi, thank you for coming in on Tuesday (note ${n}). Your PHQ-9 score of 14 suggests moderate ` +
        'depression (F32.1), and we agreed to continue sertraline 50 mg each morning. Call 988 if you need to.',
      topics: ['medication'],
    }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Splits a list for IN (...) queries. */
function chunks<T>(xs: T[], n = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

function messageIdsOf(sink: SmtpSink): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of sink.received) {
    const id = /^message-id:\s*(\S+)/im.exec(m.raw.toString('latin1'))?.[1];
    if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe.each(dialectsUnderTest())('crash safety of acknowledged sends (%s)', (dialect) => {
  let sink: SmtpSink;
  let dataDir: string;
  let pg: Awaited<ReturnType<typeof createTestSchema>> | null = null;
  let child: ChildProcess | null = null;
  /** The next processes, loading while the current one serves and the harness checks the store. */
  const loading: Array<Promise<Loaded>> = [];
  const masterKey = randomBytes(32).toString('base64');

  function env(): Record<string, string> {
    return {
      PATH: process.env['PATH'] ?? '',
      ATTUNE_ENV: 'development',
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      ATTUNE_MASTER_KEY: masterKey,
      PRACTICE_NAME: 'Calm Waters Counseling',
      PRACTICE_DOMAINS: 'calm.example',
      SMTP_URL: sink.url(),
      SMTP_REQUIRE_TLS: 'false',
      RATE_LIMIT_PER_MINUTE: '10000000',
      RATE_LIMIT_UNAUTH_PER_MINUTE: '10000000',
      ...(pg ? { DATABASE_URL: pg.databaseUrl, DATABASE_SCHEMA: pg.schema } : {}),
    };
  }

  interface Loaded {
    proc: ChildProcess;
    /** Starts the server in the loaded process: its address and a development token. */
    go(): Promise<{ url: string; token: string }>;
  }

  /** A server process with its modules loaded, waiting to start (crash-child.ts CRASH_WAIT_FOR_GO). */
  function loadChild(): Promise<Loaded> {
    const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...env(), CRASH_WAIT_FOR_GO: '1' },
    });
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let onReady: ((v: { url: string; token: string }) => void) | null = null;
    let onLoaded: (() => void) | null = null;
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (line === 'LOADED') onLoaded?.();
      else if (line.startsWith('{"url"')) onReady?.(JSON.parse(line) as { url: string; token: string });
    });
    const exited = new Promise<never>((_, rej) =>
      proc.once('exit', (code, signal) =>
        rej(new Error(`server child exited early (${code ?? signal}): ${err.slice(0, 2000)}`)),
      ),
    );
    exited.catch(() => undefined);
    return Promise.race([
      exited,
      new Promise<Loaded>((res) => {
        onLoaded = () =>
          res({
            proc,
            go: () => {
              proc.stdin.write('go\n');
              return Promise.race([
                exited,
                new Promise<{ url: string; token: string }>((r) => (onReady = r)),
              ]);
            },
          });
      }),
    ]);
  }

  async function kill(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  }

  async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const store = await openStore(loadConfig(env()));
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  beforeAll(async () => {
    sink = await startSmtpSink({ starttls: false });
    dataDir = mkdtempSync(join(tmpdir(), 'attune-send-crash-'));
    if (dialect === 'postgres') pg = await createTestSchema();
  });

  afterAll(async () => {
    if (child) await kill(child, 'SIGKILL');
    for (const l of loading.splice(0)) await kill((await l).proc, 'SIGKILL');
    await sink.close();
    await pg?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    `keeps every 202 through ${POINTS} kill -9 points, and the outbox delivers each of them`,
    { timeout: 60_000 + POINTS * 15_000 },
    async () => {
      const mk = parseMasterKey(masterKey);
      if (!mk.ok) throw new Error('bad test master key');
      /** Message id by Idempotency-Key, for every request that got a 202. */
      const acked = new Map<string, string>();
      /** Requests sent whose answer never came (the process died with them). */
      let lost: Request[] = [];
      const resent = new Set<string>();
      let lostCommitted = 0;
      let replayedSame = 0;
      const unexpected: string[] = [];
      let n = 0;
      let verifications = 0;
      /** 202s of the bursts (the rest: first sends, and requests sent again after a lost answer). */
      let burstAcks = 0;
      const started = Date.now();

      const send = async (url: string, token: string, r: Request): Promise<Response> =>
        fetch(`${url}/v1/messages`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'idempotency-key': r.key,
          },
          body: r.body,
        });

      /** After a kill, with the process gone: what every 202 promised is in the store, and sound. */
      const check = async (): Promise<void> =>
        withStore(async (store) => {
          const ids = [...acked.values()];
          const have = async (
            q: (chunk: string[]) => Promise<Array<{ id: string | null }>>,
          ): Promise<Set<string>> => {
            const found = new Set<string>();
            for (const c of chunks(ids)) for (const r of await q(c)) if (r.id) found.add(r.id);
            return found;
          };
          const messages = await have((c) =>
            store.db.selectFrom('messages').select('id').where('id', 'in', c).execute(),
          );
          const archived = await have((c) =>
            store.db
              .selectFrom('archive_entries')
              .select('ref_id as id')
              .where('kind', '=', 'message')
              .where('ref_id', 'in', c)
              .execute(),
          );
          const audited = await have((c) =>
            store.db
              .selectFrom('audit_events')
              .select('target_id as id')
              .where('action', '=', AUDIT.MESSAGE_SEND)
              .where('target_id', 'in', c)
              .execute(),
          );
          // A message's deliveries, each with its outbox row.
          const delivered = await have((c) =>
            store.db
              .selectFrom('deliveries')
              .innerJoin('outbox', 'outbox.delivery_id', 'deliveries.id')
              .select('deliveries.message_id as id')
              .where('deliveries.message_id', 'in', c)
              .where('outbox.kind', '=', 'delivery')
              .execute(),
          );
          const missing = (s: Set<string>) => ids.filter((id) => !s.has(id));
          expect(missing(messages), 'acknowledged messages missing').toEqual([]);
          expect(missing(archived), 'acknowledged messages without an archive entry').toEqual([]);
          expect(missing(audited), 'acknowledged messages without a message.send audit event').toEqual([]);
          expect(missing(delivered), 'acknowledged messages without deliveries and outbox rows').toEqual([]);
          // Each key sent again after a lost answer left exactly one message.
          const keys = [...resent];
          const perKey = new Map<string, number>();
          for (const c of chunks(keys))
            for (const r of await ddb(store.db)
              .selectFrom('messages')
              .select('idempotency_key')
              .where('idempotency_key', 'in', c)
              .execute())
              perKey.set(r.idempotency_key!, (perKey.get(r.idempotency_key!) ?? 0) + 1);
          expect(keys.filter((k) => perKey.get(k) !== 1)).toEqual([]);
          const report = await verifyChains(store.db, { masterKey: mk.masterKey });
          expect(report.firstBreak).toBeUndefined();
          expect(report.ok).toBe(true);
          verifications++;
          if (dialect === 'sqlite') {
            const rows = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(store.db);
            expect(rows.rows.map((r) => r.integrity_check)).toEqual(['ok']);
          }
        });

      // Loading a process's modules costs seconds of CPU (tsx, openpgp, ...): PRELOAD processes load
      // ahead, so a restart waits only for the server's own start-up as far as the machine allows.
      let starts = 0;
      const PRELOAD = 2;
      /** Starts the next server process (loaded beforehand when possible). */
      const start = async (): Promise<{ url: string; token: string }> => {
        const loaded = await (loading.shift() ?? loadChild());
        starts++;
        // POINTS starts during the kills, and one for the final drain.
        while (loading.length < Math.min(PRELOAD, POINTS + 1 - starts)) loading.push(loadChild());
        child = loaded.proc;
        const t = Date.now();
        const r = await loaded.go();
        startMs += Date.now() - t;
        return r;
      };
      let startMs = 0;

      for (let point = 0; point < POINTS; point++) {
        const { url, token } = await start();

        // The answers lost with the last process: the same request, the same key, once more.
        if (lost.length > 0) {
          const committed = await withStore(async (store) => {
            const m = new Map<string, string>();
            for (const r of await ddb(store.db)
              .selectFrom('messages')
              .select(['id', 'idempotency_key'])
              .where(
                'idempotency_key',
                'in',
                lost.map((r) => r.key),
              )
              .execute())
              m.set(r.idempotency_key!, r.id);
            return m;
          });
          lostCommitted += committed.size;
          for (const r of lost) {
            const res = await send(url, token, r);
            const body = (await res.json()) as { id?: string; error?: { code: string } };
            expect(res.status, JSON.stringify(body.error)).toBe(202);
            const before = committed.get(r.key);
            if (before !== undefined) {
              expect(body.id).toBe(before);
              replayedSame++;
            }
            acked.set(r.key, body.id!);
            resent.add(r.key);
          }
          lost = [];
        }
        if (point === 0) {
          // The first send to each patient creates it; then the burst.
          for (let i = 0; i < PATIENTS.length; i++) {
            const r = request(n++);
            const res = await send(url, token, r);
            expect(res.status).toBe(202);
            acked.set(r.key, ((await res.json()) as { id: string }).id);
          }
        }

        // The burst, and the kill at a random moment: a quarter of the points within 20 ms of the
        // process serving (its first groups), the others up to 300 ms after the burst's first 202
        // (mid-burst; a loaded machine can take seconds to answer the first requests of a process).
        let stopping = false;
        let firstAck: () => void = () => undefined;
        const acking = new Promise<void>((r) => (firstAck = r));
        const loops = Array.from({ length: CONNECTIONS }, async () => {
          while (!stopping) {
            const r = request(n++);
            let res: Response;
            let text: string;
            try {
              res = await send(url, token, r);
              text = await res.text();
            } catch {
              lost.push(r);
              return;
            }
            if (res.status === 202) {
              acked.set(r.key, (JSON.parse(text) as { id: string }).id);
              burstAcks++;
              firstAck();
            } else unexpected.push(`${res.status} ${text.slice(0, 200)}`);
          }
        });
        if (Math.random() < 0.25) await sleep(Math.random() * 20);
        else {
          await Promise.race([acking, sleep(15_000)]);
          await sleep(Math.random() * 300);
        }
        await kill(child!, 'SIGKILL');
        stopping = true;
        await Promise.all(loops);
        child = null;
        await check();
        if ((point + 1) % 25 === 0)
          console.log(`[send crash ${dialect}] ${point + 1} points: ${acked.size} acknowledged, all present`);
      }

      // The end: every notice of an acknowledged message is delivered. A claim held by a killed
      // process would wait out its lease (two minutes) before another worker takes it; the process
      // is known to be dead, so its leases are expired here instead of waited for.
      await withStore((store) =>
        store.db
          .updateTable('outbox')
          .set({ claimed_until: '1970-01-01T00:00:00.000Z' })
          .where('done_at', 'is', null)
          .where('claimed_until', 'is not', null)
          .execute(),
      );
      const expected = await withStore(async (store) => {
        const out: string[] = [];
        for (const c of chunks([...acked.values()]))
          for (const d of await store.db
            .selectFrom('deliveries')
            .select(['id', 'smtp_message_id'])
            .where('message_id', 'in', c)
            .execute())
            out.push(d.smtp_message_id ?? d.id);
        return out;
      });
      await start();
      const drainStart = Date.now();
      const deadline = Date.now() + 60_000 + expected.length * 20;
      let counts = messageIdsOf(sink);
      while (expected.some((id) => !counts.has(id)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        counts = messageIdsOf(sink);
      }
      const drainMs = Date.now() - drainStart;
      await kill(child!, 'SIGTERM');
      child = null;
      await check();

      const never = expected.filter((id) => !counts.has(id));
      const twice = expected.filter((id) => (counts.get(id) ?? 0) === 2);
      const more = expected.filter((id) => (counts.get(id) ?? 0) > 2);
      console.log(
        `[send crash ${dialect}] ${POINTS} kill -9 points in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
          `(server start-ups ${(startMs / 1000).toFixed(1)} s, final outbox drain ${(drainMs / 1000).toFixed(1)} s); ` +
          `sent ${n} requests, ${acked.size} acknowledged (${burstAcks} in the bursts, ${resent.size} sent again after a lost answer, ` +
          `${lostCommitted} of them had committed before the kill, replayed with the same id ${replayedSame}); ` +
          `store checks ${verifications} (verify ok, every 202 present${dialect === 'sqlite' ? ', integrity_check ok' : ''}); ` +
          `notices ${expected.length}: delivered once ${expected.length - never.length - twice.length - more.length}, ` +
          `twice ${twice.length}, more ${more.length}, never ${never.length}; unexpected answers ${unexpected.length}`,
      );
      expect(unexpected).toEqual([]);
      expect(acked.size).toBeGreaterThan(POINTS);
      expect(resent.size).toBeGreaterThan(0);
      expect(burstAcks).toBeGreaterThan(0);
      expect(never).toEqual([]);
      expect(more).toEqual([]);
    },
  );
});
