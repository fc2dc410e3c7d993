import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '@attune/shared/phi';
import { testConfig } from '../config.ts';
import { generateMasterKey, parseMasterKey } from '../crypto/index.ts';
import { createDelivery, ensurePracticeKeys, type Delivery } from '../delivery/index.ts';
import { deliveryOfReturnPath } from '../delivery/verp.ts';
import { silentLogger } from '../log.ts';
import { newId } from '../store/index.ts';
import { ensurePractice } from '../store/practices.ts';
import { insertTestClinician } from '../store/test-rows.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { startGateway, type RunningGateway } from './index.ts';
import { client, rawMessage, startSink, type Sink, type SinkMessage } from './testing.ts';

// A plain (non-PHI) message the gateway relays, whose next hop takes it for one recipient and
// refuses another for now: the outbox retries a copy for that recipient. The copy leaves from its
// own VERP return path (so a bounce after the next hop's 250 comes back to the gateway), and when it
// fails for good (a 5xx, attempts used up, or such a bounce) the sender is told once, without PHI,
// and never about the notice itself. The real gateway, store and outbox, on SQLite and PostgreSQL.

const CLINICIAN = 'dr.lee@clinic.test';
/** A clinician whose own mailbox the next hop refuses for good: their failure notice fails too. */
const UNREACHABLE = 'dr.gone@clinic.test';
const REPLY_DOMAIN = 'reply.clinic.test';
const SUBJECT = 'Order for Jane Roe';
const TEXT = 'Please send two toner cartridges to Lakeside.';
const VERP = /^bounce\+[0-9a-f]{32}-[0-9a-f]{20}@reply\.clinic\.test$/;

/**
 * The next hop: vendor@ takes everything. later-*@ refuse the relayed message itself for now (from
 * the clinician); what they then say to the copy (from its return path) is in the name: later-550@
 * refuses it for good, later-451@ for now forever, later-ok@ takes it. UNREACHABLE is refused for good.
 */
function nextHop(address: string, from: string): number | null {
  if (address === UNREACHABLE) return 550;
  if (!address.startsWith('later-')) return null;
  if (from === CLINICIAN || from === UNREACHABLE) return 451;
  if (address.startsWith('later-550@')) return 550;
  if (address.startsWith('later-451@')) return 451;
  return null;
}

