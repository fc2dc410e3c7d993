// The gateway as a process of its own, with the real store and delivery pipeline: the crash test
// kills it with SIGKILL, the benchmark runs it beside its client, and `attune gateway` runs it in
// production when the gateway should live apart from the HTTP server. Configured by the environment
// like the server (DATA_DIR, DATABASE_URL, SMTP_URL, ATTUNE_MASTER_KEY, GATEWAY_*); prints
// "READY <port>" once it accepts connections.
//
// GATEWAY_PROCESSES=N (default 1) forks N processes that share the port (node:cluster): parsing and
// scanning are CPU work, and one Node process uses one core. Only the first runs the outbox worker.
import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../config.ts';
import { readMasterKey } from '../checkpoints.ts';
import { contentMacUpgradeHooks } from '../store/content-macs.ts';
import { openStore } from '../store/index.ts';
import { startGateway } from './index.ts';
import { createPipeline } from './pipeline.ts';

const processes = Math.max(1, Math.min(64, Number(process.env['GATEWAY_PROCESSES'] ?? 1) || 1));

/** Like `attune serve`: in development without ATTUNE_MASTER_KEY, the local DATA_DIR/master.key. */
function configure(): Config {
  const config = loadConfig(process.env);
  const file = join(config.dataDir, 'master.key');
  if (!config.masterKey && config.isDevelopment && existsSync(file))
    config.masterKey = readFileSync(file, 'utf8').trim();
  return config;
}

async function serve(runOutbox: boolean, announce: (port: number) => void): Promise<void> {
  const config = configure();
  const store = await openStore(config, { beforeMigration: contentMacUpgradeHooks(readMasterKey(config)) });
  const pipeline = await createPipeline({ config, store, startWorker: runOutbox });
  const running = await startGateway({ config, store, pipeline });
  announce(running.port);
  const stop = (): void => {
    void running
      .close()
      .then(() => pipeline.close())
      .then(() => store.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function fail(err: unknown): never {
  // Configuration problems are the operator's to fix: the message, not a stack trace.
  process.stderr.write(`attune gateway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

if (processes === 1) {
  await serve(true, (port) => process.stdout.write(`READY ${port}\n`)).catch(fail);
} else if (cluster.isPrimary) {
  // Migrations run once, here, before the workers open the store.
  const config = configure();
  await (
    await openStore(config, { beforeMigration: contentMacUpgradeHooks(readMasterKey(config)) }).catch(fail)
  ).close();
  let ready = 0;
  // The process that runs the outbox worker, by cluster worker id. Its replacement after a crash
  // must run it too, or nothing queued is delivered until the whole gateway restarts.
  let outboxWorker: number | null = null;
  const fork = (runOutbox: boolean): void => {
    const w = cluster.fork({ GATEWAY_RUN_OUTBOX: runOutbox ? '1' : '0' });
    if (runOutbox) {
      outboxWorker = w.id;
      // Which process delivers, for the operator (and the tests that kill it): a pid, no data.
      process.stdout.write(`OUTBOX ${String(w.process.pid)}\n`);
    }
    w.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'port' in m && ++ready === processes) {
        process.stdout.write(`READY ${String((m as { port: number }).port)}\n`);
      }
    });
  };
  for (let i = 0; i < processes; i++) fork(i === 0);
  // A worker that dies is replaced; the sender's retries cover what it held unacknowledged.
  cluster.on('exit', (w, code, signal) => {
    if (signal !== 'SIGTERM' && code !== 0) fork(w.id === outboxWorker);
  });
  const stopAll = (): void => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stopAll);
  process.on('SIGINT', stopAll);
} else {
  // Without the primary there is no one to share the port with: leave.
  process.on('disconnect', () => process.exit(1));
  await serve(process.env['GATEWAY_RUN_OUTBOX'] === '1', (port) => process.send?.({ port })).catch(fail);
}
