import { Agent, request } from 'node:http';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageStatusResponseSchema, SendMessageResponseSchema } from '@attune/shared/api';
import { scan } from '@attune/shared/phi';
import { GpgHome } from '../../crypto/gpg-cli.ts';
import { startServerFixture, type ServerFixture } from '../../delivery/server-fixture.ts';
import { ensurePractice, putPolicy } from '../../store/index.ts';
import { DEFAULT_POLICY } from '@attune/shared/policy';

// POST /v1/messages and its status/revoke routes through HTTP against the real server (startServer),
// with an in-process SMTP relay (STARTTLS) and the real gpg binary.

const BODY =
  'Hi Jordan Alvarez, as discussed: your PHQ-9 suggests moderate depression (F32.1). Start sertraline 50 mg daily. Call 555-201-7788 with questions.';

let f: ServerFixture;
let gpg: GpgHome;

beforeAll(async () => {
  f = await startServerFixture({ env: { MAX_MESSAGE_BYTES: String(2 * 1024 * 1024) } });
  gpg = await GpgHome.create();
});
afterAll(async () => {
  await f?.close();
  await gpg?.dispose();
});

async function waitForStatus(
  id: string,
  want: (s: ReturnType<typeof MessageStatusResponseSchema.parse>) => boolean,
  ms = 10_000,
) {
  const until = Date.now() + ms;
  for (;;) {
    const r = await f.api('GET', `/v1/messages/${id}`);
    const s = MessageStatusResponseSchema.parse(await r.json());
    if (want(s)) return s;
    if (Date.now() > until) throw new Error(`status never matched: ${JSON.stringify(s.recipients)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('POST /v1/messages', () => {
  it('accepts a secure-link send with 202, and the relay receives a notice without PHI', async () => {
    const before = f.smtp.received.length;
    const r = await f.api('POST', '/v1/messages', {
      to: ['jordan@patient.example'],
      subject: 'Jordan Alvarez: PHQ-9 results',
      text: BODY,
      topics: ['Medication'],
    });
    expect(r.status).toBe(202);
    const body = SendMessageResponseSchema.parse(await r.json());
    expect(body.decision).toBe('encrypt');
    expect(body.recipients).toEqual([{ email: 'jordan@patient.example', method: 'link', status: 'queued' }]);
    expect(body.notice.text).toContain('Calm Waters Counseling');
    for (const finding of scan(BODY)) expect(body.notice.text).not.toContain(finding.text);
    const mails = await f.smtp.waitFor(before + 1);
    const mail = mails[before]!;
    const parsed = await simpleParser(mail.raw);
    expect(parsed.subject).toBe('You have a secure message from Calm Waters Counseling');
    const raw = mail.raw.toString('utf8');
    const original = scan(`Jordan Alvarez: PHQ-9 results\n${BODY}`);
    expect(original.length).toBeGreaterThan(3);
    for (const finding of original) expect(raw).not.toContain(finding.text);
    expect(raw).toMatch(new RegExp(`${f.url.replace(/[.:/]/g, '\\$&')}/m/[A-Za-z0-9_-]{43}`));
    const status = await waitForStatus(body.id, (s) => s.recipients[0]?.status === 'sent');
    expect(status.recipients[0]).toMatchObject({ method: 'link', attempts: 1, lastError: null });
    // The engagement trail: a `sent` event with the topics, for the patient created on first send.
    const events = await f.server.store.db
      .selectFrom('engagement_events')
      .selectAll()
      .where('message_id', '=', body.id)
      .execute();
    expect(events.map((e) => [e.type, e.topics])).toEqual([['sent', '["medication"]']]);
  });

  it("counts the practice's own domains as internal: PHI to a colleague is allowed, and a colleague never becomes a patient", async () => {
    const policy = (await (await f.api('GET', '/v1/policy')).json()) as { internalDomains: string[] };
    expect(policy.internalDomains).toContain('calm.example');
    // Sent securely anyway (the clinician chose to): the colleague gets a link, and is no patient.
    const r = await f.api('POST', '/v1/messages', {
      to: ['dr.colleague@calm.example'],
      subject: 'Consult',
      text: BODY,
    });
    expect(r.status).toBe(202);
    const body = SendMessageResponseSchema.parse(await r.json());
    expect(body.decision).toBe('allow');
    const patients = await f.server.store.db
      .selectFrom('patients')
      .select('email')
      .where('email', '=', 'dr.colleague@calm.example')
      .execute();
    expect(patients).toEqual([]);
  });

  it('sends PGP/MIME to a patient with a registered gpg key; gpg decrypts it and verifies the practice signature', async () => {
    const key = await gpg.generateKey('casey@patient.example');
    const reg = await f.api('POST', '/v1/patients', {
      email: 'casey@patient.example',
      publicKey: key.publicKey,
      timeZone: 'America/Chicago',
    });
    expect(reg.status).toBeLessThan(300);
    const before = f.smtp.received.length;
    const r = await f.api('POST', '/v1/messages', {
      to: ['casey@patient.example'],
      subject: 'Your care plan',
      html: '<p>Continue <b>sertraline 50 mg</b>.</p>',
      attachments: [
        {
          filename: 'plan.txt',
          contentType: 'text/plain',
          contentBase64: Buffer.from('Weekly plan').toString('base64'),
        },
      ],
    });
    expect(r.status).toBe(202);
    const body = SendMessageResponseSchema.parse(await r.json());
    expect(body.recipients[0]?.method).toBe('pgp');
    const mail = (await f.smtp.waitFor(before + 1))[before]!;
    const raw = mail.raw.toString('utf8');
    expect(raw).toContain('multipart/encrypted; protocol="application/pgp-encrypted"');
    expect(raw).not.toContain('sertraline');
    const signing = await f.server.store.db
      .selectFrom('practice_keys')
      .selectAll()
      .where('purpose', '=', 'signing')
      .executeTakeFirstOrThrow();
    await gpg.importKey(signing.public_key);
    const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(raw)![0];
    const out = await gpg.decrypt(armored);
    expect(out.code).toBe(0);
    expect(out.status.some((l) => l.startsWith(`[GNUPG:] VALIDSIG ${signing.fingerprint}`))).toBe(true);
    const inner = await simpleParser(out.stdout);
    expect(inner.subject).toBe('Your care plan');
    expect(inner.html).toContain('<b>sertraline 50 mg</b>');
    expect(inner.attachments[0]?.content.toString()).toBe('Weekly plan');
  }, 60_000);

  it('delivers exactly once when the relay refuses with 451 and then accepts', async () => {
    const before = f.smtp.received.length;
    f.smtp.refuseNext(1, 451);
    const r = await f.api('POST', '/v1/messages', { to: ['retry@patient.example'], text: BODY });
    const { id } = SendMessageResponseSchema.parse(await r.json());
    const deferred = await waitForStatus(
      id,
      (s) => s.recipients[0]?.attempts === 1 && s.recipients[0].lastError !== null,
    );
    expect(deferred.recipients[0]?.status).toBe('queued');
    expect(deferred.recipients[0]?.lastError).toMatch(/451/);
    // Time passes: the backoff is over.
    await f.server.store.db
      .updateTable('outbox')
      .set({ available_at: new Date(0).toISOString() })
      .where('done_at', 'is', null)
      .execute();
    f.delivery.worker.kick();
    const sent = await waitForStatus(id, (s) => s.recipients[0]?.status === 'sent');
    expect(sent.recipients[0]?.attempts).toBe(2);
    await new Promise((res) => setTimeout(res, 300));
    const copies = f.smtp.received.slice(before).filter((m) => m.to.includes('retry@patient.example'));
    expect(copies).toHaveLength(1);
  });

  it('schedules sendAt "best" with a reason when there is no reply history', async () => {
    const r = await f.api('POST', '/v1/messages', {
      to: ['best@patient.example'],
      text: 'Checking in about your homework.',
      sendAt: 'best',
    });
    expect(r.status).toBe(202);
    const body = SendMessageResponseSchema.parse(await r.json());
    expect(body.reasons.some((x) => /reply history/.test(x))).toBe(true);
  });

  it('refuses with 422 blocked_by_policy and a PHI-free reason when the policy blocks a finding type', async () => {
    await putPolicy(
      f.server.store.db,
      f.server.practiceId,
      { ...DEFAULT_POLICY, blockTypes: ['SSN'] },
      'test',
    );
    try {
      const r = await f.api('POST', '/v1/messages', {
        to: ['ssn@patient.example'],
        text: 'Your SSN on file is 536-22-8411.',
      });
      expect(r.status).toBe(422);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('blocked_by_policy');
      expect(body.error.message).not.toContain('536-22-8411');
      expect(body.error.message).toMatch(/Social Security/);
      const rows = await f.server.store.db
        .selectFrom('deliveries')
        .select('id')
        .where('email', '=', 'ssn@patient.example')
        .execute();
      expect(rows).toHaveLength(0);
    } finally {
      await putPolicy(f.server.store.db, f.server.practiceId, DEFAULT_POLICY, 'test');
    }
  });

  it.each([
    ['malformed JSON', { raw: '{"to": [' }, 400, 'invalid_json'],
    [
      'an unknown field',
      { body: { to: ['a@patient.example'], text: 'x', bcc: ['x@y.example'] } },
      400,
      'validation_failed',
    ],
    ['no body text', { body: { to: ['a@patient.example'] } }, 400, 'validation_failed'],
    ['a bad recipient', { body: { to: ['not-an-address'], text: 'x' } }, 400, 'validation_failed'],
  ])('answers %s with a clear 4xx', async (_label, input, status, code) => {
    const r = await f.api('POST', '/v1/messages', (input as { body?: unknown }).body, {
      ...('raw' in input ? { raw: input.raw } : {}),
    });
    expect(r.status).toBe(status);
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(0);
  });

  it('answers a body over MAX_MESSAGE_BYTES with 413 payload_too_large', async () => {
    // Own connection (no keep-alive): the server answers before reading the body and closes it.
    const payload = JSON.stringify({ to: ['a@patient.example'], text: 'x'.repeat(3 * 1024 * 1024) });
    const token = await f.token();
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${f.url}/v1/messages`,
        {
          method: 'POST',
          agent: false,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
    expect(status).toBe(413);
    expect((JSON.parse(body) as { error: { code: string } }).error.code).toBe('payload_too_large');
  });

  it('reads JSON bodies on one keep-alive connection: declared length, a byte-order mark, chunked, and one over the limit', async () => {
    // The body of a known length is read from the Node request directly (http/body.ts); a chunked
    // one through the fetch Request. Either way the connection stays open for the next request.
    const token = await f.token();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = (body: Buffer, chunked: boolean) =>
      new Promise<{ status: number; text: string; connection: string | undefined; reused: boolean }>(
        (resolve, reject) => {
          const req = request(`${f.url}/v1/messages`, {
            method: 'POST',
            agent,
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              ...(chunked ? {} : { 'content-length': body.length }),
            },
          });
          req.on('response', (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                text,
                connection: res.headers.connection,
                reused: req.reusedSocket,
              }),
            );
          });
          req.on('error', reject);
          if (chunked) {
            // Two writes: Node sends Transfer-Encoding: chunked when no length is given.
            req.write(body.subarray(0, 10));
            req.end(body.subarray(10));
          } else req.end(body);
        },
      );
    const json = (to: string) =>
      Buffer.from(
        JSON.stringify({ to: [to], subject: 'Schedule', text: 'Your appointment moved to Tuesday.' }),
      );
    try {
      const results = [
        await post(json('ka1@patient.example'), false),
        await post(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json('ka2@patient.example')]), false),
        await post(json('ka3@patient.example'), true),
        await post(Buffer.from('{"to": ["ka4@patient.example"], "text": "x"'), false),
      ];
      expect(results.map((r) => r.status)).toEqual([202, 202, 202, 400]);
      expect(results.map((r) => r.reused)).toEqual([false, true, true, true]);
      expect(results.map((r) => r.connection)).toEqual([
        'keep-alive',
        'keep-alive',
        'keep-alive',
        'keep-alive',
      ]);
      expect((JSON.parse(results[3]!.text) as { error: { code: string } }).error.code).toBe('invalid_json');
      const sent = await f.server.store.db
        .selectFrom('deliveries')
        .select('email')
        .where('email', 'in', ['ka1@patient.example', 'ka2@patient.example', 'ka3@patient.example'])
        .execute();
      expect(sent).toHaveLength(3);
    } finally {
      agent.destroy();
    }
  });

  it('answers 401 without a valid token and 415 for a non-JSON body', async () => {
    const r1 = await f.api(
      'POST',
      '/v1/messages',
      { to: ['a@patient.example'], text: 'x' },
      { token: 'not-a-token' },
    );
    expect(r1.status).toBe(401);
    const r2 = await f.api('POST', '/v1/messages', undefined, {
      raw: 'to=a',
      headers: { 'content-type': 'text/plain' },
    });
    expect(r2.status).toBe(415);
  });
});

