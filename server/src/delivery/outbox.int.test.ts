import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scan } from '@attune/shared/phi';
import { SendMessageRequestSchema, type SendMessageRequestInput } from '@attune/shared/api';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { ddb } from './db.ts';
import { createDeliveryFixture, type DeliveryFixture } from './testing.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { smtpTransport } from './transport.ts';
import { openSecret, sealSecret } from '../crypto/index.ts';
import { outboxSealContext, sendSecureMessage, type LinkPayload, type SendResult } from './send.ts';
import { messageStatus, revokeMessage } from './status.ts';
import { OutboxWorker, SimulatedCrash } from './outbox.ts';
import { hashToken } from './tokens.ts';
import { FORGED_MESSAGE, forgeBodyCt } from '../testing/tamper.ts';

// The durable outbox against a real SMTP server (smtp-server in-process), on SQLite and, with
// TEST_DATABASE_URL, on PostgreSQL.

const PHI_TEXT =
  'Hi Jordan Alvarez, following up on your major depressive disorder (F33.1). Continue sertraline 50 mg. DOB 04/12/1986, MRN 448812.';

function request(input: Partial<SendMessageRequestInput> & { to: string[] }) {
  return SendMessageRequestSchema.parse({
    subject: 'Follow-up for Jordan Alvarez',
    text: PHI_TEXT,
    ...input,
  });
}

async function send(
  f: DeliveryFixture,
  input: Partial<SendMessageRequestInput> & { to: string[] },
  key?: string,
): Promise<SendResult & { ok: true }> {
  const r = await sendSecureMessage(
    f.delivery.services,
    { practiceId: f.practiceId, clinicianId: f.clinicianId, idempotencyKey: key ?? null },
    request(input),
  );
  if (!r.ok) throw new Error(`send failed: ${r.code}`);
  return r;
}

async function drain(worker: OutboxWorker, rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const n = await worker.runOnce();
    if (n === 0) {
      await new Promise((r) => setTimeout(r, 30));
      if ((await worker.runOnce()) === 0) return;
    }
  }
}

