import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Relay } from './relay.ts';
import { makeDocx, makePdf } from '../attachments/testing.ts';
import { createGateway, type Gateway } from './server.ts';
import { MARKER_HEADER, Marker, markRaw } from './marker.ts';
import {
  MemoryBackend,
  sinkRelay,
  client,
  rawMessage,
  selfSignedCert,
  startSink,
  testGatewayConfig,
  type Sink,
} from './testing.ts';
import type { GatewayConfig } from './config.ts';

// The listener's SMTP behaviour, end to end over real sockets: nodemailer -> gateway -> a downstream
// smtp-server. The backend here is in memory; the store-backed pipeline has its own suite.

let sink: Sink;
let relay: Relay;
let backend: MemoryBackend;
let gw: Gateway | null;
let port: number;

const TOKEN = 'tok_ABCdef0123456789abcdef0123456789';

async function start(over: Partial<GatewayConfig> = {}, env: Record<string, string> = {}): Promise<void> {
  gw = createGateway(testGatewayConfig(env, over), backend);
  port = (await gw.listen()).port;
}

function codeOf(err: unknown): number | undefined {
  return (err as { responseCode?: number }).responseCode;
}

beforeEach(async () => {
  sink = await startSink();
  relay = sinkRelay(sink);
  backend = new MemoryBackend(relay);
  backend.clinicians.set('dr.lee@clinic.test', 'c1');
  backend.tokens.set(TOKEN, {
    state: 'valid',
    messageId: 'm1',
    patientId: 'pt1',
    sentAt: Date.now() - 3_600_000,
  });
  gw = null;
});

afterEach(async () => {
  await gw?.close();
  await relay.close();
  await sink.close();
});

