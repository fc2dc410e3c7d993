import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { SendMessageRequestSchema } from '@attune/shared/api';
import { scan } from '@attune/shared/phi';
import { testConfig } from '../config.ts';
import { generateMasterKey } from '../crypto/index.ts';
import { createDelivery, sendSecureMessage, type Delivery } from '../delivery/index.ts';
import { AUDIT } from '../audit/index.ts';
import { listDeliveries, retryDelivery } from '../delivery/admin.ts';
import { messageStatus } from '../delivery/status.ts';
import { deliveryOfReturnPath, returnPathFor } from '../delivery/verp.ts';
import { undeliveredEventId } from '../engagement/events-store.ts';
import { silentLogger } from '../log.ts';
import { newId } from '../store/index.ts';
import { ensurePractice } from '../store/practices.ts';
import { insertTestClinician } from '../store/test-rows.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { readDeliveryStatus } from './delivery-status.ts';
import { startGateway, type RunningGateway } from './index.ts';
import { client, startSink, type Sink } from './testing.ts';

// Bounces that come after our relay said 250: the recipient's server sends a delivery status
// notification (RFC 3464) to the delivery's VERP return path at the practice's reply domain, which
// the gateway takes. The real gateway, store and delivery pipeline, on SQLite and PostgreSQL.

const CLINICIAN = 'dr.lee@clinic.test';
const PATIENT = 'jane.roe@example.com';
const REPLY_DOMAIN = 'reply.clinic.test';

/** A DSN as Postfix writes one; `status` decides failed (5.x.x) or delayed (4.x.x). */
function dsn(to: string, status: string, action = status.startsWith('5') ? 'failed' : 'delayed'): Buffer {
  const b = 'B0UND4RY';
  return Buffer.from(
    [
      'From: MAILER-DAEMON@mx.example.com (Mail Delivery System)',
      `To: ${to}`,
      'Subject: Undelivered Mail Returned to Sender',
      'Date: Sun, 22 Nov 2026 07:00:00 +0000',
      `Message-ID: <${newId()}@mx.example.com>`,
      'Auto-Submitted: auto-replied',
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'I could not deliver your message.',
      '',
      `--${b}`,
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.com',
      '',
      `Final-Recipient: rfc822; ${PATIENT}`,
      `Original-Recipient: rfc822;${PATIENT}`,
      `Action: ${action}`,
      `Status: ${status}`,
      `Diagnostic-Code: smtp; 550 ${status} <${PATIENT}>: Recipient address rejected:`,
      '    User unknown in virtual mailbox table',
      '',
      `--${b}`,
      'Content-Type: text/rfc822-headers',
      '',
      'Subject: You have a secure message from Lakeside Counseling',
      '',
      `--${b}--`,
      '',
    ].join('\r\n'),
  );
}