describe.each(dialectsUnderTest())('outbox delivery on %s', (dialect) => {
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

  async function fixture(worker: ConstructorParameters<typeof OutboxWorker>[1] = {}) {
    f = await createDeliveryFixture(dialect, {
      transport: smtpTransport({ url: sink.url(), requireTls: true, pool: false }),
      worker,
    });
    return f;
  }

  it('sends a PHI-free secure-link notice over STARTTLS and keeps only the token hash', async () => {
    await fixture();
    const r = await send(f, { to: ['jordan@patient.example'] });
    expect(r.response.recipients).toEqual([
      { email: 'jordan@patient.example', method: 'link', status: 'queued' },
    ]);
    await drain(f.delivery.worker);
    const [mail] = await sink.waitFor(1);
    expect(mail!.secure).toBe(true);
    expect(mail!.to).toEqual(['jordan@patient.example']);
    const parsed = await simpleParser(mail!.raw);
    expect(parsed.subject).toBe('You have a secure message from Calm Waters Counseling');
    const text = parsed.text ?? '';
    const url = /https:\/\/attune\.calm\.example\/m\/([A-Za-z0-9_-]{43})/.exec(text);
    expect(url).not.toBeNull();
    const token = url![1]!;
    // Nothing of the content: none of what the detector finds in the original appears in the notice,
    // and the notice itself holds nothing the detector calls PHI besides the link and the practice's
    // own name (on the practice's allow-list, as the policy's allowList would have it).
    const original = scan(`Follow-up for Jordan Alvarez\n${PHI_TEXT}`);
    expect(original.length).toBeGreaterThan(3);
    const wholeMail = mail!.raw.toString('utf8');
    for (const finding of original) expect(wholeMail).not.toContain(finding.text);
    const findings = [parsed.subject ?? '', text]
      .flatMap((part) => scan(part, { allowList: ['Calm Waters Counseling'] }))
      .filter((x) => x.type !== 'URL');
    expect(findings.map((x) => `${x.type}:${x.text}`)).toEqual([]);
    for (const word of ['Jordan', 'Alvarez', 'depress', 'sertraline', 'F33', '448812', 'Follow-up'])
      expect(wholeMail).not.toContain(word);
    // The reply address carries its own token, not the link's (which opens the message).
    const replyToken = /^reply\+([A-Za-z0-9_-]{43})@calm\.example$/.exec(parsed.replyTo?.text ?? '')?.[1];
    expect(replyToken).toBeDefined();
    expect(replyToken).not.toBe(token);
    expect(wholeMail).not.toContain(`reply+${token}`);
    // Only the hashes of the tokens are stored; the sealed copy in the outbox is erased after sending.
    const link = await f.store.db.selectFrom('viewer_links').selectAll().executeTakeFirstOrThrow();
    expect(link.token_sha256).toBe(hashToken(token));
    expect(link.reply_token_sha256).toBe(hashToken(replyToken!));
    const ob = await f.store.db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow();
    expect(ob.payload).toBeNull();
    expect(ob.done_at).not.toBeNull();
    const status = await messageStatus(f.delivery.services, f.practiceId, r.response.id);
    expect(status?.recipients[0]).toMatchObject({ status: 'sent', attempts: 1, lastError: null });
    // The message content at rest is ciphertext, not the text.
    const m = await f.store.db.selectFrom('messages').select('body_ct').executeTakeFirstOrThrow();
    expect(Buffer.from(m.body_ct).toString('latin1')).not.toContain('sertraline');
  });

  it('gives a notice queued before reply tokens existed a reply token of its own when it goes out', async () => {
    await fixture();
    sink.refuseNext(1, 451);
    await send(f, { to: ['jordan@patient.example'] });
    // The row as an older version queued it: the sealed payload holds only the link token, and the
    // link has no reply token.
    const svc = f.delivery.services;
    const row = await f.store.db.selectFrom('outbox').select(['id', 'payload']).executeTakeFirstOrThrow();
    const opened = openSecret(svc.masterKey, row.payload!.toString('utf8'), outboxSealContext(row.id));
    if (!opened.ok) throw new Error(opened.reason);
    const { token } = JSON.parse(opened.plaintext.toString('utf8')) as LinkPayload;
    const old = Buffer.from(sealSecret(svc.masterKey, JSON.stringify({ token }), outboxSealContext(row.id)));
    await f.store.db.updateTable('outbox').set({ payload: old }).where('id', '=', row.id).execute();
    await f.store.db.updateTable('viewer_links').set({ reply_token_sha256: null }).execute();

    // The first attempt is deferred (451), the second delivers: both use the same reply token.
    await drain(f.delivery.worker);
    const [mail] = await sink.waitFor(1);
    const parsed = await simpleParser(mail!.raw);
    const replyToken = /^reply\+([A-Za-z0-9_-]{43})@calm\.example$/.exec(parsed.replyTo?.text ?? '')?.[1];
    expect(replyToken).toBeDefined();
    expect(replyToken).not.toBe(token);
    expect(mail!.raw.toString('utf8')).toContain(`/m/${token}`);
    const link = await f.store.db.selectFrom('viewer_links').selectAll().executeTakeFirstOrThrow();
    expect(link.reply_token_sha256).toBe(hashToken(replyToken!));
    const attempts = await ddb(f.store.db).selectFrom('delivery_attempts').select('outcome').execute();
    expect(attempts.length).toBe(2);
  });

  it('retries after a 4xx and delivers exactly once, recording each attempt', async () => {
    await fixture();
    sink.refuseNext(2, 451);
    const r = await send(f, { to: ['a@patient.example'] });
    await drain(f.delivery.worker);
    await sink.waitFor(1);
    await new Promise((res) => setTimeout(res, 100));
    expect(sink.received).toHaveLength(1);
    const attempts = await ddb(f.store.db)
      .selectFrom('delivery_attempts')
      .select(['attempt', 'outcome', 'detail'])
      .orderBy('attempt')
      .execute();
    expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'retry', 'sent']);
    expect(attempts[0]!.detail).toContain('451');
    const status = await messageStatus(f.delivery.services, f.practiceId, r.response.id);
    expect(status?.recipients[0]).toMatchObject({ status: 'sent', attempts: 3 });
  });

  it('marks a 5xx refusal as a permanent failure with the reason visible in the status', async () => {
    await fixture();
    sink.refuseNext(1, 554);
    const r = await send(f, { to: ['b@patient.example'] });
    await drain(f.delivery.worker);
    expect(sink.received).toHaveLength(0);
    const status = await messageStatus(f.delivery.services, f.practiceId, r.response.id);
    expect(status?.recipients[0]?.status).toBe('failed');
    expect(status?.recipients[0]?.lastError).toMatch(/554/);
    expect(status?.recipients[0]?.lastError).not.toContain('b@patient.example');
  });

  it('gives up after the bounded number of attempts when the relay keeps deferring', async () => {
    await fixture({ maxAttempts: 3 });
    sink.refuseNext(100, 421);
    const r = await send(f, { to: ['c@patient.example'] });
    await drain(f.delivery.worker);
    const status = await messageStatus(f.delivery.services, f.practiceId, r.response.id);
    expect(status?.recipients[0]).toMatchObject({ status: 'failed', attempts: 3 });
    expect(status?.recipients[0]?.lastError).toMatch(/^attempts_exhausted \(last: relay_deferred\) SMTP 421/);
  });

  it('after a crash between SMTP accept and marking, sends at most one duplicate with the same Message-ID', async () => {
    let crashes = 1;
    await fixture({
      leaseMs: 100,
      afterSend: () => {
        if (crashes-- > 0) throw new SimulatedCrash();
      },
    });
    await send(f, { to: ['d@patient.example'] });
    await f.delivery.worker.runOnce(); // sends, then "crashes" before marking
    expect(sink.received).toHaveLength(1);
    await new Promise((res) => setTimeout(res, 150)); // the lease runs out
    await drain(f.delivery.worker);
    expect(sink.received).toHaveLength(2);
    const ids = await Promise.all(sink.received.map(async (m) => (await simpleParser(m.raw)).messageId));
    expect(ids[0]).toBe(ids[1]);
    await drain(f.delivery.worker);
    expect(sink.received).toHaveLength(2);
  });

  it('holds a scheduled send until its time', async () => {
    await fixture();
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const r = await send(f, { to: ['e@patient.example'], sendAt: at });
    expect(r.response.recipients[0]?.status).toBe('scheduled');
    expect(r.response.sendAt).toBe(at);
    await drain(f.delivery.worker);
    expect(sink.received).toHaveLength(0);
    f.clock.offsetMs = 3_600_000 + 1000;
    await drain(f.delivery.worker);
    expect(sink.received).toHaveLength(1);
  });

  it('does not send a message revoked before its time, and reports it revoked', async () => {
    await fixture();
    const r = await send(f, {
      to: ['g@patient.example'],
      sendAt: new Date(Date.now() + 60_000).toISOString(),
    });
    const revoked = await revokeMessage(
      f.delivery.services,
      { practiceId: f.practiceId, clinicianId: f.clinicianId },
      r.response.id,
    );
    expect(revoked?.recipients[0]?.status).toBe('revoked');
    f.clock.offsetMs = 120_000;
    await drain(f.delivery.worker);
    expect(sink.received).toHaveLength(0);
  });

  it('answers 404-like null for another practice’s message id', async () => {
    await fixture();
    const r = await send(f, { to: ['h@patient.example'] });
    const other = await f.addPractice('Other', 'other.example');
    expect(await messageStatus(f.delivery.services, other.practiceId, r.response.id)).toBeNull();
    expect(
      await revokeMessage(
        f.delivery.services,
        { practiceId: other.practiceId, clinicianId: other.clinicianId },
        r.response.id,
      ),
    ).toBeNull();
  });

  it('returns the first send for a repeated idempotency key instead of sending twice', async () => {
    await fixture();
    const a = await send(f, { to: ['i@patient.example'] }, 'key-1');
    const b = await send(f, { to: ['i@patient.example'] }, 'key-1');
    expect(b.replayed).toBe(true);
    expect(b.response.id).toBe(a.response.id);
    await drain(f.delivery.worker);
    expect(sink.received).toHaveLength(1);
  });

  it('lets concurrent workers share the queue without sending anything twice', async () => {
    await fixture();
    const emails = Array.from({ length: 12 }, (_, i) => `p${i}@patient.example`);
    for (const e of emails) await send(f, { to: [e] });
    const workers = [0, 1, 2].map(
      (i) => new OutboxWorker(f.delivery.services, { workerId: `w${i}`, batchSize: 3 }),
    );
    await Promise.all(workers.map((w) => drain(w)));
    await sink.waitFor(12);
    expect(sink.received.map((m) => m.to[0]).sort()).toEqual([...emails].sort());
  });
});

