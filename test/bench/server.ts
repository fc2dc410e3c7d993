// `npm run bench:server`: sustained secure sends per second through the real server, and beside it,
// in the same run on the same machine, the bare OpenPGP encryption rate of the same message (the
// physical limit of this work).
//
// Setup: the real server (startServer) as a child process on the embedded SQLite store in a temp
// folder (WAL; every 202 is fsynced: synchronous=FULL, or for the group commit the WAL fsynced off
// the event loop before anyone in the group is answered), its outbox worker delivering to an SMTP sink
// in this process (smtp-server, STARTTLS). autocannon drives POST /v1/messages (a secure-link send of
// a ~700-character message with PHI) with a development token. Each request: strict validation,
// the server-side PHI scan and policy decision, encryption to the practice archive key, and one
// transaction (message, archive chain entry, audit chain entry, patient, delivery, viewer link,
// outbox row, engagement event). The bare rate is openpgp encryption of the same stored content to
// the same kind of key, in one process, nothing else, on the same crypto path as the server (X25519
// and AES-KW through node:crypto synchronously, sync-webcrypto.ts); OpenPGP.js as shipped (WebCrypto's
// thread-pool jobs) is measured too, in a child process, and printed beside it for comparison.
//
// Goals (issue 3, 2-core machine): >= 300 sends/s, p99 < 100 ms, >= half the bare encryption rate.
// The machine may be shared: the load average is printed, and CPU time per send (server process,
// accept + deliver) is the figure that does not depend on it. BENCH_SECONDS, BENCH_CONNECTIONS and
// BENCH_PROFILE=<dir> (a V8 CPU profile of the server) tune a run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';

const BODY = {
  to: ['jordan.alvarez@patient.example'],
  subject: 'Follow-up from Tuesday',
  text:
    'Hi Jordan, thank you for coming in on Tuesday. As we discussed, your PHQ-9 score of 14 suggests moderate ' +
    'depression (F32.1), and we agreed to continue sertraline 50 mg each morning. Please keep the thought record ' +
    'we started and bring it next week. If your sleep gets worse, or you notice thoughts of harming yourself, call ' +
    'the clinic at 555-201-7788 or 988 right away. Your next appointment is 3/14 at 10:00. Take care, Dr. Lee',
  topics: ['medication', 'homework'],
};

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/**
 * CPU time of this process's main thread (the event loop) in microseconds, from Linux's
 * /proc/self/task/<pid>/stat (utime + stime, in clock ticks of 10 ms); null elsewhere. The loop is
 * the serial part of the server: 1000 / (its ms per send) bounds sends/s however many cores there are.
 */
function mainThreadCpuMicros(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return null;
  }
}