describe('outbound relay', () => {
  it('relays mail without PHI from an allowed source with the original bytes intact', async () => {
    await start();
    const raw = rawMessage({
      from: 'dr.lee@clinic.test',
      to: 'vendor@example.com',
      subject: 'Printer toner',
      text: 'Please send two cartridges.\nThanks',
    });
    const info = await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['vendor@example.com'] },
      raw,
    });
    expect(info.response).toMatch(/^250 /);
    expect(sink.messages).toHaveLength(1);
    const got = sink.messages[0]!;
    expect(got.to).toEqual(['vendor@example.com']);
    // Trace headers are prepended; everything the sender wrote follows byte for byte.
    expect(got.raw.subarray(got.raw.length - raw.length).equals(raw)).toBe(true);
    expect(got.raw.toString('latin1')).toMatch(
      /^Received: from \S+ \(\[127\.0\.0\.1\]\)\s+by gw\.test \(Attune gateway\)/,
    );
    expect(got.raw.toString('latin1')).toContain(`${MARKER_HEADER}: v1 `);
  });

  it('refuses to relay for a client outside the allowed sources with 550', async () => {
    await start({ allowedSources: ['10.0.0.0/8', '2001:db8::/32'] });
    const raw = rawMessage({
      from: 'spammer@bad.test',
      to: 'victim@example.com',
      subject: 'hi',
      text: 'hello',
    });
    const err = await client(port)
      .sendMail({ envelope: { from: 'spammer@bad.test', to: ['victim@example.com'] }, raw })
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(550);
    expect(String((err as Error).message)).toContain('Relaying denied');
    expect(sink.messages).toHaveLength(0);
  });

  describe('only mail of a practice is relayed', () => {
    // An allowed source is Google's or Exchange Online's shared outbound range: any tenant's mail
    // comes from it. Without the sender check, attacker@evil.test relayed through the gateway.
    let events: Array<Record<string, unknown>>;
    async function startLogged(over: Partial<GatewayConfig> = {}, env: Record<string, string> = {}) {
      events = [];
      gw = createGateway(testGatewayConfig(env, over), backend, (e) => events.push(e));
      port = (await gw.listen()).port;
    }
    const denied = () => events.filter((e) => e['event'] === 'gateway.relay_denied');

    it('refuses at RCPT with 550 a sender outside every practice domain, from an allowed source, and relays nothing', async () => {
      await startLogged();
      const raw = rawMessage({
        from: 'ceo@bigbank.com',
        to: 'victim@other.com',
        subject: 'Wire transfer',
        text: 'Please pay the attached invoice today.',
      });
      const err = await client(port)
        .sendMail({ envelope: { from: 'attacker@evil.test', to: ['victim@other.com'] }, raw })
        .catch((e: unknown) => e);
      expect(codeOf(err)).toBe(550);
      expect(String((err as Error).message)).toContain(
        '5.7.1 Relaying denied: sender not in a practice domain',
      );
      // Refused at RCPT: no DATA was sent, nothing reached the next hop.
      expect((err as { command?: string }).command).toMatch(/RCPT/i);
      expect(sink.messages).toHaveLength(0);
      // Logged with the domain and a count, never the address.
      expect(denied()).toEqual([
        { event: 'gateway.relay_denied', reason: 'sender_domain', senderDomain: 'evil.test', rcpts: 1 },
      ]);
      expect(JSON.stringify(events)).not.toContain('attacker');
      // A subdomain of a practice's domain is not the practice's unless registered itself.
      const sub = await client(port)
        .sendMail({ envelope: { from: 'news@mail.clinic.test', to: ['victim@other.com'] }, raw })
        .catch((e: unknown) => e);
      expect(codeOf(sub)).toBe(550);
      expect(sink.messages).toHaveLength(0);
    });

    it('relays for a practice sender whose header From is another address of the practice', async () => {
      await startLogged();
      const info = await client(port).sendMail({
        envelope: { from: 'dr.lee@clinic.test', to: ['vendor@example.com'] },
        raw: rawMessage({
          from: 'frontdesk@clinic.test',
          to: 'vendor@example.com',
          subject: 'Toner',
          text: 'Two.',
        }),
      });
      expect(info.response).toMatch(/^250 /);
      expect(sink.messages.map((m) => m.from)).toEqual(['dr.lee@clinic.test']);
      expect(denied()).toHaveLength(0);
    });

    it('relays for a practice added while the gateway runs, and stops for a domain it gave up', async () => {
      await startLogged();
      const send = (from: string) =>
        client(port)
          .sendMail({
            envelope: { from, to: ['vendor@example.com'] },
            raw: rawMessage({ from, to: 'vendor@example.com', subject: 'Toner', text: 'Two.' }),
          })
          .catch((e: unknown) => e as { responseCode?: number; response?: string });
      expect(codeOf(await send('dr.kim@hillside.test'))).toBe(550);
      // attune practice add, while the gateway runs: no restart. The gateway re-reads the domains
      // at once for a sender it does not know (at most every two seconds).
      backend.senderDomains.push('hillside.test');
      await new Promise((r) => setTimeout(r, 2_100));
      expect(((await send('dr.kim@hillside.test')) as { response: string }).response).toMatch(/^250 /);
      expect(sink.messages.map((m) => m.from)).toEqual(['dr.kim@hillside.test']);
      backend.senderDomains.splice(0, backend.senderDomains.length, 'clinic.test');
      await new Promise((r) => setTimeout(r, 2_100));
      // Still known until the periodic re-read; a miss of another domain re-reads them at once.
      expect(codeOf(await send('x@unknown.test'))).toBe(550);
      expect(codeOf(await send('dr.kim@hillside.test'))).toBe(550);
      expect(sink.messages).toHaveLength(1);
    });

    it('answers 451, not 550, to an unknown sender domain while the practices cannot be read', async () => {
      await startLogged();
      backend.failDomains = true;
      const err = await client(port)
        .sendMail({
          envelope: { from: 'dr.kim@hillside.test', to: ['vendor@example.com'] },
          raw: rawMessage({
            from: 'dr.kim@hillside.test',
            to: 'vendor@example.com',
            subject: 'T',
            text: 'T.',
          }),
        })
        .catch((e: unknown) => e);
      expect(codeOf(err)).toBe(451);
      expect(sink.messages).toHaveLength(0);
    });

    it('takes a patient’s reply from any sender while refusing that sender’s outbound mail', async () => {
      await startLogged();
      const addr = `reply+${TOKEN}@reply.clinic.test`;
      const reply = await client(port).sendMail({
        envelope: { from: 'jane.roe@example.com', to: [addr] },
        raw: rawMessage({ from: 'jane.roe@example.com', to: addr, subject: 'Re: message', text: 'Thanks.' }),
      });
      expect(reply.response).toMatch(/^250 /);
      expect(backend.replies).toHaveLength(1);
      const err = await client(port)
        .sendMail({
          envelope: { from: 'jane.roe@example.com', to: ['friend@example.org'] },
          raw: rawMessage({
            from: 'jane.roe@example.com',
            to: 'friend@example.org',
            subject: 'Hi',
            text: 'Hi.',
          }),
        })
        .catch((e: unknown) => e);
      expect(codeOf(err)).toBe(550);
      expect(sink.messages).toHaveLength(0);
    });

    it('relays a null-sender report to one recipient only when it is a practice’s own or Attune’s', async () => {
      const secret = 'marker-secret-for-the-test';
      await startLogged({}, { GATEWAY_MARKER_SECRET: secret });
      const bounce = (to: string[], from: string, marked = false) => {
        const messageId = `<${Math.random().toString(36).slice(2)}@x.test>`;
        const raw = rawMessage({
          from,
          to: to.join(', '),
          subject: 'Undelivered mail',
          text: 'A report.',
          messageId,
        });
        return client(port)
          .sendMail({
            envelope: { from: '', to },
            raw: marked ? markRaw(raw, messageId, new Marker(secret)) : raw,
          })
          .catch((e: unknown) => e as { responseCode?: number; response?: string; rejected?: string[] });
      };
      // A report of the practice's own server (its From in a practice domain): relayed.
      expect(
        ((await bounce(['sender@example.com'], 'MAILER-DAEMON@clinic.test')) as { response: string })
          .response,
      ).toMatch(/^250 /);
      expect(sink.messages).toHaveLength(1);
      // From anyone else: refused after DATA (the header From is known only then), nothing relayed.
      const forged = await bounce(['victim@other.com'], 'MAILER-DAEMON@evil.test');
      expect(codeOf(forged)).toBe(550);
      expect(String((forged as Error).message)).toContain('Relaying denied');
      // Attune's own mail coming round again (our marker, which a stranger cannot make): relayed.
      expect(
        ((await bounce(['patient@example.com'], 'notices@elsewhere.test', true)) as { response: string })
          .response,
      ).toMatch(/^250 /);
      // A report goes to one address: a second recipient is refused at RCPT.
      const many = (await bounce(['a@example.com', 'b@example.com'], 'MAILER-DAEMON@clinic.test')) as {
        rejected: string[];
        response: string;
      };
      expect(many.rejected).toEqual(['b@example.com']);
      expect(sink.messages.map((m) => m.to)).toEqual([
        ['sender@example.com'],
        ['patient@example.com'],
        ['a@example.com'],
      ]);
      expect(denied().map((e) => e['reason'])).toEqual(['null_sender_from', 'null_sender_recipients']);
      expect(denied()[0]).toMatchObject({ fromDomain: 'evil.test', rcpts: 1 });
    });
  });

  it('lets an authenticated connector relay from outside the allowed sources, only over TLS', async () => {
    const tls = selfSignedCert();
    await start({
      allowedSources: ['10.0.0.0/8'],
      tls,
      connectors: [{ user: 'exchange', password: 'a-long-connector-secret' }],
    });
    const raw = rawMessage({
      from: 'dr.lee@clinic.test',
      to: 'vendor@example.com',
      subject: 'Order',
      text: 'Two boxes of paper.',
    });
    const env = { from: 'dr.lee@clinic.test', to: ['vendor@example.com'] };
    const plain = await client(port, {
      ignoreTLS: true,
      auth: { user: 'exchange', pass: 'a-long-connector-secret' },
    })
      .sendMail({ envelope: env, raw })
      .catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(Error);
    const bad = await client(port, {
      requireTLS: true,
      auth: { user: 'exchange', pass: 'wrong-password-xxxxxxxx' },
    })
      .sendMail({ envelope: env, raw })
      .catch((e: unknown) => e);
    expect(codeOf(bad)).toBe(535);
    const ok = await client(port, {
      requireTLS: true,
      auth: { user: 'exchange', pass: 'a-long-connector-secret' },
    }).sendMail({ envelope: env, raw });
    expect(ok.response).toMatch(/^250 /);
    expect(sink.messages).toHaveLength(1);
    expect(sink.messages[0]!.raw.toString('latin1')).toMatch(/with ESMTPSA/);
    // The connector's password is the practice's own server's, no other tenant's: its senders are
    // not limited to the practices' domains (an alias domain the practice has not registered).
    const alias = await client(port, {
      requireTLS: true,
      auth: { user: 'exchange', pass: 'a-long-connector-secret' },
    }).sendMail({ envelope: { from: 'dr.lee@clinic-alias.test', to: ['vendor@example.com'] }, raw });
    expect(alias.response).toMatch(/^250 /);
    expect(sink.messages).toHaveLength(2);
  });

  it('hands PHI to secure delivery instead of relaying it', async () => {
    await start();
    const raw = rawMessage({
      from: 'Dr Lee <dr.lee@clinic.test>',
      to: 'jane.roe@example.com',
      subject: 'Your treatment plan',
      text: 'Hi Jane Roe, your sertraline dose for major depressive disorder goes up to 100 mg. Call me at 555-201-3344.',
    });
    const info = await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['jane.roe@example.com'] },
      raw,
    });
    expect(info.response).toMatch(/^250 .*secure delivery/);
    expect(sink.messages).toHaveLength(0);
    expect(backend.secured).toHaveLength(1);
    expect(backend.secured[0]!.request.to).toEqual(['jane.roe@example.com']);
    expect(backend.secured[0]!.request.text).toContain('sertraline');
  });

  it('refuses PHI from a practice address no clinician owns, rather than relaying it in clear', async () => {
    await start();
    const raw = rawMessage({
      from: 'office@clinic.test',
      to: 'jane.roe@example.com',
      subject: 'Dx',
      text: 'John Smith has bipolar disorder and takes lithium; his MRN is 00451234.',
    });
    const err = await client(port)
      .sendMail({ envelope: { from: 'office@clinic.test', to: ['jane.roe@example.com'] }, raw })
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(554);
    expect(sink.messages).toHaveLength(0);
    expect(backend.secured).toHaveLength(0);
  });

  it('relays a notice an add-in already secured, but scans one whose stamp is forged', async () => {
    await start();
    backend.securedIds.set('msg_real', ['jane.roe@example.com']);
    const notice = 'You have a secure message from your clinician. Open it here: https://attune.test/v/abc';
    const env = { from: 'dr.lee@clinic.test', to: ['jane.roe@example.com'] };
    await client(port).sendMail({
      envelope: env,
      raw: rawMessage({
        from: 'dr.lee@clinic.test',
        to: 'jane.roe@example.com',
        subject: 'Secure message',
        text: notice,
        extraHeaders: 'X-Attune-Secured: msg_real\r\n',
      }),
    });
    expect(sink.messages).toHaveLength(1);
    const forged = rawMessage({
      from: 'dr.lee@clinic.test',
      to: 'jane.roe@example.com',
      subject: 'Labs',
      text: 'Jane Roe, your lithium level was high; we will adjust the bipolar disorder plan.',
      extraHeaders: 'X-Attune-Secured: msg_forged\r\n',
    });
    await client(port).sendMail({ envelope: env, raw: forged });
    expect(sink.messages).toHaveLength(1);
    expect(backend.secured).toHaveLength(1);
  });

  it('answers 451 when the next hop is down, so the sender keeps the message and retries', async () => {
    await start();
    backend.failRelay = true;
    const raw = rawMessage({
      from: 'dr.lee@clinic.test',
      to: 'vendor@example.com',
      subject: 'Order',
      text: 'Paper please.',
    });
    const err = await client(port)
      .sendMail({ envelope: { from: 'dr.lee@clinic.test', to: ['vendor@example.com'] }, raw })
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(451);
  });

  it('answers 250 when the next hop took the message for some recipients and reports the others to the sender', async () => {
    await sink.close();
    await relay.close();
    sink = await startSink({
      refuse: (a) => (a.startsWith('nobody@') ? 550 : a.startsWith('later@') ? 451 : null),
    });
    relay = sinkRelay(sink);
    backend = new MemoryBackend(relay);
    backend.clinicians.set('dr.lee@clinic.test', 'c1');
    await start();
    const send = (to: string[], from = 'dr.lee@clinic.test') =>
      client(port)
        .sendMail({
          envelope: { from, to },
          raw: rawMessage({
            from: 'dr.lee@clinic.test',
            to: to.join(', '),
            subject: 'Order for Jane Roe',
            text: 'Paper.',
            messageId: '<order-1@clinic.test>',
          }),
        })
        .catch((e: unknown) => e as { responseCode?: number; response?: string });
    // Refused for good by the next hop for one recipient, taken for the other: the transaction is
    // ours (250), and the sender hears of the refused one in a delivery report queued before it.
    const some = (await send(['vendor@example.com', 'nobody@example.com'])) as { response: string };
    expect(some.response).toMatch(/^250 .*Relayed to 1 of 2 recipients/);
    expect(sink.messages.map((m) => m.to)).toEqual([['vendor@example.com']]);
    expect(backend.queued).toHaveLength(1);
    const dsn = backend.queued[0]!;
    expect(dsn.to).toBe('dr.lee@clinic.test');
    const text = dsn.raw.toString('utf8');
    expect(text).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@clinic\.test>\r$/m);
    expect(text).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status;/m);
    expect(text).toMatch(/^Final-Recipient: rfc822; nobody@example\.com\r$/m);
    expect(text).not.toMatch(/Final-Recipient: rfc822; vendor@/);
    expect(text).toMatch(/^Message-ID: <order-1@clinic\.test>\r$/m);
    // The original subject may carry PHI: not in the report.
    expect(text).not.toContain('Jane Roe');
    expect(text).not.toContain('Paper');

    // A bounce (null sender) is never bounced: it goes to one recipient (the gateway refuses a
    // second at RCPT), so the next hop cannot take it in part; no report.
    const bounce = (await send(['vendor@example.com', 'nobody@example.com'], '')) as {
      response: string;
      rejected: string[];
    };
    expect(bounce.response).toMatch(/^250 /);
    expect(bounce.rejected).toEqual(['nobody@example.com']);
    expect(backend.queued).toHaveLength(1);
    // Every recipient refused for good: still a 554, and no report (the sender's server bounces).
    expect(codeOf(await send(['nobody@example.com']))).toBe(554);
    expect(backend.queued).toHaveLength(1);
    // Every recipient refused for now: 451, so the sender tries again rather than bouncing it.
    expect(codeOf(await send(['later@example.com']))).toBe(451);
    expect(backend.queued).toHaveLength(1);
  });

  async function partialSink(over: Partial<GatewayConfig> = {}): Promise<void> {
    await sink.close();
    await relay.close();
    sink = await startSink({
      refuse: (a) => (a.startsWith('nobody@') ? 550 : a.startsWith('later') ? 451 : null),
    });
    relay = sinkRelay(sink);
    backend = new MemoryBackend(relay);
    backend.clinicians.set('dr.lee@clinic.test', 'c1');
    await start(over);
  }
  const order = (to: string[], messageId = '<order-2@clinic.test>') =>
    client(port)
      .sendMail({
        envelope: { from: 'dr.lee@clinic.test', to },
        raw: rawMessage({
          from: 'dr.lee@clinic.test',
          to: to.join(', '),
          subject: 'Order',
          text: 'Paper.',
          messageId,
        }),
      })
      .catch((e: unknown) => e as { responseCode?: number; response?: string });

  it('answers 250 when the next hop refused some recipients for good and some for now: a report for the first, a queued copy for each of the others', async () => {
    await partialSink();
    const to = ['vendor@example.com', 'nobody@example.com', 'later@example.com', 'later2@example.com'];
    const info = (await order(to)) as { response: string };
    // Once anyone has it, it is ours: no 451 that would have the sender's server send it again to
    // the recipient who has it.
    expect(info.response).toMatch(
      /^250 .*Relayed to 1 of 4 recipients; 2 refused for now will be retried; 1 refused/,
    );
    expect(sink.messages.map((m) => m.to)).toEqual([['vendor@example.com']]);
    const [dsn, ...copies] = backend.queued;
    expect(dsn!.to).toBe('dr.lee@clinic.test');
    expect(dsn!.messageId).toMatch(/^<dsn-[0-9a-f]{32}@clinic\.test>$/);
    const report = dsn!.raw.toString('utf8');
    expect(report).toMatch(/^Final-Recipient: rfc822; nobody@example\.com\r$/m);
    expect(report).not.toMatch(/Final-Recipient: rfc822; later/);
    expect(report).toMatch(/2 other recipients could not take it yet: delivery to them is being retried/);
    // Each recipient refused for now gets exactly what the next hop took for the others.
    expect(copies.map((c) => c.to)).toEqual(['later@example.com', 'later2@example.com']);
    for (const c of copies) expect(c.raw.equals(sink.messages[0]!.raw)).toBe(true);
    expect(new Set(backend.queued.map((q) => q.messageId)).size).toBe(3);
  });

  it('answers 250 when the next hop refused some recipients only for now and took the rest, and queues their copies', async () => {
    // A bounce says nothing of a practice: the copy is queued under GATEWAY_PRACTICE_ID.
    await partialSink({ practiceId: 'p1' });
    const info = (await order(['vendor@example.com', 'later@example.com'])) as { response: string };
    expect(info.response).toMatch(/^250 .*Relayed to 1 of 2 recipients; 1 refused for now will be retried$/);
    expect(backend.queued.map((q) => q.to)).toEqual(['later@example.com']);
    expect(backend.queued[0]!.raw.equals(sink.messages[0]!.raw)).toBe(true);
    // A bounce (null sender) goes to one recipient: refused for now by the next hop, it is answered
    // 451 (its sender keeps it and retries), and nothing is queued for it.
    const bounce = await client(port)
      .sendMail({
        envelope: { from: '', to: ['later3@example.com'] },
        raw: rawMessage({ from: 'MAILER-DAEMON@clinic.test', to: 'x', subject: 'Report', text: 'A report.' }),
      })
      .catch((e: unknown) => e);
    expect(codeOf(bounce)).toBe(451);
    expect(backend.queued.map((q) => q.to)).toEqual(['later@example.com']);
  });

  it('queues the same report and copies under the same ids when the sender retries the transaction', async () => {
    await partialSink();
    const to = ['vendor@example.com', 'nobody@example.com', 'later@example.com'];
    await order(to);
    const first = backend.queued.map((q) => q.messageId);
    expect(first).toHaveLength(2);
    // Our 250 lost on the way: the sender's server sends the same transaction again.
    const again = (await order(to)) as { response: string };
    expect(again.response).toMatch(/^250 /);
    expect(backend.queued.map((q) => q.messageId)).toEqual(first);
    // The same Message-ID to other recipients (a split transaction) is another transaction.
    await order(['vendor@example.com', 'nobody@example.com', 'later2@example.com']);
    expect(backend.queued).toHaveLength(4);
  });

  it('keeps a 451 for a partial refusal when the outbox cannot take the copies, and a 554 when all refusals are final', async () => {
    await partialSink();
    backend.failQueue = true;
    expect(codeOf(await order(['vendor@example.com', 'later@example.com']))).toBe(451);
    expect(codeOf(await order(['vendor@example.com', 'nobody@example.com'], '<order-3@clinic.test>'))).toBe(
      554,
    );
  });

  it('queues for a recipient refused for now the secured notice as the others got it', async () => {
    await partialSink();
    backend.securedIds.set('msg_real', ['jane.roe@example.com', 'later@example.com']);
    const info = await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['jane.roe@example.com', 'later@example.com'] },
      raw: rawMessage({
        from: 'dr.lee@clinic.test',
        to: 'jane.roe@example.com, later@example.com',
        subject: 'Secure message',
        text: 'You have a secure message from your clinician. Open it here: https://attune.test/v/abc',
        extraHeaders: 'X-Attune-Secured: msg_real\r\n',
      }),
    });
    expect(info.response).toMatch(/^250 .*1 refused for now will be retried/);
    expect(backend.secured).toHaveLength(0);
    expect(backend.queued).toHaveLength(1);
    expect(backend.queued[0]!.raw.equals(sink.messages[0]!.raw)).toBe(true);
    expect(backend.queued[0]!.raw.toString('utf8')).toMatch(/^X-Attune-Gateway: v1 /m);
  });

  it('answers 451 when the next hop refuses our sender (a relay not set up for us), so nothing bounces', async () => {
    await sink.close();
    await relay.close();
    sink = await startSink({ refuseSender: 550 });
    relay = sinkRelay(sink);
    backend = new MemoryBackend(relay);
    await start();
    const err = await client(port)
      .sendMail({
        envelope: { from: 'office@clinic.test', to: ['vendor@example.com'] },
        raw: rawMessage({
          from: 'office@clinic.test',
          to: 'vendor@example.com',
          subject: 'Order',
          text: 'Paper.',
        }),
      })
      .catch((e: unknown) => e);
    // A 5xx there says the relay's configuration is wrong for every message alike: the sender keeps
    // the message and retries while the operator fixes it, instead of every clinician getting bounces.
    expect(codeOf(err)).toBe(451);
    expect(sink.messages).toHaveLength(0);
  });

  it('answers 552 to a message over the size limit', async () => {
    await start({ maxMessageBytes: 4096 });
    const raw = rawMessage({
      from: 'dr.lee@clinic.test',
      to: 'vendor@example.com',
      subject: 'Big',
      text: 'x'.repeat(10_000),
    });
    const err = await client(port)
      .sendMail({ envelope: { from: 'dr.lee@clinic.test', to: ['vendor@example.com'] }, raw })
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(552);
    expect(sink.messages).toHaveLength(0);
  });
});

