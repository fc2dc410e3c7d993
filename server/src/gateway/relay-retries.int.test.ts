import { createHash } from 'node:crypto';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '@attune/shared/phi';
import { testConfig } from '../config.ts';
import { generateMasterKey, parseMasterKey } from '../crypto/index.ts';
import { createDelivery, ensurePracticeKeys, type Delivery } from '../delivery/index.ts';
import { relayedReference } from '../delivery/gateway-mail.ts';
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
// and never about the notice itself; several copies of one message failing in a burst make one
// notice that counts them. The real gateway, store and outbox, on SQLite and PostgreSQL.

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

  /** How long a failure notice waits for more failures of its message (the server's default: 60 s). */
  const NOTICE_DELAY_MS = 1_000;

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
      worker: {
        pollMs: 50,
        backoffBaseMs: 50,
        backoffMaxMs: 100,
        maxAttempts: 3,
        failureNoticeDelayMs: NOTICE_DELAY_MS,
      },
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

  /**
   * Relays a plain message from `from` to vendor@ and each of `later`; the next hop refuses `later`
   * for now. The reference of the relayed message its copies carry (and its notice quotes).
   */
  async function relayed(
    later: string | string[],
    from = CLINICIAN,
    messageId = `<${newId()}@clinic.test>`,
  ): Promise<string> {
    const laters = typeof later === 'string' ? [later] : later;
    const before = new Set((await copies()).map((c) => c.id));
    const info = await client(gw.port).sendMail({
      envelope: { from, to: ['vendor@example.com', ...laters] },
      raw: rawMessage({
        from,
        to: ['vendor@example.com', ...laters].join(', '),
        subject: SUBJECT,
        text: TEXT,
        messageId,
      }),
    });
    expect(info.response).toMatch(new RegExp(`^250 .*${laters.length} refused for now will be retried`));
    const mine = (await copies()).filter((c) => !before.has(c.id));
    expect(mine).toHaveLength(laters.length);
    // Each copy names the relayed message (the same for all) and the sender to tell, nothing else.
    expect(new Set(mine.map((c) => c.payload_ref)).size).toBe(1);
    const m = /^([0-9a-f]{32}) (.+)$/.exec(mine[0]!.payload_ref ?? '');
    expect(m?.[2]).toBe(from);
    return m![1]!;
  }

  /** The retry copies (gateway_mail rows), oldest first. */
  const copies = () =>
    store.db
      .selectFrom('outbox')
      .select(['id', 'payload_ref', 'permanent_failure', 'done_at'])
      .where('kind', '=', 'gateway_mail')
      .orderBy('created_at')
      .orderBy('id')
      .execute();

  const outboxRows = () =>
    store.db
      .selectFrom('outbox')
      .select(['id', 'kind', 'permanent_failure', 'done_at'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();

  /** The failure notice is PHI-free: nothing of the message, not the recipient, nothing the detector finds. */
  async function expectNotice(
    mail: SinkMessage,
    reference: string,
    recipients: string | string[],
    failed = 'one',
  ): Promise<void> {
    const parsed = await simpleParser(mail.raw);
    expect(parsed.subject).toBe('A message could not be delivered (Lakeside Counseling)');
    expect(parsed.text).toContain(`Reference: ${reference}`);
    expect(parsed.text).toContain(`failed for ${failed} of them after retries`);
    const whole = mail.raw.toString('utf8');
    for (const word of [recipients, 'vendor@', 'Jane', 'Roe', 'toner', 'Order'].flat())
      expect(whole).not.toContain(word);
    const text = (parsed.text ?? '').replace(/^Reference: .*$/m, '');
    expect(scan(`${parsed.subject ?? ''}\n${text}`, { allowList: ['Lakeside Counseling'] })).toEqual([]);
    // From the practice's notices address, not a return path a bounce would report on again.
    expect(mail.from).not.toMatch(VERP);
  }

  it('sends the copy from its own VERP return path and tells the sender once, PHI-free, when the next hop refuses it for good', async () => {
    await setUp();
    const later = 'later-550@example.com';
    const reference = await relayed(later);
    const notice = await until(() => sink.messages.find(to(CLINICIAN)));
    await expectNotice(notice, reference, later);
    // The relayed message came from the clinician; its copy from the copy's own return path.
    const froms = seen.get(later)!;
    expect(froms[0]).toBe(CLINICIAN);
    expect(froms.slice(1)).toHaveLength(1);
    expect(froms[1]).toMatch(VERP);
    const [copy] = await copies();
    expect(deliveryOfReturnPath(delivery.services.masterKey, froms[1]!)).toEqual({
      deliveryId: copy!.id,
      generation: 0,
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(1);
    expect((await outboxRows()).map((r) => [r.kind, r.permanent_failure])).toEqual([
      ['gateway_mail', 1],
      ['relay_failure_notice', 0],
    ]);
  });

  it('quotes a reference keyed under the master key, not a plain hash of the addresses and Message-ID', async () => {
    await setUp();
    const later = 'later-ok@example.com';
    const messageId = `<${newId()}@clinic.test>`;
    const reference = await relayed(later, CLINICIAN, messageId);
    // The transaction as the gateway names it (outbound.ts retryKey): sender, recipients, Message-ID.
    const h = createHash('sha256');
    for (const p of [CLINICIAN, ...['vendor@example.com', later].sort(), messageId]) h.update(p).update('\n');
    const transaction = h.digest('hex').slice(0, 32);
    const plain = createHash('sha256').update(`${transaction}\nrelayed\n`).digest('hex').slice(0, 32);
    // Anyone holding the candidate addresses could compute `plain`; not so the reference.
    expect(reference).not.toBe(plain);
    expect(reference).toBe(relayedReference(delivery.services.masterKey, transaction));
    const other = parseMasterKey(generateMasterKey());
    if (!other.ok) throw new Error('master key');
    expect(reference).not.toBe(relayedReference(other.masterKey, transaction));
  });

  it('tells the sender once when the copy is refused for now until its attempts are used up', async () => {
    await setUp();
    const later = 'later-451@example.com';
    const reference = await relayed(later);
    const notice = await until(() => sink.messages.find(to(CLINICIAN)));
    await expectNotice(notice, reference, later);
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
    const reference = await relayed(later);
    const copy = await until(() => sink.messages.find(to(later)));
    expect(copy.from).toMatch(VERP);
    await until(async () => ((await outboxRows())[0]?.done_at ? true : undefined));
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(0);
    // The recipient's server reports, from <>, to the copy's return path; twice (its own retry).
    for (let i = 0; i < 2; i++)
      await client(gw.port).sendMail({ envelope: { from: '', to: [copy.from] }, raw: dsn(copy.from, later) });
    const notice = await until(() => sink.messages.find(to(CLINICIAN)));
    await expectNotice(notice, reference, later);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(1);
    const [row] = await copies();
    const audit = await store.db
      .selectFrom('audit_events')
      .select(['outcome', 'target_id', 'details'])
      .where('action', '=', 'delivery.report')
      .execute();
    expect(audit.map((a) => [a.outcome, a.target_id])).toEqual([
      ['failure', row!.id],
      ['failure', row!.id],
    ]);
    expect(audit.map((a) => JSON.parse(a.details) as { applied: string }).map((d) => d.applied)).toEqual([
      'failed',
      'recorded',
    ]);
    for (const a of audit) expect(a.details).not.toContain(later);
  });

  it('tells the sender once per message when several of its copies fail in a burst, with how many', async () => {
    await setUp();
    // Two copies refused for good at their first retry, one refused for now until its attempts are
    // used up (a few backoffs later), one taken: three failures of one message, one notice.
    const failing = ['later-550@example.com', 'later-550@example.net', 'later-451@example.com'];
    const reference = await relayed([...failing, 'later-ok@example.com']);
    const notice = await until(() => sink.messages.find(to(CLINICIAN)));
    await expectNotice(notice, reference, failing, '3');
    expect((await simpleParser(notice.raw)).text).toContain('It will not be tried again for them.');
    await new Promise((r) => setTimeout(r, NOTICE_DELAY_MS + 500));
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(1);
    expect((await copies()).map((c) => c.permanent_failure).sort()).toEqual([0, 1, 1, 1]);
    expect(
      (await outboxRows()).filter((r) => r.kind === 'relay_failure_notice').map((r) => r.permanent_failure),
    ).toEqual([0]);

    // Another message of the same sender is another notice, with its own reference and count.
    const other = await relayed('later-550@example.org');
    expect(other).not.toBe(reference);
    const next = await until(() => sink.messages.filter(to(CLINICIAN))[1]);
    await expectNotice(next, other, 'later-550@example.org');
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
