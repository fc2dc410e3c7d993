import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryListResponseSchema, DeliverySummarySchema } from '@attune/shared/api';
import { AUDIT } from '../audit/index.ts';
import { testConfig } from '../config.ts';
import { startSmtpSink, type SmtpSink } from '../delivery/smtp-sink.ts';
import { startServer, type RunningServer } from '../index.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';
import { attune } from './testing.ts';

// Each case runs the CLI several times (a Node start with tsx, ~1-2 s each).
const SLOW = 180_000;

const PATIENT = 'rowan.ellery@patients.example';

/** Arguments after `attune deliveries` that are usage errors (exit 2). */
const USAGE_ERRORS = (deliveryId: string): string[][] => [
  [],
  ['example.org', '--statuss', 'failed'],
  ['example.org', '--status', 'lost'],
  ['example.org', '--limit', '0'],
  ['example.org', '--limit', 'ten'],
  ['example.org', '--since', 'yesterday'],
  ['example.org', '--message', 'not-an-id'],
  ['example.org', '--cursor', 'garbage'],
  ['example.org', '--json=yes'],
  ['example.org', 'resend', deliveryId],
  ['example.org', 'retry'],
  ['example.org', 'retry', 'not-an-id'],
  ['example.org', 'retry', deliveryId, 'extra'],
  ['example.org', 'retry', deliveryId, '--status', 'failed'],
  ['example.org', 'retry', deliveryId, '--show-addresses'],
];
const SUBJECT = 'Rowan Ellery: your intake';