describe('SMTP transport', () => {
  it('refuses to send when STARTTLS is required and the relay does not offer it', async () => {
    const sink = await startSmtpSink({ starttls: false });
    try {
      const t = smtpTransport({ url: sink.url(), requireTls: true, pool: false });
      const r = await t.send(
        {
          raw: Buffer.from('Subject: x\r\n\r\nx\r\n'),
          from: 'a@calm.example',
          to: ['b@x.example'],
          messageId: '<x@y>',
        },
        'notice',
      );
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.permanent).toBe(false);
      expect(sink.received).toHaveLength(0);
      await t.close();
    } finally {
      await sink.close();
    }
  });

  it('authenticates with the credentials from SMTP_URL over STARTTLS', async () => {
    const sink = await startSmtpSink({ auth: { user: 'relay-user', pass: 'p@ss word' } });
    try {
      const t = smtpTransport({
        url: sink.url({ user: 'relay-user', pass: 'p@ss word' }),
        requireTls: true,
        pool: false,
      });
      const r = await t.send(
        {
          raw: Buffer.from('Subject: x\r\n\r\nx\r\n'),
          from: 'a@calm.example',
          to: ['b@x.example'],
          messageId: '<x@y>',
        },
        'notice',
      );
      expect(r.ok).toBe(true);
      expect(sink.received[0]).toMatchObject({ secure: true, user: 'relay-user' });
      const bad = smtpTransport({
        url: sink.url({ user: 'relay-user', pass: 'wrong' }),
        requireTls: true,
        pool: false,
      });
      expect(
        (
          await bad.send(
            { raw: Buffer.from('x'), from: 'a@calm.example', to: ['b@x.example'], messageId: '<x@y>' },
            'n',
          )
        ).ok,
      ).toBe(false);
      await t.close();
      await bad.close();
    } finally {
      await sink.close();
    }
  });
});

