import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageRequestSchema } from '@attune/shared/api';
import { dialectsUnderTest } from '../store/testing.ts';
import { messageStatus } from './status.ts';
import { sendSecureMessage } from './send.ts';
import { smtpRelayTransport } from './smtp-relay.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { createDeliveryFixture, type DeliveryFixture } from './testing.ts';
import type { MailTransport } from './transport.ts';

// A relay that refuses our session (wrong or rotated SMTP password, AUTH not configured, relaying
// denied for our sender) is a fault of the relay's configuration, met alike by every message: the
// queue must wait for the operator, not fail each message on its first attempt. Only a 5xx to this
// message's recipient or content fails the message.

const CREDS = { user: 'attune', pass: 'right-password' };

function mail(to = 'pat@patient.example') {
  return {
    from: 'notices@calm.example',
    to: [to],
    messageId: '<1@calm.example>',
    raw: Buffer.from('Subject: notice\r\n\r\nYou have a secure message.\r\n'),
  };
}

describe('relay refusals', () => {
  let sink: SmtpSink;
  let rcptServer: SMTPServer;
  let rcptPort: number;
  beforeAll(async () => {
    sink = await startSmtpSink({ auth: CREDS });
    // Refuses one recipient at RCPT TO, takes the rest.
    rcptServer = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo(address, _session, cb) {
        if (address.address === 'gone@patient.example')
          cb(Object.assign(new Error('5.1.1 No such user'), { responseCode: 550 }));
        else cb();
      },
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => cb());
      },
    });
    await new Promise<void>((r) => rcptServer.listen(0, '127.0.0.1', () => r()));
    rcptPort = (rcptServer as unknown as { server: { address(): AddressInfo } }).server.address().port;
  });
  afterAll(async () => {
    await sink.close();
    await new Promise<void>((r) => rcptServer.close(() => r()));
  });

  it('retries a refused AUTH (535) and keeps its reply code in the error', async () => {
    const t = smtpRelayTransport({
      url: sink.url({ user: CREDS.user, pass: 'old-password' }),
      requireTls: true,
    });
    try {
      const r = await t.send(mail(), 'notice');
      expect(r).toMatchObject({ ok: false, permanent: false, relayFault: true });
      expect(!r.ok && r.error).toMatch(/535/);
      expect(!r.ok && r.error).not.toMatch(/Connection closed/);
    } finally {
      await t.close();
    }
  });

  it('retries 530 authentication required at MAIL FROM, while 5xx to RCPT TO and DATA fail the message', async () => {
    const noCreds = smtpRelayTransport({ url: sink.url(), requireTls: true });
    const open = smtpRelayTransport({ url: `smtp://127.0.0.1:${rcptPort}`, requireTls: false });
    const good = smtpRelayTransport({ url: sink.url(CREDS), requireTls: true });
    try {
      const r = await noCreds.send(mail(), 'notice');
      expect(r).toMatchObject({ ok: false, permanent: false, relayFault: true });
      expect(!r.ok && r.error).toMatch(/530/);
      expect(!r.ok && r.error).not.toContain('pat@patient.example');

      const rcpt = await open.send(mail('gone@patient.example'), 'notice');
      expect(rcpt).toMatchObject({ ok: false, permanent: true });
      expect(rcpt).not.toHaveProperty('relayFault');
      expect(!rcpt.ok && rcpt.error).toMatch(/550/);

      sink.refuseNext(1, 554);
      const data = await good.send(mail(), 'notice');
      expect(data).toMatchObject({ ok: false, permanent: true });
      expect(!data.ok && data.error).toMatch(/554/);
    } finally {
      sink.refuseNext(0, 451);
      await Promise.all([noCreds.close(), open.close(), good.close()]);
    }
  });
});

describe.each(dialectsUnderTest())('outbox with a misconfigured relay on %s', (dialect) => {
  let sink: SmtpSink;
  let f: DeliveryFixture | undefined;
  beforeAll(async () => {
    sink = await startSmtpSink({ auth: CREDS });
  });
  afterAll(async () => {
    await sink.close();
  });
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
  });

  it('keeps every message queued while the relay refuses our password, and delivers them once it is fixed', async () => {
    // SMTP_URL with a rotated password; the operator then fixes it (here: the transport behind).
    let inner = smtpRelayTransport({
      url: sink.url({ user: CREDS.user, pass: 'old-password' }),
      requireTls: true,
    });
    const transport: MailTransport = {
      kind: 'smtp',
      description: 'relay',
      send: (m, label) => inner.send(m, label),
      close: () => inner.close(),
    };
    f = await createDeliveryFixture(dialect, { transport });
    const ctx = { practiceId: f.practiceId, clinicianId: f.clinicianId };
    const ids: string[] = [];
    for (const to of ['a@patient.example', 'b@patient.example', 'c@patient.example']) {
      const r = await sendSecureMessage(
        f.delivery.services,
        ctx,
        SendMessageRequestSchema.parse({
          to: [to],
          subject: 'Follow-up',
          text: 'Continue sertraline 50 mg.',
        }),
      );
      if (!r.ok) throw new Error(r.code);
      ids.push(r.response.id);
    }
    const worker = f.delivery.worker;
    expect(await worker.runOnce()).toBe(3);
    for (const id of ids) {
      const st = await messageStatus(f.delivery.services, f.practiceId, id);
      expect(st?.recipients[0]).toMatchObject({ status: 'queued', attempts: 1 });
      expect(st?.recipients[0]?.lastError).toMatch(/535/);
    }
    const rows = await f.store.db.selectFrom('outbox').select(['permanent_failure', 'done_at']).execute();
    expect(rows).toEqual(rows.map(() => ({ permanent_failure: 0, done_at: null })));

    await inner.close();
    inner = smtpRelayTransport({ url: sink.url(CREDS), requireTls: true });
    f.clock.offsetMs += 3_600_000; // past any backoff
    expect(await worker.runOnce()).toBe(3);
    for (const id of ids) {
      const st = await messageStatus(f.delivery.services, f.practiceId, id);
      expect(st?.recipients[0]).toMatchObject({ status: 'sent', attempts: 2, lastError: null });
    }
    expect(sink.received.map((m) => m.to[0]).sort()).toEqual([
      'a@patient.example',
      'b@patient.example',
      'c@patient.example',
    ]);
  });
});
