import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { rawMessage, seedPractice, startSink, type Sink } from './testing.ts';

// `attune gateway` with GATEWAY_PROCESSES=2: one process runs the outbox worker. When that process
// dies, its replacement must run the outbox, or secured mail is accepted (250) and never delivered.
// The store here is SQLite in DATA_DIR: what is under test is the process supervision, not the store.

const ROOT = resolve(import.meta.dirname, '../../..');
const randomKey = randomBytes(32).toString('base64');

let sink: Sink;
let dataDir: string;
let child: ChildProcess | null = null;

function env(): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    ATTUNE_ENV: 'development',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    SMTP_URL: sink.url,
    SMTP_REQUIRE_TLS: 'false',
    ATTUNE_MASTER_KEY: randomKey,
    PRACTICE_DOMAINS: 'clinic.test',
    GATEWAY_PORT: '0',
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_ALLOWED_SOURCES: '127.0.0.1',
    GATEWAY_REPLY_DOMAIN: 'reply.clinic.test',
    PRACTICE_REPLY_DOMAIN: 'reply.clinic.test',
    GATEWAY_PROCESSES: '2',
  };
}

beforeAll(async () => {
  sink = await startSink();
  dataDir = mkdtempSync(join(tmpdir(), 'attune-gw-child-'));
  await seedPractice(loadConfig(env()), { clinician: 'dr.lee@clinic.test', patient: 'jane.roe@example.com' });
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
  await sink.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Resolves when `check` holds; polls, so a slow machine only makes it slower, never wrong. */
async function until(check: () => boolean | Promise<boolean>, what: string, maxMs = 60_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('gateway processes', () => {
  it(
    'replaces a killed outbox-running process with one that delivers the queued secure notices',
    { timeout: 120_000 },
    async () => {
      const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'child.ts')], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: env(),
      });
      child = proc;
      let port = 0;
      const outboxPids: number[] = [];
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const ready = /^READY (\d+)$/.exec(line);
        if (ready) port = Number(ready[1]);
        const outbox = /^OUTBOX (\d+)$/.exec(line);
        if (outbox) outboxPids.push(Number(outbox[1]));
      });
      await until(() => port > 0 && outboxPids.length === 1, 'the gateway to start');

      // The process that delivers dies; the other one keeps accepting mail on the shared port.
      process.kill(outboxPids[0]!, 'SIGKILL');

      // A short greeting timeout: a connection handed to the dying process is retried, not waited on.
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port,
        ignoreTLS: true,
        greetingTimeout: 5_000,
      });
      const raw = rawMessage({
        from: 'dr.lee@clinic.test',
        to: 'jane.roe@example.com',
        subject: 'Your plan',
        text: 'Jane Roe, your lithium dose for bipolar disorder changes on Monday.',
      });
      let response = '';
      await until(async () => {
        try {
          const info = await transport.sendMail({
            envelope: { from: 'dr.lee@clinic.test', to: ['jane.roe@example.com'] },
            raw,
          });
          response = info.response;
          return true;
        } catch {
          return false; // the connection went to the process being killed: send again, as an MTA would
        }
      }, 'the gateway to accept the message');
      transport.close();
      expect(response).toMatch(/secure delivery/);

      // The secure notice reaches the next hop: someone runs the outbox again.
      await until(
        () => sink.messages.some((m) => m.to.includes('jane.roe@example.com')),
        'the secure notice at the next hop',
      );
      const notice = sink.messages.find((m) => m.to.includes('jane.roe@example.com'))!;
      expect(notice.raw.toString('utf8')).not.toContain('lithium');
      expect(outboxPids).toHaveLength(2);
      expect(outboxPids[1]).not.toBe(outboxPids[0]);
    },
  );
});