/** A DSN as Postfix writes one, for the copy's recipient. */
function dsn(to: string, recipient: string): Buffer {
  const b = 'B0UND4RY';
  return Buffer.from(
    [
      'From: MAILER-DAEMON@mx.example.com (Mail Delivery System)',
      `To: ${to}`,
      'Subject: Undelivered Mail Returned to Sender',
      `Message-ID: <${newId()}@mx.example.com>`,
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=delivery-status; boundary="${b}"`,
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
      `Final-Recipient: rfc822; ${recipient}`,
      'Action: failed',
      'Status: 5.1.1',
      `Diagnostic-Code: smtp; 550 5.1.1 <${recipient}>: User unknown`,
      '',
      `--${b}--`,
      '',
    ].join('\r\n'),
  );
}

describe.each(dialectsUnderTest())('gateway: retry copies of relayed mail on %s', (dialect) => {
  let sink: Sink;
  let store: TestStore;
  let delivery: Delivery;
  let gw: RunningGateway;
  /** Envelope senders the next hop saw at RCPT, by recipient (refused ones included). */
  let seen: Map<string, string[]>;

  afterEach(async () => {
    await gw?.close();
    await delivery?.stop();
    await sink?.close();
    await store?.cleanup();
  });

  async function setUp(): Promise<void> {
    store = await createTestStore(dialect);
    seen = new Map();
    sink = await startSink({
      refuse: (a, from) => {
        seen.set(a, [...(seen.get(a) ?? []), from]);
        return nextHop(a, from);
      },
    });
    const config = testConfig(store.dataDir, {
      SMTP_URL: sink.url,
      SMTP_REQUIRE_TLS: 'false',
      ATTUNE_MASTER_KEY: generateMasterKey(),
      PRACTICE_DOMAINS: 'clinic.test',
      PRACTICE_REPLY_DOMAIN: REPLY_DOMAIN,
    });
    const practiceId = (
      await ensurePractice(store.db, {
        name: 'Lakeside Counseling',
        domains: ['clinic.test'],
        replyDomain: REPLY_DOMAIN,
      })
    ).practiceId;
    const mk = parseMasterKey(config.masterKey);
    if (!mk.ok) throw new Error('master key');
    await ensurePracticeKeys(store.db, mk.masterKey, practiceId);
    await insertTestClinician(store.db, practiceId, { email: CLINICIAN, name: 'Dr Lee' });
    await insertTestClinician(store.db, practiceId, { email: UNREACHABLE, name: 'Dr Gone' });
    delivery = createDelivery({
      config,
      store,
      logger: silentLogger,
      worker: { pollMs: 50, backoffBaseMs: 50, backoffMaxMs: 100, maxAttempts: 3 },
    });
    delivery.start();
    gw = await startGateway({
      config,
      store,
      pipeline: delivery.pipeline,
      env: {
        GATEWAY_PORT: '0',
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_ALLOWED_SOURCES: '127.0.0.1',
        GATEWAY_REPLY_DOMAIN: REPLY_DOMAIN,
      },
    });
  }

  async function until<T>(f: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const to = (addr: string) => (m: SinkMessage) => m.to.includes(addr);

  /** Relays a plain message from `from` to vendor@ and `later`; the next hop refuses `later` for now. */
  async function relayed(later: string, from = CLINICIAN): Promise<string> {
    const info = await client(gw.port).sendMail({
      envelope: { from, to: ['vendor@example.com', later] },
      raw: rawMessage({
        from,
        to: `vendor@example.com, ${later}`,
        subject: SUBJECT,
        text: TEXT,
        messageId: `<${newId()}@clinic.test>`,
      }),
    });
    expect(info.response).toMatch(/^250 .*1 refused for now will be retried/);
    const copy = await store.db
      .selectFrom('outbox')
      .select(['id', 'payload_ref'])
      .where('kind', '=', 'gateway_mail')
      .executeTakeFirstOrThrow();
    expect(copy.payload_ref).toBe(from);
    return copy.id;
  }

  const outboxRows = () =>
    store.db
      .selectFrom('outbox')
      .select(['id', 'kind', 'permanent_failure', 'done_at'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();

  /** The failure notice is PHI-free: nothing of the message, not the recipient, nothing the detector finds. */
  async function expectNotice(mail: SinkMessage, copyId: string, recipient: string): Promise<void> {
    const parsed = await simpleParser(mail.raw);
    expect(parsed.subject).toBe('A message could not be delivered (Lakeside Counseling)');
    expect(parsed.text).toContain(`Reference: ${copyId}`);
    expect(parsed.text).toContain('failed for one of them after retries');
    const whole = mail.raw.toString('utf8');
    for (const word of [recipient, 'vendor@', 'Jane', 'Roe', 'toner', 'Order'])
      expect(whole).not.toContain(word);
    const text = (parsed.text ?? '').replace(/^Reference: .*$/m, '');
    expect(scan(`${parsed.subject ?? ''}\n${text}`, { allowList: ['Lakeside Counseling'] })).toEqual([]);
    // From the practice's notices address, not a return path a bounce would report on again.
    expect(mail.from).not.toMatch(VERP);
  }

  it('sends the copy from its own VERP return path and tells the sender once, PHI-free, when the next hop refuses it for good', async () => {
    await setUp();
    const later = 'later-550@example.com';
    const copyId = await relayed(later);
    const notice = await until(() => sink.messages.find(to(CLINICIAN)));
    await expectNotice(notice, copyId, later);
    // The relayed message came from the clinician; its copy from the copy's own return path.
    const froms = seen.get(later)!;
    expect(froms[0]).toBe(CLINICIAN);
    expect(froms.slice(1)).toHaveLength(1);
    expect(froms[1]).toMatch(VERP);
    expect(deliveryOfReturnPath(delivery.services.masterKey, froms[1]!)).toBe(copyId);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(1);
    expect((await outboxRows()).map((r) => [r.kind, r.permanent_failure])).toEqual([
      ['gateway_mail', 1],
      ['relay_failure_notice', 0],
    ]);
  });

  it('tells the sender once when the copy is refused for now until its attempts are used up', async () => {
    await setUp();
    const later = 'later-451@example.com';
    const copyId = await relayed(later);
    const notice = await until(() => sink.messages.find(to(CLINICIAN)));
    await expectNotice(notice, copyId, later);
    const froms = seen.get(later)!;
    // The relayed message, then three attempts of the copy, each from its return path.
    expect(froms).toHaveLength(4);
    for (const f of froms.slice(1)) expect(f).toMatch(VERP);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(1);
  });

  it('tells the sender once when the recipient’s server bounces the copy after the next hop took it', async () => {
    await setUp();
    const later = 'later-ok@example.com';
    const copyId = await relayed(later);
    const copy = await until(() => sink.messages.find(to(later)));
    expect(copy.from).toMatch(VERP);
    await until(async () => ((await outboxRows())[0]?.done_at ? true : undefined));
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(0);
    // The recipient's server reports, from <>, to the copy's return path; twice (its own retry).
    for (let i = 0; i < 2; i++)
      await client(gw.port).sendMail({ envelope: { from: '', to: [copy.from] }, raw: dsn(copy.from, later) });
    const notice = await until(() => sink.messages.find(to(CLINICIAN)));
    await expectNotice(notice, copyId, later);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(1);
    const audit = await store.db
      .selectFrom('audit_events')
      .select(['outcome', 'target_id', 'details'])
      .where('action', '=', 'delivery.report')
      .execute();
    expect(audit.map((a) => [a.outcome, a.target_id])).toEqual([
      ['failure', copyId],
      ['failure', copyId],
    ]);
    expect(audit.map((a) => JSON.parse(a.details) as { applied: string }).map((d) => d.applied)).toEqual([
      'failed',
      'recorded',
    ]);
    for (const a of audit) expect(a.details).not.toContain(later);
  });

  it('never reports the failure of the failure notice itself', async () => {
    await setUp();
    const later = 'later-550@example.com';
    await relayed(later, UNREACHABLE);
    await until(async () =>
      (await outboxRows()).find((r) => r.kind === 'relay_failure_notice' && r.permanent_failure === 1),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect((await outboxRows()).map((r) => [r.kind, r.permanent_failure])).toEqual([
      ['gateway_mail', 1],
      ['relay_failure_notice', 1],
    ]);
    expect(sink.messages.filter(to(UNREACHABLE))).toHaveLength(0);
  });
});
