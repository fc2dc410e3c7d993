// npm run bench:engagement-store: the engagement reads as the API runs them, on the embedded SQLite
// store (a temporary folder): the store query, row conversion and the pure analytics together.
//  - one patient with 5,000 events: patientEngagement (goal < 5 ms);
//  - a caseload of 2,000 patients with 100,000 events: practiceCaseload (goal < 200 ms).
// Three ways: without the read cache (every row read and parsed per request), with the API's read
// cache when nothing changed (a stamp query, then the analytics), and with the cache right after a
// new reply was stored (stamp, load the new rows only, stamp, analytics).
// Data from the shared simulator (seeded), the same shapes as test/bench/engagement.ts's speed section.
// BENCH_DATABASE_URL=postgres://… also runs it on PostgreSQL (a scratch schema, dropped after).
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { computeEngagement, simulatePractice } from '../../shared/src/engagement/index.ts';
import type { EngagementEvent } from '../../shared/src/api/events.ts';
import { insertEvents, type NewEvent } from '../../server/src/engagement/events-store.ts';
import { patientEngagement, practiceCaseload } from '../../server/src/engagement/service.ts';
import { EngagementEventCache } from '../../server/src/engagement/cache.ts';
import { ensurePractice, newId, nowIso, openStore, type Store } from '../../server/src/store/index.ts';

const asOf = new Date('2026-11-01T00:00:00Z');

function toNew(e: EngagementEvent, patientId: string, id: string): NewEvent {
  return {
    id,
    patientId,
    type: e.type,
    at: new Date(e.at),
    messageId: e.messageId ?? null,
    latencyMs: e.latencyMs ?? null,
    topics: e.topics,
    data: {
      ...(e.inReplyTo ? { inReplyTo: e.inReplyTo } : {}),
      ...(e.crisis ? { crisis: e.crisis } : {}),
      ...(e.inquiry ? { inquiry: e.inquiry } : {}),
      ...(e.tone !== undefined ? { tone: e.tone } : {}),
      ...(e.appointmentId ? { appointmentId: e.appointmentId } : {}),
    },
  };
}

function stats(xs: number[]): { median: number; p95: number; min: number } {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)] ?? NaN,
    p95: s[Math.floor(s.length * 0.95)] ?? NaN,
    min: s[0] ?? NaN,
  };
}

async function time(
  runs: number,
  f: () => Promise<unknown>,
): Promise<{ median: number; p95: number; min: number; cpu: number }> {
  const wall: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    wall.push(performance.now() - t0);
  }
  const c = process.cpuUsage(c0);
  return { ...stats(wall), cpu: (c.user + c.system) / 1000 / runs };
}

async function addPatient(
  store: Store,
  practiceId: string,
  email: string,
  timeZone: string,
): Promise<string> {
  const id = newId();
  const t = nowIso();
  await store.db
    .insertInto('patients')
    .values({
      id,
      practice_id: practiceId,
      email,
      name: null,
      time_zone: timeZone,
      public_key: null,
      fingerprint: null,
      created_at: t,
      updated_at: t,
    })
    .execute();
  return id;
}

