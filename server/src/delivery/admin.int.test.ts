import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageRequestSchema, type SendMessageRequestInput } from '@attune/shared/api';
import { AUDIT } from '../audit/index.ts';
import { undeliveredEventId } from '../engagement/events-store.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { CompiledQuery, sql } from 'kysely';
import { listDeliveries, listingQuery, retryDelivery, type DeliveryFilter } from './admin.ts';
import { recordDeliveryReport } from './delivery-report.ts';
import type { OutboxWorker } from './outbox.ts';
import { sendSecureMessage } from './send.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { revokeMessage } from './status.ts';
import { createDeliveryFixture, type DeliveryFixture } from './testing.ts';
import { hashToken } from './tokens.ts';
import { MAX_GENERATION } from './verp.ts';
import { smtpTransport } from './transport.ts';

// What admins see of deliveries and the retry of a failed one (delivery/admin.ts), against a real
// SMTP server in-process (smtp-server), on SQLite and PostgreSQL.

const LINK = /https:\/\/attune\.calm\.example\/m\/([A-Za-z0-9_-]{43})/;
const CLI = { type: 'cli' as const, id: 'ops' };

async function drain(worker: OutboxWorker): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if ((await worker.runOnce()) === 0) {
      await new Promise((r) => setTimeout(r, 30));
      if ((await worker.runOnce()) === 0) return;
    }
  }
}

