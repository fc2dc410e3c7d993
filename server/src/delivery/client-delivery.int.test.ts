import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scan } from '@attune/shared/phi';
import { SendMessageRequestSchema, type SendMessageRequestInput } from '@attune/shared/api';
import { generateKey } from '../crypto/index.ts';
import { recordOpen } from '../viewer/service.ts';
import { acceptReply, resolveLink } from './reply.ts';
import { sendSecureMessage, type SendResult } from './send.ts';
import { revokeMessage } from './status.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { createDeliveryFixture, type DeliveryFixture } from './testing.ts';
import { smtpTransport } from './transport.ts';

// `delivery: "client"`: the add-in's draft is the notice, so the server must not email one too.
// Real SQLite store, real SMTP server in-process, a real OpenPGP key for the PGP case.

const PHI_TEXT =
  'Hi Jordan Alvarez, following up on your major depressive disorder (F33.1). Continue sertraline 50 mg. MRN 448812.';
const LINK = /https:\/\/attune\.calm\.example\/m\/([A-Za-z0-9_-]{43})/;

async function send(
  f: DeliveryFixture,
  input: Partial<SendMessageRequestInput> & { to: string[] },
  key?: string,
): Promise<SendResult & { ok: true }> {
  const r = await sendSecureMessage(
    f.delivery.services,
    { practiceId: f.practiceId, clinicianId: f.clinicianId, idempotencyKey: key ?? null },
    SendMessageRequestSchema.parse({ subject: 'Follow-up for Jordan Alvarez', text: PHI_TEXT, ...input }),
  );
  if (!r.ok) throw new Error(`send failed: ${r.code}`);
  return r;
}

async function drain(f: DeliveryFixture): Promise<void> {
  for (let i = 0; i < 10; i++) if ((await f.delivery.worker.runOnce()) === 0) return;
}