// `attune deliveries`: the real CLI against the store of a running server whose delivery worker
// sends through an in-process SMTP relay (smtp-server): the relay refuses a notice for good, the
// admin lists it and queues it again, and the server's worker sends it, once.
describe.each(dialectsUnderTest())('attune deliveries (the real CLI) on %s', (dialect) => {
  let dir: string;
  let env: Record<string, string>;
  let server: RunningServer;
  let smtp: SmtpSink;
  let drop: (() => Promise<void>) | undefined;
  let messageId: string;
  let deliveryId: string;

  const until = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const statusOf = async () =>
    (
      await server.store.db
        .selectFrom('deliveries')
        .select('status')
        .where('id', '=', deliveryId)
        .executeTakeFirstOrThrow()
    ).status;
  const toPatient = () => smtp.received.filter((m) => m.to.includes(PATIENT));
  const audits = (action: string) =>
    server.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', action)
      .orderBy('seq')
      .execute();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-deliveries-'));
    smtp = await startSmtpSink();
    env = { DATA_DIR: dir, CHECKPOINT_INTERVAL_SECONDS: '0' };
    if (dialect === 'postgres') {
      const schema = await createTestSchema();
      drop = schema.drop;
      env = { ...env, DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
    }
    server = await startServer(
      testConfig(dir, { ...env, SMTP_URL: smtp.url(), SMTP_REQUIRE_TLS: 'true', GATEWAY_PORT: '0' }),
    );
    const token = (await (
      await fetch(`${server.url}/v1/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'dr.a@example.org' }),
      })
    ).json()) as { token: string };
    // The relay refuses the notice for good (a 554 at DATA): the delivery fails on its first attempt.
    smtp.refuseNext(1, 554);
    const sent = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: [PATIENT], subject: SUBJECT, text: 'See you on Tuesday.' }),
    });
    expect(sent.status).toBe(202);
    messageId = ((await sent.json()) as { id: string }).id;
    deliveryId = (
      await server.store.db
        .selectFrom('deliveries')
        .select('id')
        .where('message_id', '=', messageId)
        .executeTakeFirstOrThrow()
    ).id;
    await until('the delivery to fail', async () => ((await statusOf()) === 'failed' ? true : undefined));
  }, SLOW);
  afterAll(async () => {
    await server?.close();
    await smtp?.close();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'lists the failed delivery by reference, shows addresses only when asked, and audits each listing as a PHI read',
    async () => {
      const text = await attune(['deliveries', 'example.org'], env);
      expect(text.stderr).toBe('');
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(`delivery ${deliveryId}  failed  link  attempts 1`);
      expect(text.stdout).toContain(`message ${messageId}`);
      expect(text.stdout).toContain('last error relay_refused SMTP 554');
      for (const leak of [PATIENT, 'Rowan', 'intake', 'rejected']) expect(text.stdout).not.toContain(leak);

      const json = await attune(
        ['deliveries', server.practiceId, '--status', 'failed,bounced', '--json'],
        env,
      );
      expect(json.code).toBe(0);
      const body = DeliveryListResponseSchema.parse(JSON.parse(json.stdout));
      expect(body.items.map((d) => [d.id, d.status])).toEqual([[deliveryId, 'failed']]);
      expect(body.items[0]?.patientId).toMatch(/^[0-9a-f-]{36}$/);
      expect(json.stdout).not.toContain(PATIENT);
      const none = await attune(['deliveries', 'example.org', '--status', 'sent', '--json'], env);
      expect(DeliveryListResponseSchema.parse(JSON.parse(none.stdout)).items).toEqual([]);

      const shown = await attune(['deliveries', 'example.org', '--show-addresses'], env);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toContain(`  address ${PATIENT}`);
      const shownJson = await attune(['deliveries', 'example.org', '--show-addresses', '--json'], env);
      expect((JSON.parse(shownJson.stdout) as { items: { address: string }[] }).items[0]?.address).toBe(
        PATIENT,
      );

      const reads = (await audits(AUDIT.PHI_READ)).filter((a) => a.target_type === 'deliveries');
      expect(reads).toHaveLength(5);
      for (const r of reads) {
        expect(r).toMatchObject({ actor_type: 'cli', practice_id: server.practiceId, outcome: 'success' });
        expect(r.details).not.toContain('@');
      }
      expect(reads.map((r) => (JSON.parse(r.details) as { addresses: boolean }).addresses)).toEqual([
        false,
        false,
        false,
        true,
        true,
      ]);
    },
    SLOW,
  );

  it(
    'is strict about its flags and arguments (exit 2), and refuses an unknown practice or delivery (exit 1)',
    async () => {
      const help = await attune(['deliveries', '--help'], env);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('attune deliveries PRACTICE retry DELIVERY_ID');
      // Usage errors are refused before the store is opened: checked once, not per dialect.
      const usageErrors = dialect === 'sqlite' ? USAGE_ERRORS(deliveryId) : [USAGE_ERRORS(deliveryId)[1]!];
      for (const args of usageErrors) {
        const r = await attune(['deliveries', ...args], env);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr, args.join(' ')).toContain('usage:');
        expect(r.stdout, args.join(' ')).toBe('');
      }
      const unknown = await attune(['deliveries', 'nowhere.example'], env);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('no practice nowhere.example');
      const missing = await attune(
        ['deliveries', 'example.org', 'retry', '00000000-0000-7000-8000-000000000000'],
        env,
      );
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('no delivery');
      expect(await statusOf()).toBe('failed');
    },
    SLOW,
  );

  it(
    'queues the failed delivery again: the server sends it exactly once, and a second retry is refused',
    async () => {
      expect(toPatient()).toHaveLength(0);
      const r = await attune(['deliveries', 'example.org', 'retry', deliveryId, '--json'], env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(DeliverySummarySchema.parse(JSON.parse(r.stdout))).toMatchObject({
        id: deliveryId,
        status: 'queued',
        attempts: 0,
        lastError: null,
      });
      // The running server's worker finds it at its next poll.
      await until('the notice', () => Promise.resolve(toPatient().length > 0 ? true : undefined));
      await until('the delivery to be sent', async () => ((await statusOf()) === 'sent' ? true : undefined));

      const again = await attune(['deliveries', 'example.org', 'retry', deliveryId], env);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('this one is sent');
      await new Promise((res) => setTimeout(res, 1_500));
      expect(toPatient()).toHaveLength(1);

      const retries = await audits(AUDIT.DELIVERY_RETRY);
      expect(retries.map((a) => [a.outcome, a.actor_type, a.target_id])).toEqual([
        ['failure', 'cli', '00000000-0000-7000-8000-000000000000'],
        ['success', 'cli', deliveryId],
        ['failure', 'cli', deliveryId],
      ]);
      for (const a of retries) expect(a.details).not.toContain('@');
    },
    SLOW,
  );
});
