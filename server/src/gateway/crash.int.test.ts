import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawMessage, startSink, type Sink } from './testing.ts';

// "Nothing acknowledged is lost": a burst of 10,000 messages through a gateway process that is killed
// with SIGKILL midway and restarted. The sender behaves like an MTA: it retries until it gets a 250.
// Every message that got a 250 must be at the next hop; duplicates (delivered, but the 250 was lost
// with the process) are allowed, as SMTP is at-least-once.

const TOTAL = 10_000;
const KILL_AT = 4_000;
const CONCURRENCY = 24;
const ROOT = resolve(import.meta.dirname, '../../..');

let sink: Sink;
let dataDir: string;
let child: ChildProcess | null = null;

function startChild(): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'child.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'],
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
    },
  });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((res, rej) => {
    const rl = createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      const m = /^READY (\d+)$/.exec(line);
      if (m) res({ proc, port: Number(m[1]) });
    });
    proc.once('exit', (code) => rej(new Error(`gateway child exited early (${code}): ${err.slice(0, 2000)}`)));
  });
}

const randomKey = randomBytes(32).toString('base64');

beforeAll(async () => {
  sink = await startSink();
  dataDir = mkdtempSync(join(tmpdir(), 'attune-gw-crash-'));
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await sink.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('crash safety', () => {
  it('loses no acknowledged message when the gateway is killed with SIGKILL midway through 10,000', { timeout: 150_000 }, async () => {
    let running = await startChild();
    child = running.proc;
    const transportFor = (port: number) =>
      nodemailer.createTransport({ host: '127.0.0.1', port, pool: true, maxConnections: CONCURRENCY, maxMessages: Infinity, ignoreTLS: true });
    let transport = transportFor(running.port);
    let generation = 0;
    const acked = new Set<string>();
    let failures = 0;
    let killed = false;
    let restarting: Promise<void> | null = null;
    const body = 'Quarterly supply order. '.repeat(40);

    const sendOne = async (i: number): Promise<void> => {
      const id = `<burst-${i}@clinic.test>`;
      const raw = rawMessage({ from: 'office@clinic.test', to: `vendor${i % 50}@example.com`, subject: `Order ${i}`, text: body, messageId: id });
      for (;;) {
        if (restarting) await restarting;
        const t = transport;
        try {
          const info = await t.sendMail({ envelope: { from: 'office@clinic.test', to: [`vendor${i % 50}@example.com`] }, raw });
          if (/^250 /.test(info.response)) {
            acked.add(id);
            break;
          }
        } catch {
          failures++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      if (!killed && acked.size >= KILL_AT) {
        killed = true;
        const gen = ++generation;
        const old = transport;
        restarting = (async () => {
          child!.kill('SIGKILL');
          await new Promise((r) => child!.once('exit', r));
          old.close();
          running = await startChild();
          child = running.proc;
          if (gen === generation) transport = transportFor(running.port);
        })();
        await restarting;
        restarting = null;
      }
    };

    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < TOTAL) await sendOne(next++);
      }),
    );
    transport.close();
    const seconds = (Date.now() - started) / 1000;

    const delivered = new Map<string, number>();
    for (const m of sink.messages) {
      const id = /^message-id:\s*(\S+)/im.exec(m.raw.toString('latin1'))?.[1];
      if (id) delivered.set(id, (delivered.get(id) ?? 0) + 1);
    }
    const lost = [...acked].filter((id) => !delivered.has(id));
    const duplicates = [...delivered.values()].filter((n) => n > 1).length;
    console.log(
      `[gateway crash] ${TOTAL} sent in ${seconds.toFixed(1)} s; acked ${acked.size}; delivered ${delivered.size} distinct; ` +
        `lost ${lost.length}; duplicates ${duplicates}; failed attempts (retried) ${failures}`,
    );
    expect(killed).toBe(true);
    expect(failures).toBeGreaterThan(0);
    expect(acked.size).toBe(TOTAL);
    expect(lost).toEqual([]);
  });
});
