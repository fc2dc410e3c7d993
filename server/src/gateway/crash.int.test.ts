import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { openStore } from '../store/index.ts';
import { rawMessage, seedPractice, startSink, type Sink } from './testing.ts';

// "Nothing acknowledged is lost": a burst of 10,000 messages through a gateway process that is killed
// with SIGKILL midway and restarted. The sender behaves like an MTA: it retries until it gets a 250.
// Every message that got a 250 must be at the next hop; duplicates (delivered, but the 250 was lost
// with the process) are allowed, as SMTP is at-least-once.

const TOTAL = 10_000;
/** Every PHI_EVERY-th message names a patient and a diagnosis: converted to secure delivery. */
const PHI_EVERY = 20;
const KILL_AT = 4_000;
const CONCURRENCY = 24;
const ROOT = resolve(import.meta.dirname, '../../..');

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
  };
}

function startChild(): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'child.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env(),
  });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((res, rej) => {
    const rl = createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      const m = /^READY (\d+)$/.exec(line);
      if (m) res({ proc, port: Number(m[1]) });
    });
    proc.once('exit', (code) =>
      rej(new Error(`gateway child exited early (${code}): ${err.slice(0, 2000)}`)),
    );
  });
}

const randomKey = randomBytes(32).toString('base64');

beforeAll(async () => {
  sink = await startSink();
  dataDir = mkdtempSync(join(tmpdir(), 'attune-gw-crash-'));
  await seedPractice(loadConfig(env()), { clinician: 'dr.lee@clinic.test', patient: 'jane.roe@example.com' });
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await sink.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('crash safety', () => {
  it(
    'loses no acknowledged message when the gateway is killed with SIGKILL midway through 10,000',
    { timeout: 150_000 },
    async () => {
      let running = await startChild();
      child = running.proc;
      const transportFor = (port: number) =>
        nodemailer.createTransport({
          host: '127.0.0.1',
          port,
          pool: true,
          maxConnections: CONCURRENCY,
          maxMessages: Infinity,
          ignoreTLS: true,
        });
      let transport = transportFor(running.port);
      let generation = 0;
      const acked = new Set<string>();
      const securedIds = new Set<string>();
      let failures = 0;
      let killed = false;
      let restarting: Promise<void> | null = null;
      const body = 'Quarterly supply order. '.repeat(40);

      const sendOne = async (i: number): Promise<void> => {
        const id = `<burst-${i}@clinic.test>`;
        const phi = i % PHI_EVERY === 0;
        const from = phi ? 'dr.lee@clinic.test' : 'office@clinic.test';
        const rcpt = phi ? 'jane.roe@example.com' : `vendor${i % 50}@example.com`;
        const text = phi
          ? `Jane Roe, your lithium dose for bipolar disorder changes on Monday (note ${i}).`
          : body;
        const raw = rawMessage({
          from,
          to: rcpt,
          subject: phi ? 'Your plan' : `Order ${i}`,
          text,
          messageId: id,
        });
        for (;;) {
          if (restarting) await restarting;
          const t = transport;
          try {
            const info = await t.sendMail({ envelope: { from, to: [rcpt] }, raw });
            if (/^250 /.test(info.response)) {
              acked.add(id);
              const secured = /secure delivery (\S+)/.exec(info.response)?.[1];
              if (phi) {
                // PHI must never be relayed: its 250 is the secure pipeline's.
                expect(secured).toBeDefined();
                securedIds.add(secured!);
              }
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

      // Stop the gateway cleanly, then look in its store: every acknowledged secure send is there.
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
      child = null;
      const store = await openStore(loadConfig(env()));
      const stored = new Set((await store.db.selectFrom('messages').select('id').execute()).map((r) => r.id));
      const outboxRows = await store.db
        .selectFrom('outbox')
        .select('id')
        .where('kind', '=', 'delivery')
        .execute();
      await store.close();
      const securedLost = [...securedIds].filter((id) => !stored.has(id));

      const delivered = new Map<string, number>();
      for (const m of sink.messages) {
        const id = /^message-id:\s*(\S+)/im.exec(m.raw.toString('latin1'))?.[1];
        if (id) delivered.set(id, (delivered.get(id) ?? 0) + 1);
      }
      // Relayed messages must be at the next hop; secured ones are checked in the store above.
      const isPhi = (id: string): boolean => Number(/burst-(\d+)@/.exec(id)?.[1]) % PHI_EVERY === 0;
      const lost = [...acked].filter((id) => !isPhi(id) && !delivered.has(id));
      // No PHI message may reach the next hop in clear.
      const leaked = sink.messages.filter((m) => m.raw.toString('utf8').includes('lithium'));
      const duplicates = [...delivered.values()].filter((n) => n > 1).length;
      console.log(
        `[gateway crash] ${TOTAL} sent in ${seconds.toFixed(1)} s; acked ${acked.size}; delivered ${delivered.size} distinct; ` +
          `lost ${lost.length}; duplicates ${duplicates}; failed attempts (retried) ${failures}; ` +
          `secured ${securedIds.size} (stored ${securedIds.size - securedLost.length}, outbox rows ${outboxRows.length})`,
      );
      expect(killed).toBe(true);
      expect(failures).toBeGreaterThan(0);
      expect(acked.size).toBe(TOTAL);
      expect(lost).toEqual([]);
      expect(securedIds.size).toBe(TOTAL / PHI_EVERY);
      expect(securedLost).toEqual([]);
      expect(leaked).toHaveLength(0);
    },
  );
});