describe('loops', () => {
  it('relays its own output coming back once without rescanning, and stops it the second time', async () => {
    await start({ markerSecret: 'test-marker-secret' });
    const env = { from: 'dr.lee@clinic.test', to: ['vendor@example.com'] };
    await client(port).sendMail({
      envelope: env,
      raw: rawMessage({
        from: 'dr.lee@clinic.test',
        to: 'vendor@example.com',
        subject: 'Hi',
        text: 'Meeting at noon.',
        messageId: '<loop1@clinic.test>',
      }),
    });
    const once = sink.messages[0]!.raw;
    await client(port).sendMail({ envelope: env, raw: once });
    expect(sink.messages).toHaveLength(2);
    const twice = sink.messages[1]!.raw;
    const err = await client(port)
      .sendMail({ envelope: env, raw: twice })
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(554);
    expect(String((err as Error).message)).toContain('loop');
  });

  it('rejects a message that has passed too many hops', async () => {
    await start();
    const hops = Array.from(
      { length: 30 },
      (_, i) => `Received: from h${i}.test by h${i + 1}.test; Sun, 22 Nov 2026 07:00:00 +0000\r\n`,
    ).join('');
    const raw = Buffer.concat([
      Buffer.from(hops),
      rawMessage({ from: 'dr.lee@clinic.test', to: 'v@example.com', subject: 'x', text: 'y' }),
    ]);
    const err = await client(port)
      .sendMail({ envelope: { from: 'dr.lee@clinic.test', to: ['v@example.com'] }, raw })
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(554);
  });
});