async function child(): Promise<void> {
  // Runs inside the server process: start it and print where it listens and a development token.
  const { loadConfig } = await import('../../server/src/config.ts');
  const { startServer } = await import('../../server/src/index.ts');
  const { loadDevIssuer } = await import('../../server/src/identity/index.ts');
  const config = loadConfig(process.env);
  const server = await startServer(config);
  const issuer = await loadDevIssuer({
    dataDir: config.dataDir,
    issuer: config.identity.dev.issuer,
    audience: config.identity.dev.audience,
    ttlSeconds: 3600,
  });
  const token = await issuer.sign({ email: 'dr.lee@calm.example' });
  process.stdout.write(`${JSON.stringify({ url: server.url, token })}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  // "cpu" on stdin: answer with this process's CPU time so far (user + system, microseconds).
  let pending = '';
  process.stdin.on('data', (d: Buffer) => {
    pending += d.toString();
    while (pending.includes('\n')) {
      const line = pending.slice(0, pending.indexOf('\n'));
      pending = pending.slice(pending.indexOf('\n') + 1);
      if (line === 'cpu') {
        const u = process.cpuUsage();
        process.stdout.write(`${JSON.stringify({ cpu: u.user + u.system, loop: mainThreadCpuMicros() })}\n`);
      }
    }
  });
  process.stdin.resume();
}

interface Rate {
  /** Operations per second of wall time. */
  perSecond: number;
  /** CPU time per operation (ms), independent of how busy the machine is. */
  cpuMs: number;
}

async function bareEncryptionRate(
  seconds: number,
  withSigned = true,
): Promise<{ archive: Rate; signed: Rate | null }> {
  const { generateKey, parseTrustedPublicKey, parseTrustedPrivateKey, encryptForArchive, encryptAndSign } =
    await import('../../server/src/crypto/index.ts');
  const archive = await generateKey({ name: 'Bench (archive)' });
  const signing = await generateKey({ name: 'Bench' });
  const pub = await parseTrustedPublicKey(archive.publicKey);
  const signer = await parseTrustedPrivateKey(signing.privateKey);
  // The same bytes the server encrypts per send: the stored content JSON.
  const content = JSON.stringify({ v: 1, subject: BODY.subject, text: BODY.text, attachments: [] });
  const rate = async (fn: () => Promise<unknown>): Promise<Rate> => {
    // Warm up for two seconds: after 50 or even 300 encryptions V8 is still optimising openpgp's
    // code (CPU per encryption fell by a third after that in one process), and a bare rate
    // measured before it settles would flatter the server's share of it.
    const warm = performance.now();
    while (performance.now() - warm < 2000) await fn();
    let n = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      await fn();
      n++;
    }
    const cpu = process.cpuUsage(cpu0);
    return { perSecond: n / ((performance.now() - start) / 1000), cpuMs: (cpu.user + cpu.system) / 1000 / n };
  };
  return {
    archive: await rate(() => encryptForArchive(content, pub)),
    signed: withSigned
      ? await rate(() => encryptAndSign({ data: content, encryptionKeys: pub, signingKey: signer }))
      : null,
  };
}

/** bareEncryptionRate's archive figure in a child process with ATTUNE_SYNC_WEBCRYPTO=0. */
async function stockEncryptionRate(seconds: number): Promise<Rate> {
  const file = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, ['--import', 'tsx', file, '--bare', String(seconds)], {
    env: { ...process.env, ATTUNE_SYNC_WEBCRYPTO: '0', ATTUNE_CRYPTO_THREADS: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((res) => proc.once('exit', res));
  if (code !== 0) throw new Error(`bare child exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Rate;
}

async function main(): Promise<void> {
  const duration = Number(process.env['BENCH_SECONDS'] ?? 20);
  const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 8);
  const loadBefore = loadavg();
  const dataDir = mkdtempSync(join(tmpdir(), 'attune-bench-'));
  let delivered = 0;
  const sink = new SMTPServer({
    authOptional: true,
    logger: false,
    onData(stream, _s, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        delivered++;
        cb();
      });
    },
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const smtpPort = (sink as unknown as { server: { address(): { port: number } } }).server.address().port;

  const file = fileURLToPath(import.meta.url);
  // BENCH_PROFILE=<dir> writes a V8 CPU profile of the server process there (open in Chrome DevTools).
  const profile = process.env['BENCH_PROFILE']
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROFILE']}`]
    : [];
  const proc: ChildProcess = spawn(process.execPath, [...profile, '--import', 'tsx', file, '--child'], {
    env: {
      ...process.env,
      ATTUNE_ENV: 'development',
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      PRACTICE_NAME: 'Calm Waters Counseling',
      PRACTICE_DOMAINS: 'calm.example',
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}/?tls.rejectUnauthorized=false`,
      RATE_LIMIT_PER_MINUTE: '10000000',
      RATE_LIMIT_UNAUTH_PER_MINUTE: '10000000',
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ready = await new Promise<{ url: string; token: string }>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('{"url"'));
      if (line) resolve(JSON.parse(line) as { url: string; token: string });
    });
    proc.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });

  const cpuLines: Array<(v: { cpu: number; loop: number | null }) => void> = [];
  proc.stdout!.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (line.startsWith('{"cpu"'))
        cpuLines.shift()?.(JSON.parse(line) as { cpu: number; loop: number | null });
    }
  });
  const serverCpu = () =>
    new Promise<{ cpu: number; loop: number | null }>((resolve) => {
      cpuLines.push(resolve);
      proc.stdin!.write('cpu\n');
    });

  const request = {
    url: `${ready.url}/v1/messages`,
    method: 'POST',
    headers: { authorization: `Bearer ${ready.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(BODY),
  };
  try {
    // Check one request by hand first: a bench of 4xx answers would be meaningless.
    const probe = await fetch(request.url, { method: 'POST', headers: request.headers, body: request.body });
    if (probe.status !== 202) throw new Error(`probe answered ${probe.status}: ${await probe.text()}`);

    await autocannon({ ...request, connections, duration: 3 }); // warm-up (JIT, caches, SQLite pages)
    const deliveredBefore = delivered;
    const cpu0 = await serverCpu();
    const t0 = performance.now();
    const ownCpu0 = process.cpuUsage();
    const r = await autocannon({ ...request, connections, duration });
    const elapsed = (performance.now() - t0) / 1000;
    const ownCpu = process.cpuUsage(ownCpu0);
    // This process is the load generator and the SMTP sink: on a 2-core machine what it uses is
    // not available to the server.
    const clientShare = (ownCpu.user + ownCpu.system) / 1e6 / elapsed;
    const deliveredDuring = delivered - deliveredBefore;
    // Let the outbox drain, to report delivery throughput and that nothing was lost.
    const accepted = r.requests.total - r.non2xx;
    const drainStart = performance.now();
    const expected = deliveredBefore + accepted;
    while (delivered < expected && performance.now() - drainStart < 120_000)
      await new Promise((res) => setTimeout(res, 100));
    const drainSeconds = (performance.now() - drainStart) / 1000;
    // Server CPU per send, including delivering it (request, scan, encryption, commit, outbox, SMTP):
    // unlike sends/s, this does not depend on what else the machine is running.
    const cpu1 = await serverCpu();
    const cpuPerSendMs = (cpu1.cpu - cpu0.cpu) / 1000 / Math.max(1, accepted);
    const loopPerSendMs =
      cpu1.loop !== null && cpu0.loop !== null
        ? (cpu1.loop - cpu0.loop) / 1000 / Math.max(1, accepted)
        : null;

    proc.kill('SIGTERM');
    await new Promise((res) => proc.once('exit', res));
    // The bare rate is openpgp itself, inline in this process (not the server's encryption thread).
    process.env['ATTUNE_CRYPTO_THREADS'] = '0';
    const bare = await bareEncryptionRate(5);
    // For comparison, OpenPGP.js as it comes (WebCrypto's thread-pool jobs for X25519 and AES-KW),
    // in a process of its own: this one has the synchronous path installed.
    const stock = await stockEncryptionRate(5);

    const sends = r.requests.average;
    const loadAfter = loadavg();
    const cores = availableParallelism();
    const fmt = (n: number) => n.toFixed(1);
    const errors = r.non2xx + r.errors + r.timeouts;
    // Share of one core the server process actually got during the run: on a shared machine the
    // load average says how much it had to compete for.
    const coreShare = (cpuPerSendMs * accepted) / 1000 / elapsed;
    console.log(
      `\nAttune bench:server (${cpus()[0]?.model ?? 'cpu'}, ${cores} cores, node ${process.version})`,
    );
    console.log(
      `machine load average (1/5/15 min) before: ${loadBefore.map((x) => x.toFixed(1)).join(' ')}   after: ${loadAfter.map((x) => x.toFixed(1)).join(' ')}   (${cores} cores)`,
    );
    console.log(
      `store: SQLite (WAL, synchronous=FULL outside the group commit; group commits fsync the WAL before answering) in a temp folder; SMTP: in-process sink over STARTTLS`,
    );
    console.log(
      `load: autocannon, ${connections} connections, ${duration} s after a 3 s warm-up; message ${request.body.length} bytes JSON\n`,
    );
    console.log(
      `secure sends (POST /v1/messages -> 202)   ${fmt(sends)} /s   (${accepted} accepted; errors: ${r.non2xx} non-2xx, ${r.errors} failed, ${r.timeouts} timeouts)`,
    );
    console.log(
      `latency                                    p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms   max ${r.latency.max} ms`,
    );
    console.log(
      `delivered by the outbox meanwhile          ${fmt(deliveredDuring / elapsed)} /s   (all ${accepted} delivered after a further ${fmt(drainSeconds)} s: ${delivered >= expected ? 'yes' : 'NO'})`,
    );
    console.log(
      `server CPU per send (accept + deliver)     ${cpuPerSendMs.toFixed(2)} ms   (the server used ${(coreShare * 100).toFixed(0)} % of one core during the run)`,
    );
    console.log(
      `load generator + SMTP sink (this process)  ${(clientShare * 100).toFixed(0)} % of one core during the run`,
    );
    if (loopPerSendMs !== null) {
      console.log(
        `  of which on the event-loop thread        ${loopPerSendMs.toFixed(2)} ms   (the rest: encryption and SQLite-sync threads, GC helpers)`,
      );
    }
    const capacity = Math.min((cores * 1000) / cpuPerSendMs, loopPerSendMs ? 1000 / loopPerSendMs : Infinity);
    console.log(
      `  -> CPU-bound estimate with the ${cores} cores to itself: ${fmt(capacity)} sends/s (min of cores / CPU per send and 1 / loop time per send)`,
    );
    console.log(
      `bare OpenPGP encryption, same message      ${fmt(bare.archive.perSecond)} /s   (${bare.archive.cpuMs.toFixed(2)} ms CPU each; encrypt to one curve25519Legacy key, one process)`,
    );
    console.log(
      `  (encrypt + sign, as for PGP/MIME)        ${fmt(bare.signed!.perSecond)} /s   (${bare.signed!.cpuMs.toFixed(2)} ms CPU each)`,
    );
    console.log(
      `  (OpenPGP.js as shipped, on WebCrypto)    ${fmt(stock.perSecond)} /s   (${stock.cpuMs.toFixed(2)} ms CPU each; X25519 and AES-KW as thread-pool jobs, ATTUNE_SYNC_WEBCRYPTO=0; sends / it: ${((sends / stock.perSecond) * 100).toFixed(0)} %)`,
    );
    console.log(
      `sends / bare encryption                    ${((sends / bare.archive.perSecond) * 100).toFixed(0)} % by rate;  ${((bare.archive.cpuMs / cpuPerSendMs) * 100).toFixed(0)} % by CPU time (load-independent)`,
    );
    console.log('');
    const goals = [
      ['>= 300 secure sends/s', sends >= 300],
      ['p99 < 100 ms', r.latency.p99 < 100],
      ['no errors', errors === 0],
      ['>= half the bare encryption rate', sends >= bare.archive.perSecond / 2],
    ] as const;
    for (const [label, ok] of goals) console.log(`goal ${label.padEnd(36)} ${ok ? 'met' : 'NOT met'}`);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    sink.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) await child();
else if (process.argv.includes('--bare')) {
  const seconds = Number(process.argv[process.argv.indexOf('--bare') + 1]);
  console.log(JSON.stringify((await bareEncryptionRate(seconds, false)).archive));
} else await main();