describe('PGP/MIME delivery', () => {
  it('sends RFC 3156 multipart/encrypted that real gpg decrypts, with a valid practice signature', async () => {
    const sink = await startSmtpSink();
    const gpg = await GpgHome.create();
    const f = await createDeliveryFixture('sqlite', {
      transport: smtpTransport({ url: sink.url(), requireTls: true, pool: false }),
    });
    try {
      const patientKey = await gpg.generateKey('pgp@patient.example');
      await f.addPatient('pgp@patient.example', {
        publicKey: patientKey.publicKey,
        fingerprint: patientKey.fingerprint,
      });
      const keys = await f.store.db.selectFrom('practice_keys').selectAll().execute();
      expect(keys).toHaveLength(0); // generated on first use below
      const r = await send(f, {
        to: ['pgp@patient.example'],
        html: '<p>See <b>attached</b> worksheet.</p>',
        attachments: [
          {
            filename: 'worksheet.txt',
            contentType: 'text/plain',
            contentBase64: Buffer.from('Thought record').toString('base64'),
          },
        ],
      });
      expect(r.response.recipients[0]?.method).toBe('pgp');
      await drain(f.delivery.worker);
      const [mail] = await sink.waitFor(1);
      const raw = mail!.raw.toString('utf8');
      expect(raw).toMatch(/Content-Type: multipart\/encrypted; protocol="application\/pgp-encrypted";/);
      expect(raw).toContain('Content-Type: application/pgp-encrypted');
      expect(raw).toContain('Version: 1');
      expect(raw).not.toContain('sertraline');
      expect(raw).not.toContain('Jordan');
      const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(raw)![0];
      const signing = await f.store.db
        .selectFrom('practice_keys')
        .selectAll()
        .where('purpose', '=', 'signing')
        .executeTakeFirstOrThrow();
      await gpg.importKey(signing.public_key);
      const out = await gpg.decrypt(armored);
      expect(out.code).toBe(0);
      expect(out.status.some((l) => l.startsWith(`[GNUPG:] VALIDSIG ${signing.fingerprint}`))).toBe(true);
      const inner = await simpleParser(out.stdout);
      expect(inner.subject).toBe('Follow-up for Jordan Alvarez');
      expect(inner.text).toContain('sertraline');
      expect(inner.html).toContain('<b>attached</b>');
      expect(inner.attachments.map((a) => a.filename)).toEqual(['worksheet.txt']);
      expect(inner.attachments[0]!.content.toString()).toBe('Thought record');
    } finally {
      await f.cleanup();
      await gpg.dispose();
      await sink.close();
    }
  }, 60_000);
});