describe('replies', () => {
  it('accepts a plain-email reply to a valid reply address from anywhere, with its latency', async () => {
    await start({ allowedSources: ['10.0.0.0/8'] });
    const raw = rawMessage({
      from: 'jane.roe@example.com',
      to: `reply+${TOKEN}@reply.clinic.test`,
      subject: 'Re: Secure message',
      text: 'Thanks, see you Tuesday.\n\nOn Mon, Nov 16, 2026 Dr Lee wrote:\n> You have a secure message',
    });
    const info = await client(port).sendMail({
      envelope: { from: 'jane.roe@example.com', to: [`reply+${TOKEN}@reply.clinic.test`] },
      raw,
    });
    expect(info.response).toMatch(/^250 /);
    expect(backend.replies).toHaveLength(1);
    expect(backend.replies[0]!.text).toBe('Thanks, see you Tuesday.');
    expect(backend.replies[0]!.crisis).toBeNull();
    expect(sink.messages).toHaveLength(0);
  });

  it('takes replies at a practice reply domain added while it runs, re-reading the domains only when a reply address needs it', async () => {
    await start({ allowedSources: ['10.0.0.0/8'] });
    const reply = (addr: string) =>
      client(port)
        .sendMail({
          envelope: { from: 'jane.roe@example.com', to: [addr] },
          raw: rawMessage({
            from: 'jane.roe@example.com',
            to: addr,
            subject: 'Re: Secure message',
            text: 'Thanks.',
          }),
        })
        .catch((e: unknown) => e as { responseCode?: number });
    // Replies at a domain it knows: no lookup.
    expect(await reply(`reply+${TOKEN}@reply.clinic.test`)).toMatchObject({
      response: expect.stringMatching(/^250 /),
    });
    expect(backend.replyDomainReads).toBe(0);
    backend.practiceReplyDomains.push('replies.lakeside.test');
    expect(await reply(`reply+${TOKEN}@replies.lakeside.test`)).toMatchObject({
      response: expect.stringMatching(/^250 /),
    });
    expect(backend.replies).toHaveLength(2);
    expect(backend.replyDomainReads).toBe(1);
    // Another unknown domain right after: refused without another lookup (bounded, not per message).
    expect(codeOf(await reply(`reply+${TOKEN}@elsewhere.test`))).toBe(550);
    expect(backend.replyDomainReads).toBe(1);
    expect(sink.messages).toHaveLength(0);
  });

  it('flags crisis language in a reply with its grade and sentence', async () => {
    await start({ allowedSources: ['10.0.0.0/8'] });
    const raw = rawMessage({
      from: 'jane.roe@example.com',
      to: `reply+${TOKEN}@reply.clinic.test`,
      subject: 'Re: check-in',
      text: 'Work has been hard. I want to kill myself most nights. Please call.',
    });
    await client(port).sendMail({
      envelope: { from: 'jane.roe@example.com', to: [`reply+${TOKEN}@reply.clinic.test`] },
      raw,
    });
    expect(backend.replies[0]!.crisis?.grade).toBe('first_person');
    expect(backend.replies[0]!.crisis?.sentence).toContain('kill myself');
  });

  it('answers 550 to unknown and expired reply tokens and to other addresses in the reply domain', async () => {
    await start({ allowedSources: ['10.0.0.0/8'] });
    backend.tokens.set('tok_expired0123456789abcdef', {
      state: 'expired',
      messageId: 'm2',
      patientId: 'pt1',
      sentAt: 0,
    });
    const send = (to: string) =>
      client(port)
        .sendMail({
          envelope: { from: 'jane.roe@example.com', to: [to] },
          raw: rawMessage({ from: 'jane.roe@example.com', to, subject: 'Re', text: 'ok' }),
        })
        .catch((e: unknown) => e);
    expect(codeOf(await send('reply+tok_unknown0123456789abcdef@reply.clinic.test'))).toBe(550);
    expect(codeOf(await send('reply+tok_expired0123456789abcdef@reply.clinic.test'))).toBe(550);
    expect(codeOf(await send('postmaster@reply.clinic.test'))).toBe(550);
    expect(backend.replies).toHaveLength(0);
  });

  it('drops auto-replies and bounces without counting them as patient replies', async () => {
    await start({ allowedSources: ['10.0.0.0/8'] });
    const raw = rawMessage({
      from: 'jane.roe@example.com',
      to: `reply+${TOKEN}@reply.clinic.test`,
      subject: 'Out of office',
      text: 'I am away.',
      extraHeaders: 'Auto-Submitted: auto-replied\r\n',
    });
    const info = await client(port).sendMail({
      envelope: { from: 'jane.roe@example.com', to: [`reply+${TOKEN}@reply.clinic.test`] },
      raw,
    });
    expect(info.response).toMatch(/^250 /);
    expect(backend.replies).toHaveLength(0);
  });

  it('rate-limits inbound mail per client address with a temporary 451', async () => {
    await start({ allowedSources: ['10.0.0.0/8'], inboundRatePerMinute: 2 });
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 3; i++) {
      const raw = rawMessage({
        from: 'jane.roe@example.com',
        to: `reply+${TOKEN}@reply.clinic.test`,
        subject: 'Re',
        text: `note ${i}`,
      });
      const r = await client(port)
        .sendMail({
          envelope: { from: 'jane.roe@example.com', to: [`reply+${TOKEN}@reply.clinic.test`] },
          raw,
        })
        .then(
          () => 250,
          (e: unknown) => codeOf(e),
        );
      codes.push(r);
    }
    expect(codes).toEqual([250, 250, 451]);
  });
});