describe('secure send delivered by the client (delivery: "client")', () => {
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
  });
  const fixture = async () => {
    f = await createDeliveryFixture('sqlite', {
      transport: smtpTransport({ url: sink.url(), requireTls: true, pool: false }),
    });
    return f;
  };

  it('emails nothing to a single link recipient and returns that recipient’s link and reply address in the notice', async () => {
    await fixture();
    const r = await send(f, { to: ['jordan@patient.example'], delivery: 'client' });
    expect(r.response.recipients).toEqual([
      { email: 'jordan@patient.example', method: 'link', status: 'sent', delivery: 'client' },
    ]);
    const token = LINK.exec(r.response.notice.html)?.[1];
    expect(token).toBeDefined();
    expect(r.response.notice.text).toContain(`https://attune.calm.example/m/${token}`);
    // The reply address holds its own token, never the link's: it travels in envelopes and headers.
    const replyToken = /reply\+([A-Za-z0-9_-]{43})@calm\.example/.exec(r.response.notice.text)?.[1];
    expect(replyToken).toBeDefined();
    expect(replyToken).not.toBe(token);
    expect(r.response.notice.html).toContain(`mailto:reply+${replyToken}@calm.example`);
    expect(r.response.notice.text).not.toContain(`reply+${token}`);
    expect(r.response.notice.html).not.toContain(`reply+${token}`);
    await drain(f);
    await new Promise((res) => setTimeout(res, 100));
    expect(sink.received).toHaveLength(0);
    // The delivery is recorded as sent, and the worker has nothing left for it.
    const pending = await f.store.db.selectFrom('outbox').select('id').where('done_at', 'is', null).execute();
    expect(pending).toHaveLength(0);
  });

  it('keeps the client’s notice PHI-free: only its own link and reply address are found', async () => {
    await fixture();
    const r = await send(f, { to: ['jordan@patient.example'], delivery: 'client' });
    for (const part of [r.response.notice.text, r.response.notice.html]) {
      expect(part).not.toMatch(/Jordan|Alvarez|sertraline|depress|F33|448812|Follow-up/i);
      const found = scan(part, { allowList: ['Calm Waters Counseling'] }).filter(
        (x) =>
          !(x.type === 'URL' && LINK.test(x.text)) &&
          !(x.type === 'EMAIL' && /^reply\+[\w-]{43}@calm\.example$/.test(x.text)),
      );
      expect(found).toEqual([]);
    }
  });

  it('tracks the open and captures an email reply for a client-delivered link', async () => {
    await fixture();
    const r = await send(f, { to: ['jordan@patient.example'], delivery: 'client' });
    const token = LINK.exec(r.response.notice.text)![1]!;
    const link = await resolveLink(f.delivery.services, token);
    expect(link.ok).toBe(true);
    if (!link.ok) return;
    await recordOpen(f.delivery.services, link, { ip: null, requestId: null });
    const opened = await f.store.db
      .selectFrom('deliveries')
      .select(['status', 'opened_at'])
      .executeTakeFirstOrThrow();
    expect(opened.status).toBe('opened');
    expect(opened.opened_at).not.toBeNull();
    // The reply address carries the same token: a plain-email reply to it is a tracked reply.
    const reply = await acceptReply(f.delivery.services, {
      token,
      text: 'Thanks, see you Tuesday.',
      source: 'email',
    });
    expect(reply.ok).toBe(true);
    const events = await f.store.db.selectFrom('engagement_events').select('type').orderBy('type').execute();
    expect(events.map((e) => e.type)).toEqual(['opened', 'replied', 'sent']);
  });

  it('answers a retry with the same Idempotency-Key with the same link', async () => {
    await fixture();
    const a = await send(f, { to: ['jordan@patient.example'], delivery: 'client' }, 'retry-1');
    const b = await send(f, { to: ['jordan@patient.example'], delivery: 'client' }, 'retry-1');
    expect(b.replayed).toBe(true);
    expect(b.response.id).toBe(a.response.id);
    expect(b.response.notice).toEqual(a.response.notice);
    expect(b.response.recipients).toEqual(a.response.recipients);
  });

  it('erases the sealed token of a client-delivered link when the message is revoked', async () => {
    await fixture();
    const r = await send(f, { to: ['jordan@patient.example'], delivery: 'client' }, 'revoke-1');
    const sealed = () =>
      f.store.db
        .selectFrom('outbox')
        .select('payload')
        .where('kind', '=', 'client_notice')
        .executeTakeFirstOrThrow();
    expect((await sealed()).payload).not.toBeNull();
    expect(
      await revokeMessage(
        f.delivery.services,
        { practiceId: f.practiceId, clinicianId: f.clinicianId },
        r.response.id,
      ),
    ).not.toBeNull();
    expect((await sealed()).payload).toBeNull();
    // A late retry no longer hands out the dead link.
    const again = await send(f, { to: ['jordan@patient.example'], delivery: 'client' }, 'revoke-1');
    expect(again.replayed).toBe(true);
    expect(again.response.notice.text).not.toContain('/m/');
    expect(again.response.recipients).toEqual([
      { email: 'jordan@patient.example', method: 'link', status: 'revoked', delivery: 'client' },
    ]);
  });

  it('delivers by server, with a link-free notice, when there are several recipients', async () => {
    await fixture();
    const r = await send(f, {
      to: ['jordan@patient.example'],
      cc: ['mom@family.example'],
      delivery: 'client',
    });
    expect(r.response.recipients.map((x) => x.delivery)).toEqual(['server', 'server']);
    expect(r.response.notice.text).not.toMatch(/\/m\/|reply\+/);
    await drain(f);
    const mails = await sink.waitFor(2);
    expect(mails.flatMap((m) => m.to).sort()).toEqual(['jordan@patient.example', 'mom@family.example']);
  });

  it('delivers by server when the send is scheduled', async () => {
    await fixture();
    const r = await send(f, {
      to: ['jordan@patient.example'],
      delivery: 'client',
      sendAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(r.response.recipients).toEqual([
      { email: 'jordan@patient.example', method: 'link', status: 'scheduled', delivery: 'server' },
    ]);
    expect(r.response.notice.text).not.toContain('/m/');
  });

  it('answers without the delivery field when the request did not ask, and stamps server notices X-Attune-Secured', async () => {
    await fixture();
    const r = await send(f, { to: ['jordan@patient.example'] });
    expect(r.response.recipients).toEqual([
      { email: 'jordan@patient.example', method: 'link', status: 'queued' },
    ]);
    await drain(f);
    const [mail] = await sink.waitFor(1);
    const parsed = await simpleParser(mail!.raw);
    expect(parsed.headers.get('x-attune-secured')).toBe(r.response.id);
  });

  it('sends an OpenPGP recipient its encrypted email (stamped) even when the client asked to deliver', async () => {
    {
      await fixture();
      const key = await generateKey({ name: 'Patient', email: 'pgp@patient.example' });
      await f.addPatient('pgp@patient.example', { publicKey: key.publicKey, fingerprint: key.fingerprint });
      const r = await send(f, { to: ['pgp@patient.example'], delivery: 'client' });
      expect(r.response.recipients).toEqual([
        { email: 'pgp@patient.example', method: 'pgp', status: 'queued', delivery: 'server' },
      ]);
      expect(r.response.notice.text).toContain('encrypted email');
      expect(r.response.notice.text).not.toContain('/m/');
      await drain(f);
      const [mail] = await sink.waitFor(1);
      const raw = mail!.raw.toString('utf8');
      expect(raw).toContain('multipart/encrypted');
      expect(raw).toMatch(new RegExp(`^X-Attune-Secured: ${r.response.id}\\r?$`, 'm'));
    }
  }, 60_000);
});