describe('POST /v1/messages: a key reused for an edited message (409 conflict)', () => {
  type Conflict = { error: { code: string; message: string; messageId?: string } };
  const send = (text: string, key: string, token?: string) =>
    f.api(
      'POST',
      '/v1/messages',
      { to: ['edited@patient.example'], subject: 'Follow-up', text },
      { headers: { 'idempotency-key': key }, ...(token ? { token } : {}) },
    );

  it('answers 409 conflict with the id of the message already accepted under the key, which can be revoked', async () => {
    const first = await send(BODY, 'edit-after-lost-answer-1');
    expect(first.status).toBe(202);
    const { id } = SendMessageResponseSchema.parse(await first.json());
    const edited = await send(`${BODY} Also bring your mood log.`, 'edit-after-lost-answer-1');
    expect(edited.status).toBe(409);
    const body = (await edited.json()) as Conflict;
    expect(body.error).toEqual({ code: 'conflict', message: expect.any(String), messageId: id });
    for (const finding of scan(BODY)) expect(JSON.stringify(body)).not.toContain(finding.text);
    // The id is the one the clinician can act on: revoking it works.
    const rev = await f.api('POST', `/v1/messages/${body.error.messageId}/revoke`);
    expect(rev.status).toBe(200);
  });

  it("never names another clinician's or another practice's message in a 409", async () => {
    const first = await send(BODY, 'edit-after-lost-answer-2');
    const { id } = SendMessageResponseSchema.parse(await first.json());
    // A colleague in the same practice with the same key: refused, but not told whose message it is
    // (the add-in would offer to revoke it).
    const colleague = await f.token('dr.kim@calm.example');
    const theirs = await send('Reminder: session on Friday.', 'edit-after-lost-answer-2', colleague);
    expect(theirs.status).toBe(409);
    const body = (await theirs.json()) as Conflict;
    expect(body.error.code).toBe('conflict');
    expect(body.error).not.toHaveProperty('messageId');
    // Another practice: keys are scoped to the practice, so the same key is a new message there, and
    // its own conflict names its own message only.
    await ensurePractice(f.server.store.db, { name: 'Edit Practice', domains: ['edit.example'] });
    const other = await f.token('dr@edit.example');
    const otherFirst = await send(BODY, 'edit-after-lost-answer-2', other);
    expect(otherFirst.status).toBe(202);
    const otherId = SendMessageResponseSchema.parse(await otherFirst.json()).id;
    expect(otherId).not.toBe(id);
    const otherEdited = await send('Changed.', 'edit-after-lost-answer-2', other);
    expect(((await otherEdited.json()) as Conflict).error.messageId).toBe(otherId);
  });

  it('documents error.messageId of the 409 in /openapi.json', async () => {
    const doc = (await (await fetch(`${f.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const conflict = JSON.stringify(doc.paths['/v1/messages']?.['post']?.responses['409']);
    expect(conflict).toContain('messageId');
    expect(conflict).toContain('/revoke');
  });
});

describe('GET /v1/messages/:id and revoke', () => {
  it('gives another practice 404 for every message route, exactly like an unknown id', async () => {
    const r = await f.api('POST', '/v1/messages', { to: ['iso@patient.example'], text: BODY });
    const { id } = SendMessageResponseSchema.parse(await r.json());
    await ensurePractice(f.server.store.db, { name: 'Other Practice', domains: ['other.example'] });
    const other = await f.token('dr@other.example');
    for (const [method, path] of [
      ['GET', `/v1/messages/${id}`],
      ['POST', `/v1/messages/${id}/revoke`],
    ] as const) {
      const res = await f.api(method, path, undefined, { token: other });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('message_not_found');
    }
    const unknown = await f.api('GET', '/v1/messages/00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    // Still intact for its own practice.
    expect((await f.api('GET', `/v1/messages/${id}`)).status).toBe(200);
  });

  it('revokes a message: the status says revoked and the link page answers 410', async () => {
    const before = f.smtp.received.length;
    const r = await f.api('POST', '/v1/messages', { to: ['rev@patient.example'], text: BODY });
    const { id } = SendMessageResponseSchema.parse(await r.json());
    let mail = f.smtp.received.slice(before).find((m) => m.to.includes('rev@patient.example'));
    for (let i = 0; !mail && i < 200; i++) {
      await new Promise((res) => setTimeout(res, 25));
      mail = f.smtp.received.slice(before).find((m) => m.to.includes('rev@patient.example'));
    }
    if (!mail) throw new Error('notice not received');
    const link = /http:\/\/127\.0\.0\.1:\d+\/m\/[A-Za-z0-9_-]{43}/.exec(
      (await simpleParser(mail.raw)).text ?? '',
    )![0];
    expect((await fetch(link)).status).toBe(200);
    const rev = await f.api('POST', `/v1/messages/${id}/revoke`);
    expect(rev.status).toBe(200);
    const s = MessageStatusResponseSchema.parse(await rev.json());
    expect(s.revokedAt).not.toBeNull();
    expect(s.recipients[0]?.status).toBe('revoked');
    const page = await fetch(link);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('withdrew');
  });
});