describe('TLS', () => {
  it('refuses MAIL FROM before STARTTLS when TLS is required, and accepts after it', async () => {
    await start({ tls: selfSignedCert(), requireTls: true });
    const raw = rawMessage({
      from: 'dr.lee@clinic.test',
      to: 'vendor@example.com',
      subject: 'Order',
      text: 'Paper please.',
    });
    const env = { from: 'dr.lee@clinic.test', to: ['vendor@example.com'] };
    const err = await client(port, { ignoreTLS: true })
      .sendMail({ envelope: env, raw })
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(530);
    const ok = await client(port, { requireTLS: true }).sendMail({ envelope: env, raw });
    expect(ok.response).toMatch(/^250 /);
    expect(sink.messages[0]!.raw.toString('latin1')).toMatch(/with ESMTPS /);
  });
});

describe('robustness', () => {
  function talk(lines: Array<string | Buffer>): Promise<string> {
    return new Promise((resolve) => {
      const s: Socket = connect(port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => (out += d.toString('latin1')));
      s.on('error', () => resolve(out));
      s.on('close', () => resolve(out));
      // Wait for the banner (early talkers are refused), then pace the lines like a slow client.
      s.once('data', () => {
        void (async () => {
          for (const l of lines) {
            if (s.destroyed) break;
            s.write(l);
            await new Promise((r) => setTimeout(r, 30));
          }
          setTimeout(() => s.end(), 300);
        })();
      });
    });
  }

  it('rejects a message with no header block as malformed (550) and keeps serving', async () => {
    await start();
    const out = await talk([
      'EHLO x\r\n',
      'MAIL FROM:<dr.lee@clinic.test>\r\n',
      'RCPT TO:<v@example.com>\r\n',
      'DATA\r\n',
      '\x00\x01\xff garbage line without header\r\n\r\nmore\r\n.\r\n',
      'QUIT\r\n',
    ]);
    expect(out).toMatch(/550 5\.6\.0/);
    const raw = rawMessage({
      from: 'dr.lee@clinic.test',
      to: 'v@example.com',
      subject: 'still up',
      text: 'ok',
    });
    const info = await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['v@example.com'] },
      raw,
    });
    expect(info.response).toMatch(/^250 /);
  });

  it('survives random bytes, broken MIME and clients that hang up mid-message', async () => {
    await start();
    const rnd = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));
    const broken = [
      'Content-Type: multipart/mixed; boundary="b"\r\nSubject: x\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@notbase64@@@\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom:\r\n',
      'Subject: =?utf-8?B?####?=\r\nContent-Type: text/html; charset=x-unknown-charset\r\n\r\n<html><body><div><div><div>',
      'Content-Type: multipart/alternative\r\n\r\nno boundary at all',
    ];
    const sessions: Array<Promise<string>> = [];
    for (let i = 0; i < 20; i++) sessions.push(talk(['EHLO x\r\n', rnd(200 + i * 50), '\r\nQUIT\r\n']));
    for (const b of broken) {
      sessions.push(
        talk([
          'EHLO x\r\n',
          'MAIL FROM:<dr.lee@clinic.test>\r\n',
          'RCPT TO:<v@example.com>\r\n',
          'DATA\r\n',
          b,
          '\r\n.\r\n',
          'QUIT\r\n',
        ]),
      );
    }
    sessions.push(
      talk([
        'EHLO x\r\n',
        'MAIL FROM:<dr.lee@clinic.test>\r\n',
        'RCPT TO:<v@example.com>\r\n',
        'DATA\r\n',
        'Subject: cut\r\n\r\nhalf a mess',
      ]),
    );
    const outs = await Promise.all(sessions);
    for (const o of outs.slice(20, 23)) expect(o).toMatch(/\r\n(250|550|554) /);
    const raw = rawMessage({ from: 'dr.lee@clinic.test', to: 'v@example.com', subject: 'alive', text: 'ok' });
    const info = await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['v@example.com'] },
      raw,
    });
    expect(info.response).toMatch(/^250 /);
  });

  it('refuses connections over the per-address limit with 421', async () => {
    await start({ maxConnectionsPerIp: 2 });
    const open = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<Socket>((r) => {
            const s = connect(port, '127.0.0.1', () => r(s));
          }),
      ),
    );
    const third = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => (out += d.toString('latin1')));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    expect(third).toMatch(/^421 /);
    for (const s of open) s.destroy();
  });
});

