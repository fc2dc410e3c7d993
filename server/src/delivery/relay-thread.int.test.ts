import { afterEach, describe, expect, it } from 'vitest';
import { threadedRelayTransport } from './relay-thread.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import type { MailTransport } from './transport.ts';

// The outbox's relay on a worker thread (relay-thread.ts) against a real SMTP server: the bytes and
// envelopes arrive unchanged, many messages in flight at once each get their own outcome, refusals
// keep their meaning (5xx permanent, 4xx temporary), an unreachable relay is a retryable failure,
// and close() ends the thread.

const sinks: SmtpSink[] = [];
const transports: MailTransport[] = [];

afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  for (const s of sinks.splice(0)) await s.close();
});

async function setup(): Promise<{ sink: SmtpSink; t: MailTransport }> {
  const sink = await startSmtpSink();
  sinks.push(sink);
  const t = threadedRelayTransport(
    { url: sink.url(), requireTls: true, maxConnections: 3, timeoutMs: 5_000 },
    'test relay',
  );
  transports.push(t);
  return { sink, t };
}

const mail = (i: number) => ({
  from: 'notices@calm.example',
  to: [`patient${i}@example.com`],
  messageId: `<m${i}@calm.example>`,
  raw: Buffer.from(
    `From: notices@calm.example\r\nTo: patient${i}@example.com\r\nSubject: Notice ${i}\r\n\r\n.line with a dot\r\nbody ${i}\r\n`,
  ),
});

describe('threadedRelayTransport', () => {
  it('delivers every message, sent concurrently, with its own envelope and bytes, over STARTTLS', async () => {
    const { sink, t } = await setup();
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => t.send(mail(i), 'notice')));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const got = await sink.waitFor(12);
    for (let i = 0; i < 12; i++) {
      const m = got.find((r) => r.to[0] === `patient${i}@example.com`);
      expect(m?.from).toBe('notices@calm.example');
      expect(m?.secure).toBe(true);
      expect(m?.raw.toString()).toBe(mail(i).raw.toString());
    }
  });

  it('keeps the meaning of refusals: 5xx permanent, 4xx temporary', async () => {
    const { sink, t } = await setup();
    sink.refuseNext(1, 550);
    const permanent = await t.send(mail(1), 'notice');
    expect(permanent).toMatchObject({ ok: false, permanent: true });
    sink.refuseNext(1, 451);
    const temporary = await t.send(mail(2), 'notice');
    expect(temporary).toMatchObject({ ok: false, permanent: false });
    expect(await t.send(mail(3), 'notice')).toMatchObject({ ok: true });
  });

  it('reports an unreachable relay as retryable, and refuses to send once closed', async () => {
    const sink = await startSmtpSink();
    const url = sink.url();
    await sink.close();
    const t = threadedRelayTransport({ url, requireTls: false, timeoutMs: 2_000 }, 'test relay');
    const down = await t.send(mail(1), 'notice');
    expect(down).toMatchObject({ ok: false, permanent: false });
    await t.close();
    expect(await t.send(mail(2), 'notice')).toMatchObject({ ok: false, permanent: false });
  });
});