async function until<T>(f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('readDeliveryStatus', () => {
  it('reads action, status and diagnostic from a multipart/report, most serious first', () => {
    expect(readDeliveryStatus(dsn('x@y.test', '5.1.1'))).toEqual([
      {
        action: 'failed',
        status: '5.1.1',
        diagnostic: `550 5.1.1 <${PATIENT}>: Recipient address rejected: User unknown in virtual mailbox table`,
      },
    ]);
  });

  it('returns null for mail that is not a delivery status notification', () => {
    const raw = Buffer.from('From: a@b.test\r\nSubject: Out of office\r\n\r\nI am away.\r\n');
    expect(readDeliveryStatus(raw)).toBeNull();
  });
});

describe.each(dialectsUnderTest())('gateway: delivery reports to VERP return paths on %s', (dialect) => {
  let sink: Sink;
  let store: TestStore;
  let delivery: Delivery;
  let gw: RunningGateway;
  let practiceId: string;
  let clinicianId: string;
  const clock = { offsetMs: 0 };

  afterEach(async () => {
    await gw?.close();
    await delivery?.stop();
    await sink?.close();
    await store?.cleanup();
  });

  async function setUp(): Promise<void> {
    clock.offsetMs = 0;
    store = await createTestStore(dialect);
    sink = await startSink();
    const config = testConfig(store.dataDir, {
      SMTP_URL: sink.url,
      SMTP_REQUIRE_TLS: 'false',
      ATTUNE_MASTER_KEY: generateMasterKey(),
      PRACTICE_DOMAINS: 'clinic.test',
      PRACTICE_REPLY_DOMAIN: REPLY_DOMAIN,
      PUBLIC_URL: 'https://attune.clinic.test',
    });
    practiceId = (
      await ensurePractice(store.db, {
        name: 'Lakeside Counseling',
        domains: ['clinic.test'],
        replyDomain: REPLY_DOMAIN,
      })
    ).practiceId;
    clinicianId = newId();
    await insertTestClinician(store.db, practiceId, { email: CLINICIAN, name: 'Dr Lee', id: clinicianId });
    delivery = createDelivery({
      config,
      store,
      logger: silentLogger,
      now: () => new Date(Date.now() + clock.offsetMs),
      worker: { pollMs: 50, backoffBaseMs: 100, failureNoticeDelayMs: 200 },
    });
    delivery.start();
    gw = await startGateway({
      config,
      store,
      pipeline: delivery.pipeline,
      env: { GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1' },
    });
  }

  /** Sends a secure message to the patient and waits until the relay took its notice. */
  async function sent(): Promise<{ messageId: string; returnPath: string }> {
    const r = await sendSecureMessage(
      delivery.services,
      { practiceId, clinicianId },
      SendMessageRequestSchema.parse({
        to: [PATIENT],
        subject: 'Medication change',
        text: 'Hi Jane Roe, your sertraline dose goes up to 100 mg.',
      }),
    );
    if (!r.ok) throw new Error(r.code);
    const notice = await until(() => Promise.resolve(sink.messages.find((m) => m.to.includes(PATIENT))));
    // The relay's 250 is recorded just after it arrives: wait for that too.
    await until(async () => ((await deliveryRow()).status === 'sent' ? true : undefined));
    return { messageId: r.response.id, returnPath: notice.from };
  }

  /** What the recipient's server does: deliver the report, from <>, to the return path. */
  async function bounce(to: string, raw: Buffer): Promise<void> {
    await client(gw.port).sendMail({ envelope: { from: '', to: [to] }, raw });
  }

  async function deliveryRow() {
    return store.db
      .selectFrom('deliveries')
      .select(['status', 'last_error', 'updated_at'])
      .executeTakeFirstOrThrow();
  }

  it('marks the delivery failed on a 5.x.x report, without addresses in the reason, and emails the sender', async () => {
    await setUp();
    const { messageId, returnPath } = await sent();
    expect(returnPath).toMatch(/^bounce\+[0-9a-f]{32}-[0-9a-f]{20}@reply\.clinic\.test$/);
    await bounce(returnPath, dsn(returnPath, '5.1.1'));
    const status = await until(async () => {
      const s = await messageStatus(delivery.services, practiceId, messageId);
      return s?.recipients[0]?.status === 'failed' ? s : undefined;
    });
    const reason = status.recipients[0]!.lastError!;
    // As the admins' listing words it: the code and the status, nothing of the remote text.
    expect(reason).toBe('bounced 5.1.1');
    const reports = await store.db.selectFrom('delivery_reports').selectAll().execute();
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ action: 'failed', status: '5.1.1' });
    expect(reports[0]!.diagnostic).not.toContain(PATIENT);
    // The sender hears of it: one PHI-free email.
    clock.offsetMs = 61_000;
    delivery.worker.kick();
    const notice = await until(() => Promise.resolve(sink.messages.find((m) => m.to.includes(CLINICIAN))));
    const parsed = await simpleParser(notice.raw);
    expect(parsed.subject).toBe('A secure message could not be delivered (Lakeside Counseling)');
    expect(parsed.text).toContain(`Reference: ${messageId}`);
    const raw = notice.raw.toString('utf8');
    for (const word of [PATIENT, 'Jane', 'sertraline', 'Medication']) expect(raw).not.toContain(word);
    const text = (parsed.text ?? '').replace(/^Reference: .*$/m, '');
    expect(scan(`${parsed.subject ?? ''}\n${text}`, { allowList: ['Lakeside Counseling'] })).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.messages.filter((m) => m.to.includes(CLINICIAN))).toHaveLength(1);
  });

  it('refuses a report to a forged return path at RCPT and changes nothing', async () => {
    await setUp();
    const { returnPath } = await sent();
    const before = await deliveryRow();
    // The right delivery id with a MAC that is not ours.
    const forged = returnPath.replace(
      /-([0-9a-f]{20})@/,
      (_, mac: string) => `-${mac.startsWith('0') ? '1' : '0'}${mac.slice(1)}@`,
    );
    expect(forged).not.toBe(returnPath);
    await expect(bounce(forged, dsn(forged, '5.1.1'))).rejects.toMatchObject({ responseCode: 550 });
    // Status and reason as they were (updated_at may still move with the worker's own bookkeeping
    // of that send under load; the report would have changed the status and the reason).
    const after = await deliveryRow();
    expect({ status: after.status, last_error: after.last_error }).toEqual({
      status: before.status,
      last_error: before.last_error,
    });
    expect(before.status).toBe('sent');
    expect(await store.db.selectFrom('delivery_reports').select('id').execute()).toEqual([]);
  });

  it('reads a late bounce of the send before a retry as stale: recorded, the re-sent delivery left alone; a bounce of the current send still counts', async () => {
    await setUp();
    const { messageId, returnPath: first } = await sent();
    await bounce(first, dsn(first, '5.1.1'));
    await until(async () => ((await deliveryRow()).status === 'failed' ? true : undefined));
    const { id: deliveryId, patient_id } = await store.db
      .selectFrom('deliveries')
      .select(['id', 'patient_id'])
      .executeTakeFirstOrThrow();
    const undelivered = () =>
      store.db
        .selectFrom('engagement_events')
        .select('id')
        .where('id', '=', undeliveredEventId(deliveryId))
        .execute();
    // The bounce marked the patient as never having had the message.
    expect(patient_id).not.toBeNull();
    expect(await undelivered()).toHaveLength(1);
    // The admin fixes the address book and sends it again: a new send, from a new return path.
    const retried = await retryDelivery(
      { db: store.db, masterKey: delivery.services.masterKey, now: () => new Date() },
      { practiceId, actor: { type: 'cli', id: 'ops' } },
      deliveryId,
    );
    expect(retried).toMatchObject({ ok: true });
    delivery.worker.kick();
    const again = await until(() => Promise.resolve(sink.messages.filter((m) => m.to.includes(PATIENT))[1]));
    await until(async () => ((await deliveryRow()).status === 'sent' ? true : undefined));
    const second = again.from;
    expect(second).not.toBe(first);
    expect(second).toMatch(/^bounce\+[0-9a-f]{32}-1-[0-9a-f]{20}@reply\.clinic\.test$/);
    expect(second.length - '@reply.clinic.test'.length).toBeLessThanOrEqual(64);
    expect(deliveryOfReturnPath(delivery.services.masterKey, second)).toEqual({ deliveryId, generation: 1 });

    // The patient's server, slow, sends another report about the first send: it still comes home
    // (the first return path passes its MAC), is recorded as stale, and changes nothing.
    await bounce(first, dsn(first, '5.1.1'));
    const reportRows = () =>
      store.db
        .selectFrom('delivery_reports')
        .select(['generation', 'stale', 'action'])
        .orderBy('received_at')
        .orderBy('id')
        .execute();
    await until(async () => ((await reportRows()).length === 2 ? true : undefined));
    expect(await reportRows()).toEqual([
      { generation: 0, stale: 0, action: 'failed' },
      { generation: 0, stale: 1, action: 'failed' },
    ]);
    expect(await deliveryRow()).toMatchObject({ status: 'sent', last_error: null });
    expect((await messageStatus(delivery.services, practiceId, messageId))?.recipients[0]).toMatchObject({
      status: 'sent',
      lastError: null,
    });
    // The patient is not marked as never having had it (engagement), and the listing says sent,
    // showing the stale report for what it is.
    expect(await undelivered()).toEqual([]);
    const listed = (await listDeliveries(store.db, practiceId, { limit: 10 }, new Date())).items[0];
    expect(listed).toMatchObject({
      status: 'sent',
      lastError: null,
      reports: [
        { action: 'failed', status: '5.1.1', stale: false },
        { action: 'failed', status: '5.1.1', stale: true },
      ],
    });
    const audit = await store.db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', AUDIT.DELIVERY_REPORT)
      .orderBy('seq')
      .execute();
    expect(
      audit.map((a) => [a.outcome, (JSON.parse(a.details ?? '{}') as { applied?: string }).applied]),
    ).toEqual([
      ['failure', 'failed'],
      ['success', 'stale'],
    ]);

    // A bounce of the current send still makes it bounced.
    await bounce(second, dsn(second, '5.1.1'));
    await until(async () => ((await deliveryRow()).status === 'failed' ? true : undefined));
    expect(await reportRows()).toHaveLength(3);
    expect((await reportRows())[2]).toEqual({ generation: 1, stale: 0, action: 'failed' });
    expect((await listDeliveries(store.db, practiceId, { limit: 10 }, new Date())).items[0]?.status).toBe(
      'bounced',
    );
  });

  it('refuses at RCPT a return path whose generation was changed, added or dropped: the MAC covers it', async () => {
    await setUp();
    const { returnPath: first } = await sent();
    const mk = delivery.services.masterKey;
    const id = deliveryOfReturnPath(mk, first)!.deliveryId;
    const gen2 = returnPathFor(mk, id, REPLY_DOMAIN, 2)!;
    const forgeries = [
      // The first send's MAC with a generation added.
      first.replace(/-([0-9a-f]{20})@/, '-2-$1@'),
      // Generation 2's MAC under generation 3, and without its generation.
      gen2.replace(/-2-/, '-3-'),
      gen2.replace(/-2-/, '-'),
      // A generation written with a leading zero is not the canonical address.
      gen2.replace(/-2-/, '-02-'),
    ];
    for (const forged of forgeries) {
      expect(deliveryOfReturnPath(mk, forged), forged).toBeNull();
      await expect(bounce(forged, dsn(forged, '5.1.1'))).rejects.toMatchObject({ responseCode: 550 });
    }
    expect(await deliveryRow()).toMatchObject({ status: 'sent', last_error: null });
    expect(await store.db.selectFrom('delivery_reports').select('id').execute()).toEqual([]);
  });

  it('records a free-text bounce (no RFC 3464 report) as a report of unknown status: nothing changed, none of its text kept', async () => {
    await setUp();
    const { messageId, returnPath } = await sent();
    const before = await deliveryRow();
    // A legacy MTA's bounce: plain text quoting the recipient and the returned notice.
    const raw = Buffer.from(
      [
        'From: MAILER-DAEMON@old-mx.example.com',
        `To: ${returnPath}`,
        'Subject: failure notice',
        `Message-ID: <${newId()}@old-mx.example.com>`,
        '',
        "Hi. This is the qmail-send program at old-mx.example.com. I'm afraid I wasn't able to deliver",
        'your message to the following addresses.',
        '',
        `<${PATIENT}>:`,
        'Sorry, no mailbox here by that name. (#5.1.1)',
        '',
        '--- Below this line is a copy of the message.',
        'Subject: You have a secure message from Lakeside Counseling',
        '',
      ].join('\r\n'),
    );
    await bounce(returnPath, raw);
    const report = await until(
      async () => (await store.db.selectFrom('delivery_reports').selectAll().execute())[0],
    );
    expect(report).toMatchObject({ action: 'unknown', status: 'unknown', diagnostic: null });
    const d = await store.db.selectFrom('deliveries').select('id').executeTakeFirstOrThrow();
    expect(report.delivery_id).toBe(d.id);
    const after = await deliveryRow();
    expect({ status: after.status, last_error: after.last_error }).toEqual({
      status: before.status,
      last_error: before.last_error,
    });
    const status = await messageStatus(delivery.services, practiceId, messageId);
    expect(status?.recipients[0]?.status).toBe('sent');
    const audit = await store.db
      .selectFrom('audit_events')
      .select(['outcome', 'target_type', 'target_id', 'details'])
      .where('action', '=', 'delivery.report')
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ outcome: 'success', target_type: 'delivery', target_id: d.id });
    expect(JSON.parse(audit[0]!.details)).toEqual({
      messageId,
      action: 'unknown',
      status: 'unknown',
      generation: 0,
      applied: 'recorded',
    });
    // No failure notice: nothing is known to have failed.
    clock.offsetMs = 61_000;
    delivery.worker.kick();
    await new Promise((r) => setTimeout(r, 400));
    expect(sink.messages.filter((m) => m.to.includes(CLINICIAN))).toHaveLength(0);
  });

  it('records an out-of-office reply to the return path as an auto_reply, never a failure, none of its text kept; an Exim bounce marked auto-replied stays unknown', async () => {
    await setUp();
    const { messageId, returnPath } = await sent();
    const before = await deliveryRow();
    const reply = (headers: string[], text: string) =>
      Buffer.from(
        [
          ...headers,
          `To: ${returnPath}`,
          `Message-ID: <${newId()}@example.com>`,
          'Subject: Out of office: You have a secure message from Lakeside Counseling',
          '',
          text,
          '',
        ].join('\r\n'),
      );
    // Gmail's vacation responder (RFC 3834), then Exchange's automatic reply.
    await bounce(
      returnPath,
      reply(
        [`From: Jane Roe <${PATIENT}>`, 'Auto-Submitted: auto-replied'],
        'I am in hospital until Monday; call my sister at 555-0100.',
      ),
    );
    await bounce(
      returnPath,
      reply(
        [
          `From: Jane Roe <${PATIENT}>`,
          'Auto-Submitted: auto-generated',
          `X-MS-Exchange-Inbox-Rules-Loop: ${PATIENT}`,
          'X-Auto-Response-Suppress: All',
        ],
        'Away at my therapy retreat.',
      ),
    );
    // Exim's bounce in free text: auto-replied too, but from the mailer daemon with the failed address.
    await bounce(
      returnPath,
      reply(
        [
          'From: Mail Delivery System <Mailer-Daemon@old-mx.example.com>',
          'Auto-Submitted: auto-replied',
          `X-Failed-Recipients: ${PATIENT}`,
        ],
        'This message was created automatically by mail delivery software.',
      ),
    );
    const reports = await until(async () => {
      const r = await store.db
        .selectFrom('delivery_reports')
        .select(['action', 'status', 'diagnostic'])
        .orderBy('received_at')
        .orderBy('id')
        .execute();
      return r.length === 3 ? r : undefined;
    });
    expect(reports.map((r) => r.action).sort()).toEqual(['auto_reply', 'auto_reply', 'unknown']);
    for (const r of reports) {
      expect(r.status).toBe(r.action);
      expect(r.diagnostic).toBeNull();
    }
    const after = await deliveryRow();
    expect({ status: after.status, last_error: after.last_error }).toEqual({
      status: before.status,
      last_error: before.last_error,
    });
    const audit = await store.db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', 'delivery.report')
      .execute();
    expect(audit.map((a) => a.outcome)).toEqual(['success', 'success', 'success']);
    expect(
      audit
        .map((a) => JSON.parse(a.details) as Record<string, unknown>)
        .filter((d) => d['action'] === 'auto_reply'),
    ).toEqual([
      { messageId, action: 'auto_reply', status: 'auto_reply', generation: 0, applied: 'recorded' },
      { messageId, action: 'auto_reply', status: 'auto_reply', generation: 0, applied: 'recorded' },
    ]);
    // Nothing of the replies is kept anywhere in the store.
    const dump = JSON.stringify([
      await store.db.selectFrom('delivery_reports').selectAll().execute(),
      await store.db.selectFrom('audit_events').selectAll().execute(),
      await store.db.selectFrom('deliveries').selectAll().execute(),
    ]);
    for (const word of ['hospital', '555-0100', 'retreat', 'Out of office']) expect(dump).not.toContain(word);
    // No failure notice.
    clock.offsetMs = 61_000;
    delivery.worker.kick();
    await new Promise((r) => setTimeout(r, 400));
    expect(sink.messages.filter((m) => m.to.includes(CLINICIAN))).toHaveLength(0);
  });

  it('records a 4.x.x delayed report without making the delivery terminal', async () => {
    await setUp();
    const { messageId, returnPath } = await sent();
    await bounce(returnPath, dsn(returnPath, '4.4.7'));
    const report = await until(
      async () => (await store.db.selectFrom('delivery_reports').selectAll().execute())[0],
    );
    expect(report).toMatchObject({ action: 'delayed', status: '4.4.7' });
    const status = await messageStatus(delivery.services, practiceId, messageId);
    expect(status?.recipients[0]?.status).toBe('sent');
    expect(status?.recipients[0]?.lastError).toBe('remote_delayed 4.4.7');
    clock.offsetMs = 61_000;
    delivery.worker.kick();
    await new Promise((r) => setTimeout(r, 400));
    expect(sink.messages.filter((m) => m.to.includes(CLINICIAN))).toHaveLength(0);
  });
});