describe('what gets scanned', () => {
  const multipart = (plain: string, html: string): Buffer =>
    Buffer.from(
      'From: dr.lee@clinic.test\r\nTo: jane.roe@example.com\r\nSubject: Update\r\nMessage-ID: <mp1@clinic.test>\r\nMIME-Version: 1.0\r\n' +
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n' +
        `--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${plain}\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n--b--\r\n`,
    );

  it('scans a plain part that says more than its HTML twin', async () => {
    await start();
    const raw = multipart(
      'Jane Roe, your lithium level for bipolar disorder came back high.',
      '<p>See you soon.</p>',
    );
    await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['jane.roe@example.com'] },
      raw,
    });
    expect(sink.messages).toHaveLength(0);
    expect(backend.secured).toHaveLength(1);
  });

  it('scans text attachments and attachment names', async () => {
    await start();
    const raw = Buffer.from(
      'From: dr.lee@clinic.test\r\nTo: jane.roe@example.com\r\nSubject: Forms\r\nMessage-ID: <att1@clinic.test>\r\nMIME-Version: 1.0\r\n' +
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe forms are attached.\r\n' +
        '--b\r\nContent-Type: text/csv; name="list.csv"\r\nContent-Disposition: attachment; filename="list.csv"\r\n\r\n' +
        'name,diagnosis\r\nJohn Smith,major depressive disorder\r\n--b--\r\n',
    );
    await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['jane.roe@example.com'] },
      raw,
    });
    expect(sink.messages).toHaveLength(0);
    expect(backend.secured).toHaveLength(1);
    expect(backend.secured[0]!.request.attachments.map((a) => a.filename)).toEqual(['list.csv']);
  });
});

