// The real server (startServer) as a process of its own, for the crash harness (crash.int.test.ts),
// which kills it with SIGKILL and starts it again on the same DATA_DIR (or PostgreSQL schema).
// Configured by the environment like `attune serve` (DATA_DIR, DATABASE_URL, SMTP_URL,
// ATTUNE_MASTER_KEY, ...); prints one line, {"url","token"}, once it serves: its address and a
// development token for a clinician of the practice. Not production code.
//
// With CRASH_WAIT_FOR_GO=1 it loads its modules, prints "LOADED", and starts the server only when
// it reads "go" on stdin: the harness loads the next process while it checks the store after a
// kill, so a restart costs the server's start-up, not module loading (seconds on a busy machine).
import { createInterface } from 'node:readline';
import { loadConfig } from '../config.ts';
import { loadDevIssuer } from '../identity/index.ts';
import { startServer } from '../index.ts';

if (process.env['CRASH_WAIT_FOR_GO'] === '1') {
  process.stdout.write('LOADED\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((go) =>
    lines.on('line', (l) => {
      if (l === 'go') go();
    }),
  );
  // Without the harness there is no one to serve.
  lines.on('close', () => process.exit(1));
}
const config = loadConfig(process.env);
const server = await startServer(config);
const issuer = await loadDevIssuer({
  dataDir: config.dataDir,
  issuer: config.identity.dev.issuer,
  audience: config.identity.dev.audience,
  ttlSeconds: 3600,
});
const token = await issuer.sign({ email: process.env['CRASH_CLINICIAN'] ?? 'dr.lee@calm.example' });
process.stdout.write(`${JSON.stringify({ url: server.url, token })}\n`);
const stop = (): void => void server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