describe.each(dialectsUnderTest())(
  'PGP/MIME delivery of content replaced in the database, on %s',
  (dialect) => {
    it('does not send forged content signed by the practice: the delivery fails with a reason the sender sees, and an untouched message still goes', async () => {
      const sink = await startSmtpSink();
      const gpg = await GpgHome.create();
      const f = await createDeliveryFixture(dialect, {
        transport: smtpTransport({ url: sink.url(), requireTls: true, pool: false }),
      });
      try {
        const patientKey = await gpg.generateKey('pgp@patient.example');
        await f.addPatient('pgp@patient.example', {
          publicKey: patientKey.publicKey,
          fingerprint: patientKey.fingerprint,
        });
        const tampered = await send(f, { to: ['pgp@patient.example'] });
        const untouched = await send(f, {
          to: ['pgp@patient.example'],
          text: 'Untouched: see you Thursday.',
        });
        expect(tampered.response.recipients[0]?.method).toBe('pgp');
        // Before the worker builds it: someone with write access to the database (not the master key)
        // replaces the content with their own, encrypted to the archive key's public half.
        const forged = await forgeBodyCt(f.store.db, f.practiceId, FORGED_MESSAGE);
        await f.store.db
          .updateTable('messages')
          .set({ body_ct: forged })
          .where('id', '=', tampered.response.id)
          .execute();
        await drain(f.delivery.worker);
        const [mail] = await sink.waitFor(1);
        await new Promise((r) => setTimeout(r, 200));
        expect(sink.received).toHaveLength(1);
        const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(
          mail!.raw.toString('utf8'),
        )![0];
        const signing = await f.store.db
          .selectFrom('practice_keys')
          .select('public_key')
          .where('purpose', '=', 'signing')
          .executeTakeFirstOrThrow();
        await gpg.importKey(signing.public_key);
        const out = await gpg.decrypt(armored);
        expect(out.code).toBe(0);
        expect(out.stdout.toString()).toContain('Untouched: see you Thursday.');
        expect(out.stdout.toString()).not.toContain('FORGED');
        const failed = await messageStatus(f.delivery.services, f.practiceId, tampered.response.id);
        expect(failed?.recipients[0]).toMatchObject({
          status: 'failed',
          lastError: 'content_unreadable',
        });
        const sent = await messageStatus(f.delivery.services, f.practiceId, untouched.response.id);
        expect(sent?.recipients[0]).toMatchObject({ status: 'sent', lastError: null });
      } finally {
        await f.cleanup();
        await gpg.dispose();
        await sink.close();
      }
    }, 60_000);
  },
);