describe('attachments the detector cannot read', () => {
  const withPdf = (to: string): Buffer =>
    Buffer.from(
      `From: dr.lee@clinic.test\r\nTo: ${to}\r\nSubject: The form\r\nMessage-ID: <pdf-${to}@clinic.test>\r\nMIME-Version: 1.0\r\n` +
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHere is the form.\r\n' +
        '--b\r\nContent-Type: application/pdf; name="form.pdf"\r\nContent-Disposition: attachment; filename="form.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
        `${Buffer.from('%PDF-1.4 opaque').toString('base64')}\r\n--b--\r\n`,
    );

  it('secures an unreadable attachment sent to a known patient, and relays it to anyone else', async () => {
    await start();
    backend.patients.add('jane.roe@example.com');
    await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['jane.roe@example.com'] },
      raw: withPdf('jane.roe@example.com'),
    });
    expect(backend.secured).toHaveLength(1);
    expect(sink.messages).toHaveLength(0);
    await client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: ['vendor@example.com'] },
      raw: withPdf('vendor@example.com'),
    });
    expect(sink.messages).toHaveLength(1);
  });
});

describe('PDF and Office attachments: their contents are scanned', () => {
  const withFile = (to: string, name: string, type: string, bytes: Buffer, id: string): Buffer =>
    Buffer.from(
      `From: dr.lee@clinic.test\r\nTo: ${to}\r\nSubject: Paperwork\r\nMessage-ID: <${id}@clinic.test>\r\nMIME-Version: 1.0\r\n` +
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n' +
        `--b\r\nContent-Type: ${type}; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
        `${bytes.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`,
    );
  const send = (to: string, name: string, type: string, bytes: Buffer, id: string) =>
    client(port).sendMail({
      envelope: { from: 'dr.lee@clinic.test', to: [to] },
      raw: withFile(to, name, type, bytes, id),
    });
  const note = [
    'Progress note',
    'Client: John Smith, DOB 02/11/1979',
    'Assessment: major depressive disorder, recurrent, moderate.',
  ];

  it('secures a PDF whose text holds PHI, sent to an external address that is no patient', async () => {
    await start();
    await send('billing@vendor.example', 'document.pdf', 'application/pdf', makePdf([note]), 'pdf-phi');
    expect(sink.messages).toHaveLength(0);
    expect(backend.secured).toHaveLength(1);
    expect(backend.secured[0]!.request.attachments.map((a) => a.filename)).toEqual(['document.pdf']);
  });

  it('secures a DOCX whose body holds PHI, labelled application/octet-stream', async () => {
    await start();
    await send(
      'billing@vendor.example',
      'notes.docx',
      'application/octet-stream',
      makeDocx(note),
      'docx-phi',
    );
    expect(sink.messages).toHaveLength(0);
    expect(backend.secured).toHaveLength(1);
  });

  it('relays a PDF without PHI as it is', async () => {
    await start();
    const flyer = makePdf([['Spring wellness workshop', 'Saturday at the community center. All welcome.']]);
    await send('billing@vendor.example', 'flyer.pdf', 'application/pdf', flyer, 'pdf-clean');
    expect(backend.secured).toHaveLength(0);
    expect(sink.messages).toHaveLength(1);
  });

  it('treats a password-protected PDF as unreadable: secured to a known patient, relayed to anyone else', async () => {
    await start();
    backend.patients.add('jane.roe@example.com');
    const locked = makePdf([note], { encrypted: true });
    await send('jane.roe@example.com', 'locked.pdf', 'application/pdf', locked, 'enc-1');
    expect(backend.secured).toHaveLength(1);
    await send('billing@vendor.example', 'locked.pdf', 'application/pdf', locked, 'enc-2');
    expect(sink.messages).toHaveLength(1);
  });
});