async function run(label: string, store: Store): Promise<void> {
  console.log(`\n== ${label} ==`);
  // Practice A: one patient with 5,000 events (several simulated histories merged under one id).
  const a = await ensurePractice(store.db, {
    name: 'Bench One',
    domains: [`one-${newId().slice(0, 8)}.example`],
  });
  const sim = simulatePractice({
    seed: 7,
    patients: 40,
    asOf: asOf.getTime(),
    idPrefix: 'speed',
    styleWeights: { new: 0 },
  });
  const oneId = await addPatient(store, a.practiceId, 'one@patients.example', 'America/Chicago');
  const one: NewEvent[] = [];
  for (const p of sim.patients)
    for (const e of p.events) if (one.length < 5000) one.push(toNew(e, oneId, `${oneId}:${e.id}`));
  await store.db.transaction().execute((tx) => insertEvents(tx, a.practiceId, one, asOf));
  const row = await store.db
    .selectFrom('patients')
    .selectAll()
    .where('id', '=', oneId)
    .executeTakeFirstOrThrow();
  const cache = new EngagementEventCache();
  let k = 0;
  const fresh = async () =>
    insertEvents(
      store.db,
      a.practiceId,
      [{ id: `new-${k++}`, patientId: oneId, type: 'replied', at: asOf, latencyMs: 3_600_000 }],
      new Date(asOf.getTime() + k),
    );
  const print = (what: string, r: Awaited<ReturnType<typeof time>>) =>
    console.log(
      `  ${what.padEnd(34)} wall median ${r.median.toFixed(2)} ms, p95 ${r.p95.toFixed(2)} ms, min ${r.min.toFixed(2)} ms; CPU ${r.cpu.toFixed(2)} ms per call`,
    );
  console.log(`patientEngagement, one patient, ${one.length} events (goal < 5 ms):`);
  for (let i = 0; i < 100; i++) await patientEngagement(store.db, a.practiceId, row, asOf, { cache }); // JIT warm-up
  print(
    'no cache (query + parse + analytics)',
    await time(200, () => patientEngagement(store.db, a.practiceId, row, asOf)),
  );
  print(
    'cache, unchanged (stamp + analytics)',
    await time(300, () => patientEngagement(store.db, a.practiceId, row, asOf, { cache })),
  );
  const justReplied: number[] = [];
  for (let i = 0; i < 100; i++) {
    await fresh();
    const t0 = performance.now();
    await patientEngagement(store.db, a.practiceId, row, asOf, { cache });
    justReplied.push(performance.now() - t0);
  }
  const jr = stats(justReplied);
  console.log(
    `  ${'cache, a reply just stored'.padEnd(34)} wall median ${jr.median.toFixed(2)} ms, p95 ${jr.p95.toFixed(2)} ms, min ${jr.min.toFixed(2)} ms`,
  );
  const pure = one.map((e) => ({
    id: e.id,
    patientId: oneId,
    type: e.type,
    at: e.at.getTime(),
    ...(e.messageId ? { messageId: e.messageId } : {}),
    ...(e.latencyMs != null ? { latencyMs: e.latencyMs } : {}),
    ...(e.topics ? { topics: [...e.topics] } : {}),
    ...(e.data ?? {}),
  })) as EngagementEvent[];
  const info = { id: oneId, email: row.email, name: null, timeZone: row.time_zone };
  print(
    'analytics alone (computeEngagement)',
    await time(300, () => Promise.resolve(computeEngagement(info, pure, asOf.getTime()))),
  );

  // Practice B: 2,000 patients x 50 events = 100,000 events.
  const b = await ensurePractice(store.db, {
    name: 'Bench Caseload',
    domains: [`case-${newId().slice(0, 8)}.example`],
  });
  const big = simulatePractice({
    seed: 8,
    patients: 2000,
    asOf: asOf.getTime(),
    weeks: 30,
    idPrefix: 'case',
    styleWeights: { new: 0 },
  });
  const rows: NewEvent[] = [];
  for (const p of big.patients) {
    const id = await addPatient(store, b.practiceId, p.email, p.timeZone);
    for (const e of p.events.slice(-50)) rows.push(toNew(e, id, `${id}:${e.id}`));
  }
  const t0 = performance.now();
  await store.db.transaction().execute((tx) => insertEvents(tx, b.practiceId, rows, asOf));
  console.log(
    `(inserted ${rows.length} events for ${big.patients.length} patients in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  const patientIds = [...new Set(rows.map((r) => r.patientId))];
  console.log(`practiceCaseload, ${big.patients.length} patients, ${rows.length} events (goal < 200 ms):`);
  for (let i = 0; i < 3; i++) await practiceCaseload(store.db, b.practiceId, asOf, 1, 50, cache);
  print(
    'no cache (query + parse + ranking)',
    await time(10, () => practiceCaseload(store.db, b.practiceId, asOf, 1, 50)),
  );
  print(
    'cache, unchanged (stamp + ranking)',
    await time(20, () => practiceCaseload(store.db, b.practiceId, asOf, 1, 50, cache)),
  );
  const after: number[] = [];
  for (let i = 0; i < 20; i++) {
    await insertEvents(
      store.db,
      b.practiceId,
      [
        {
          id: `new-b-${i}`,
          patientId: patientIds[i] as string,
          type: 'replied',
          at: asOf,
          latencyMs: 3_600_000,
        },
      ],
      new Date(asOf.getTime() + 1000 + i),
    );
    const t1 = performance.now();
    await practiceCaseload(store.db, b.practiceId, asOf, 1, 50, cache);
    after.push(performance.now() - t1);
  }
  const ar = stats(after);
  console.log(
    `  ${'cache, a reply just stored'.padEnd(34)} wall median ${ar.median.toFixed(1)} ms, p95 ${ar.p95.toFixed(1)} ms, min ${ar.min.toFixed(1)} ms`,
  );
  console.log(
    `  (cache: ${cache.stats.hits} hits, ${cache.stats.incremental} incremental loads, ${cache.stats.full} full loads)`,
  );
}

console.log(
  `(load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} on ${availableParallelism()} cores)`,
);
const dir = mkdtempSync(join(tmpdir(), 'attune-bench-'));
try {
  const store = await openStore({ dataDir: dir });
  try {
    await run('embedded SQLite store (WAL, synchronous=FULL)', store);
  } finally {
    await store.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const url = process.env['BENCH_DATABASE_URL'];
if (url) {
  const schema = `bench_${newId().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  try {
    const store = await openStore({ dataDir: tmpdir(), databaseUrl: url, pgSchema: schema });
    try {
      await run('PostgreSQL', store);
    } finally {
      await store.close();
    }
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}