describe.each(dialectsUnderTest())('deliveries for admins on %s', (dialect) => {
  let sink: SmtpSink;
  let f: DeliveryFixture;

  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });
  afterEach(async () => {
    await f?.cleanup();
    sink.received.length = 0;
    sink.refuseNext(0, 451);
  });

  async function fixture() {
    f = await createDeliveryFixture(dialect, {
      transport: smtpTransport({ url: sink.url(), requireTls: true, pool: false }),
    });
    return f;
  }

  async function send(input: Partial<SendMessageRequestInput> & { to: string[] }) {
    const r = await sendSecureMessage(
      f.delivery.services,
      { practiceId: f.practiceId, clinicianId: f.clinicianId },
      SendMessageRequestSchema.parse({ subject: 'Session notes', text: 'See you Tuesday.', ...input }),
    );
    if (!r.ok) throw new Error(`send failed: ${r.code}`);
    return r.response.id;
  }

  const list = (filter: Partial<DeliveryFilter> = {}, practiceId = f.practiceId) =>
    listDeliveries(f.store.db, practiceId, { limit: 50, ...filter }, f.delivery.services.now());

  const deliveryOf = async (messageId: string) =>
    f.store.db
      .selectFrom('deliveries')
      .selectAll()
      .where('message_id', '=', messageId)
      .executeTakeFirstOrThrow();

  const retry = (deliveryId: string, practiceId = f.practiceId) =>
    retryDelivery(
      { db: f.store.db, masterKey: f.delivery.services.masterKey, now: f.delivery.services.now },
      { practiceId, actor: CLI },
      deliveryId,
    );

  const mailsTo = (address: string) => sink.received.filter((m) => m.to.includes(address));

  /** One delivery in each state the store can hold, newest last. */
  async function everyState() {
    await fixture();
    // Refused for good by our relay.
    sink.refuseNext(1, 554);
    const failed = await send({ to: ['failed@patient.example'] });
    await drain(f.delivery.worker);
    const sent = await send({ to: ['sent@patient.example'] });
    await drain(f.delivery.worker);
    // An out-of-office reply to its return path: shown as such, and it stays sent.
    await recordDeliveryReport(f.delivery.services, {
      deliveryId: (await deliveryOf(sent)).id,
      action: 'auto_reply',
      status: 'auto_reply',
      diagnostic: null,
      receivedAt: new Date(),
    });
    // Taken by our relay, then returned by the patient's server (RFC 3464 report to the return path).
    const bounced = await send({ to: ['bounced@patient.example'] });
    await drain(f.delivery.worker);
    const report = await recordDeliveryReport(f.delivery.services, {
      deliveryId: (await deliveryOf(bounced)).id,
      action: 'failed',
      status: '5.1.1',
      diagnostic: '550 5.1.1 <bounced@patient.example>: mailbox unavailable',
      receivedAt: new Date(),
    });
    expect(report).toMatchObject({ ok: true, outcome: 'failed' });
    // Refused for now: retried later.
    sink.refuseNext(1, 451);
    const retrying = await send({ to: ['retrying@patient.example'] });
    await f.delivery.worker.runOnce();
    const revoked = await send({ to: ['revoked@patient.example'] });
    await revokeMessage(
      f.delivery.services,
      { practiceId: f.practiceId, clinicianId: f.clinicianId },
      revoked,
    );
    const later = new Date(Date.now() + 86_400_000).toISOString();
    const scheduled = await send({ to: ['scheduled@patient.example'], sendAt: later });
    const queued = await send({ to: ['queued@patient.example'] });
    return { failed, sent, bounced, retrying, revoked, scheduled, queued, later };
  }

  it('lists every delivery newest first, with the status told apart by what the store holds, and no address', async () => {
    const m = await everyState();
    const page = await list();
    expect(page.items.map((d) => [d.messageId, d.status])).toEqual([
      [m.queued, 'queued'],
      [m.scheduled, 'scheduled'],
      [m.revoked, 'revoked'],
      [m.retrying, 'retrying'],
      [m.bounced, 'bounced'],
      [m.sent, 'sent'],
      [m.failed, 'failed'],
    ]);
    const by = new Map(page.items.map((d) => [d.messageId, d]));
    expect(by.get(m.failed)).toMatchObject({
      method: 'link',
      kind: 'to',
      attempts: 1,
      nextAttemptAt: null,
      lastError: { code: 'relay_refused', smtpCode: 554 },
      reports: [],
    });
    expect(by.get(m.sent)).toMatchObject({
      status: 'sent',
      reports: [{ action: 'auto_reply', status: 'auto_reply', receivedAt: expect.any(String) }],
    });
    expect(by.get(m.retrying)).toMatchObject({
      attempts: 1,
      lastError: { code: 'relay_deferred', smtpCode: 451 },
    });
    expect(by.get(m.retrying)?.nextAttemptAt).toEqual(expect.any(String));
    expect(by.get(m.bounced)).toMatchObject({
      lastError: { code: 'bounced', enhancedStatus: '5.1.1' },
      reports: [{ action: 'failed', status: '5.1.1', receivedAt: expect.any(String) }],
    });
    expect(by.get(m.bounced)?.sentAt).toEqual(expect.any(String));
    expect(by.get(m.sent)).toMatchObject({ lastError: null, nextAttemptAt: null });
    expect(by.get(m.scheduled)).toMatchObject({ attempts: 0, lastError: null });
    expect(Date.parse(by.get(m.scheduled)?.nextAttemptAt ?? '')).toBe(Date.parse(m.later));
    expect(by.get(m.queued)?.nextAttemptAt).toEqual(expect.any(String));
    // Patients by id; the addresses only in the map the CLI reads for --show-addresses.
    for (const d of page.items) expect(d.patientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(page.items)).not.toContain('@patient.example');
    expect(JSON.stringify(page.items)).not.toContain('mailbox unavailable');
    expect([...page.addresses.values()]).toContain('bounced@patient.example');
    expect(page.nextCursor).toBeNull();
  });

  it('filters by status, message and time, and pages without gaps or repeats', async () => {
    const m = await everyState();
    const ids = async (filter: Partial<DeliveryFilter>) => (await list(filter)).items.map((d) => d.messageId);
    expect(await ids({ statuses: ['failed', 'bounced'] })).toEqual([m.bounced, m.failed]);
    expect(await ids({ statuses: ['failed'] })).toEqual([m.failed]);
    expect(await ids({ statuses: ['scheduled', 'queued', 'retrying'] })).toEqual([
      m.queued,
      m.scheduled,
      m.retrying,
    ]);
    expect(await ids({ statuses: ['opened'] })).toEqual([]);
    expect(await ids({ messageId: m.sent })).toEqual([m.sent]);
    const retryingAt = (await deliveryOf(m.retrying)).created_at;
    expect(await ids({ since: new Date(retryingAt) })).toEqual([
      m.queued,
      m.scheduled,
      m.revoked,
      m.retrying,
    ]);

    const all = (await list()).items.map((d) => d.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 10; n++) {
      const page = await list({ limit: 2, cursor });
      seen.push(...page.items.map((d) => d.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(all);
    // A filtered listing pages over the matching rows only.
    const first = await list({ statuses: ['failed', 'bounced', 'sent'], limit: 2 });
    expect(first.items.map((d) => d.messageId)).toEqual([m.bounced, m.sent]);
    const second = await list({
      statuses: ['failed', 'bounced', 'sent'],
      limit: 2,
      cursor: first.nextCursor ?? '',
    });
    expect(second.items.map((d) => d.messageId)).toEqual([m.failed]);
    expect(second.nextCursor).toBeNull();
  });

  it('keeps practices apart: another practice sees none of them and cannot retry them', async () => {
    const m = await everyState();
    const other = await f.addPractice('Other Practice', 'other.example');
    expect((await list({}, other.practiceId)).items).toEqual([]);
    const failedId = (await deliveryOf(m.failed)).id;
    expect(await retry(failedId, other.practiceId)).toEqual({ ok: false, reason: 'not_found' });
    expect((await deliveryOf(m.failed)).status).toBe('failed');
  });

  it('queues a failed delivery again with a new link, and the worker sends it exactly once', async () => {
    await fixture();
    sink.refuseNext(1, 554);
    const messageId = await send({ to: ['jo@patient.example'] });
    await drain(f.delivery.worker);
    const before = await deliveryOf(messageId);
    expect(before.status).toBe('failed');
    expect(mailsTo('jo@patient.example')).toHaveLength(0);
    const oldHash = (
      await f.store.db
        .selectFrom('viewer_links')
        .select('token_sha256')
        .where('delivery_id', '=', before.id)
        .executeTakeFirstOrThrow()
    ).token_sha256;
    const undelivered = () =>
      f.store.db
        .selectFrom('engagement_events')
        .select('id')
        .where('id', '=', undeliveredEventId(before.id))
        .execute();
    expect(await undelivered()).toHaveLength(1);

    const r = await retry(before.id);
    expect(r).toMatchObject({
      ok: true,
      delivery: { id: before.id, status: 'queued', attempts: 0, lastError: null },
    });
    // On its way again: no longer counted as never received.
    expect(await undelivered()).toHaveLength(0);
    const audit = await f.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', AUDIT.DELIVERY_RETRY)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      outcome: 'success',
      actor_type: 'cli',
      actor_id: 'ops',
      target_id: before.id,
    });
    expect(audit[0]?.details).not.toContain('patient.example');

    await drain(f.delivery.worker);
    const got = mailsTo('jo@patient.example');
    expect(got).toHaveLength(1);
    const token = LINK.exec((await simpleParser(got[0]!.raw)).text ?? '')?.[1] ?? '';
    const link = await f.store.db
      .selectFrom('viewer_links')
      .select('token_sha256')
      .where('delivery_id', '=', before.id)
      .execute();
    // The notice's link is the one on file (the old, never delivered, one no longer works).
    expect(link.map((l) => l.token_sha256)).toEqual([hashToken(token)]);
    expect(hashToken(token)).not.toBe(oldHash);
    const [after] = (await list({ messageId })).items;
    expect(after).toMatchObject({ status: 'sent', attempts: 1, lastError: null });

    // It went out: another retry is refused and sends nothing.
    expect(await retry(before.id)).toEqual({ ok: false, reason: 'not_failed', status: 'sent' });
    await drain(f.delivery.worker);
    expect(mailsTo('jo@patient.example')).toHaveLength(1);
    const refused = await f.store.db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', AUDIT.DELIVERY_RETRY)
      .where('outcome', '=', 'failure')
      .execute();
    expect(refused.map((a) => JSON.parse(a.details) as unknown)).toEqual([
      expect.objectContaining({ reason: 'not_failed', status: 'sent' }),
    ]);
  });

  it('queues a bounced delivery once when two admins retry it at the same time', async () => {
    await fixture();
    const messageId = await send({ to: ['kim@patient.example'] });
    await drain(f.delivery.worker);
    const d = await deliveryOf(messageId);
    await recordDeliveryReport(f.delivery.services, {
      deliveryId: d.id,
      action: 'failed',
      status: '5.2.2',
      diagnostic: 'mailbox full',
      receivedAt: new Date(),
    });
    expect(mailsTo('kim@patient.example')).toHaveLength(1);
    const results = await Promise.all([retry(d.id), retry(d.id)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual([
      expect.objectContaining({ ok: false, reason: 'not_failed' }),
    ]);
    const live = await f.store.db
      .selectFrom('outbox')
      .select('id')
      .where('delivery_id', '=', d.id)
      .where('kind', '=', 'delivery')
      .where('done_at', 'is', null)
      .execute();
    expect(live).toHaveLength(1);
    await drain(f.delivery.worker);
    expect(mailsTo('kim@patient.example')).toHaveLength(2);
    // The bounce stays in the history.
    const [after] = (await list({ messageId })).items;
    expect(after).toMatchObject({ status: 'sent', reports: [{ action: 'failed', status: '5.2.2' }] });
  });

  it('refuses to retry a delivery that is not failed, or whose message was revoked or has expired', async () => {
    const m = await everyState();
    const id = async (messageId: string) => (await deliveryOf(messageId)).id;
    expect(await retry(await id(m.sent))).toMatchObject({ ok: false, reason: 'not_failed', status: 'sent' });
    expect(await retry(await id(m.queued))).toMatchObject({
      ok: false,
      reason: 'not_failed',
      status: 'queued',
    });
    expect(await retry(await id(m.retrying))).toMatchObject({ ok: false, reason: 'not_failed' });
    expect(await retry(await id(m.revoked))).toMatchObject({ ok: false, reason: 'message_revoked' });
    expect(await retry('00000000-0000-7000-8000-000000000000')).toEqual({ ok: false, reason: 'not_found' });

    // Failed, then its message revoked.
    await revokeMessage(
      f.delivery.services,
      { practiceId: f.practiceId, clinicianId: f.clinicianId },
      m.failed,
    );
    expect(await retry(await id(m.failed))).toMatchObject({ ok: false, reason: 'message_revoked' });

    // Bounced, then its link expired (the practice's link expiry is days; the clock jumps past it).
    f.clock.offsetMs += 400 * 86_400_000;
    expect(await retry(await id(m.bounced))).toMatchObject({ ok: false, reason: 'message_expired' });
    const live = await f.store.db
      .selectFrom('outbox')
      .select('id')
      .where('delivery_id', 'in', [await id(m.failed), await id(m.bounced), await id(m.sent)])
      .where('done_at', 'is', null)
      .execute();
    expect(live).toEqual([]);
  });

  it('starts a new send generation with each retry, and refuses one past the last its return paths can carry', async () => {
    await fixture();
    sink.refuseNext(1, 554);
    const messageId = await send({ to: ['limit@patient.example'] });
    await drain(f.delivery.worker);
    const d = await deliveryOf(messageId);
    expect(d).toMatchObject({ status: 'failed', send_generation: 0 });
    expect(await retry(d.id)).toMatchObject({ ok: true });
    expect((await deliveryOf(messageId)).send_generation).toBe(1);
    // Refused for good again; the generation stays what the send was.
    sink.refuseNext(1, 554);
    await drain(f.delivery.worker);
    expect(await deliveryOf(messageId)).toMatchObject({ status: 'failed', send_generation: 1 });
    // As if sent again MAX_GENERATION times: no return path is left for another send.
    await f.store.db
      .updateTable('deliveries')
      .set({ send_generation: MAX_GENERATION })
      .where('id', '=', d.id)
      .execute();
    expect(await retry(d.id)).toMatchObject({ ok: false, reason: 'retry_limit', status: 'failed' });
    expect(await deliveryOf(messageId)).toMatchObject({ status: 'failed', send_generation: MAX_GENERATION });
    const refusal = await f.store.db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', AUDIT.DELIVERY_RETRY)
      .where('outcome', '=', 'failure')
      .execute();
    expect(refusal.map((a) => (JSON.parse(a.details) as { reason?: string }).reason)).toEqual([
      'retry_limit',
    ]);
  });

  it("reads a practice's deliveries and their outbox rows through indexes (migration 0013), not by scanning", async () => {
    await fixture();
    const q = listingQuery(
      f.store.db,
      f.practiceId,
      { limit: 50, statuses: ['queued', 'retrying'] },
      new Date(),
    );
    const c = q.compile();
    let plan: string;
    if (dialect === 'sqlite') {
      const r = await f.store.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`explain query plan ${c.sql}`, [...c.parameters]),
      );
      plan = r.rows.map((x) => x.detail).join('\n');
    } else {
      // The tables are tiny, so the planner would scan them anyway: ask whether it can avoid it.
      plan = await f.store.db.transaction().execute(async (tx) => {
        await sql`set local enable_seqscan = off`.execute(tx);
        const r = await tx.executeQuery<{ 'QUERY PLAN': string }>(
          CompiledQuery.raw(`explain ${c.sql}`, [...c.parameters]),
        );
        return r.rows.map((x) => x['QUERY PLAN']).join('\n');
      });
    }
    expect(plan).toContain('outbox_delivery');
    expect(plan).toContain('deliveries_practice_created');
  });
});
