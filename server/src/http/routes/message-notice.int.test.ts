// POST /v1/messages/:id/notice: the notice of the caller's own message again, for "keep the earlier
// version" after a lost answer (a client-delivered notice that never reached a draft leaves the
// patient with no link). And the 409 of a key whose message has later versions under follow-on keys
// (<key>.2, ...) names the latest live version. Real app, real store, on each dialect under test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageNoticeResponseSchema, SendMessageResponseSchema } from '@attune/shared/api';
import { scan } from '@attune/shared/phi';
import { AUDIT } from '../../audit/index.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';

const BODY =
  'Hi Jordan Alvarez, your PHQ-9 suggests moderate depression (F32.1). Start sertraline 50 mg daily.';
const LINK = /\/m\/([A-Za-z0-9_-]{43})/;

describe.each(dialectsUnderTest())('POST /v1/messages/:id/notice on %s', (dialect) => {
  let t: TestApp;
  let mine: string;
  let colleague: string;
  let otherPractice: string;

  const call = async (method: string, path: string, token: string, body?: unknown, key?: string) => {
    const res = await t.app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(key !== undefined ? { 'idempotency-key': key } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { res, requestId: res.headers.get('x-request-id') ?? '' };
  };
  const send = async (body: Record<string, unknown>, key?: string, token = mine) => {
    const { res } = await call(
      'POST',
      '/v1/messages',
      token,
      { subject: 'Follow-up', text: BODY, ...body },
      key,
    );
    return res;
  };
  const sent = async (body: Record<string, unknown>, key?: string) => {
    const res = await send(body, key);
    expect(res.status).toBe(202);
    return SendMessageResponseSchema.parse(await res.json());
  };
  const notice = (id: string, token = mine) => call('POST', `/v1/messages/${id}/notice`, token);
  const auditOf = (requestId: string) =>
    t.store.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).execute();
  const linkRows = (messageId: string) =>
    t.store.db.selectFrom('viewer_links').select('id').where('message_id', '=', messageId).execute();

  beforeAll(async () => {
    t = await createTestApp(dialect);
    mine = await t.token('dr.a@a.example.org');
    colleague = await t.token('dr.colleague@a.example.org');
    otherPractice = await t.token('dr.b@b.example.org');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it("returns a client-delivered send's notice again, with the same working link, idempotently and audited", async () => {
    // The 202 of this send is "lost": the add-in never saw its notice.
    const first = await sent({ to: ['jordan@patients.example'], delivery: 'client' });
    const token = LINK.exec(first.notice.html)?.[1];
    expect(token).toBeDefined();

    const a = await notice(first.id);
    expect(a.res.status).toBe(200);
    expect(a.res.headers.get('cache-control')).toBe('no-store');
    const body = MessageNoticeResponseSchema.parse(await a.res.json());
    expect(body.id).toBe(first.id);
    expect(body.recipients).toEqual([
      { email: 'jordan@patients.example', method: 'link', status: 'sent', delivery: 'client' },
    ]);
    // The notice the 202 carried: the same link and reply address, PHI-free.
    expect(LINK.exec(body.notice.html)?.[1]).toBe(token);
    expect(body.notice.text).toBe(first.notice.text);
    expect(body.notice.html).toBe(first.notice.html);
    for (const f of scan(BODY)) expect(JSON.stringify(body)).not.toContain(f.text);

    // Asked again: the same notice, still one link for the recipient, and that link opens the message.
    const again = await notice(first.id);
    expect(MessageNoticeResponseSchema.parse(await again.res.json()).notice).toEqual(body.notice);
    expect(await linkRows(first.id)).toHaveLength(1);
    expect((await t.app.request(`/m/${token}`)).status).toBe(200);

    // Each hand-out is audited (references only).
    const rows = await auditOf(a.requestId);
    const row = rows.find((r) => r.action === AUDIT.MESSAGE_NOTICE);
    expect(row).toMatchObject({ outcome: 'success', target_id: first.id });
    expect(row?.details).not.toContain('jordan');
  });

  it('answers a server-delivered send with its generic notice and no link', async () => {
    const m = await sent({ to: ['one@patients.example', 'two@patients.example'], delivery: 'client' });
    const r = await notice(m.id);
    expect(r.res.status).toBe(200);
    const body = MessageNoticeResponseSchema.parse(await r.res.json());
    expect(body.recipients.map((x) => x.delivery)).toEqual(['server', 'server']);
    expect(body.notice.html).not.toMatch(LINK);
    expect(body.notice).toEqual(m.notice);
  });

  it("gives 404 for another practice's message, a colleague's, an unknown and a malformed id, and audits the refusals", async () => {
    const m = await sent({ to: ['iso@patients.example'], delivery: 'client' });
    const other = await notice(m.id, otherPractice);
    expect(other.res.status).toBe(404);
    expect(((await other.res.json()) as { error: { code: string } }).error.code).toBe('message_not_found');
    expect((await auditOf(other.requestId)).map((r) => [r.action, r.outcome])).toContainEqual([
      AUDIT.AUTHZ_FAILURE,
      'failure',
    ]);

    const theirs = await notice(m.id, colleague);
    expect(theirs.res.status).toBe(404);
    const refused = await theirs.res.json();
    expect(refused).toEqual({ error: { code: 'message_not_found', message: expect.any(String) } });
    const colleagueAudit = await auditOf(theirs.requestId);
    expect(colleagueAudit.find((r) => r.action === AUDIT.AUTHZ_FAILURE)?.details).toContain(
      'other_clinician',
    );
    expect(colleagueAudit.some((r) => r.action === AUDIT.MESSAGE_NOTICE)).toBe(false);

    expect((await notice('00000000-0000-4000-8000-000000000000')).res.status).toBe(404);
    expect((await notice('not-an-id')).res.status).toBe(404);
  });

  it('refuses a revoked message with 409 message_revoked: its link stays dead', async () => {
    const m = await sent({ to: ['rev@patients.example'], delivery: 'client' });
    const token = LINK.exec(m.notice.html)?.[1] ?? '';
    expect((await call('POST', `/v1/messages/${m.id}/revoke`, mine)).res.status).toBe(200);
    const r = await notice(m.id);
    expect(r.res.status).toBe(409);
    expect(((await r.res.json()) as { error: { code: string } }).error.code).toBe('message_revoked');
    expect((await t.app.request(`/m/${token}`)).status).toBe(410);
    const audit = await auditOf(r.requestId);
    expect(audit.find((x) => x.action === AUDIT.MESSAGE_NOTICE)?.outcome).toBe('failure');
  });

  it('refuses an expired message with 409 message_expired', async () => {
    const m = await sent({ to: ['old@patients.example'], delivery: 'client' });
    await t.store.db
      .updateTable('messages')
      .set({ expires_at: new Date(Date.now() - 60_000).toISOString() })
      .where('id', '=', m.id)
      .execute();
    const r = await notice(m.id);
    expect(r.res.status).toBe(409);
    expect(((await r.res.json()) as { error: { code: string } }).error.code).toBe('message_expired');
  });

  it('documents the route in /openapi.json', async () => {
    const doc = (await (await t.app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const op = doc.paths['/v1/messages/{id}/notice']?.['post'];
    expect(op?.responses['200']).toBeDefined();
    expect(JSON.stringify(op?.responses['409'])).toContain('message_revoked');
  });
});

describe.each(dialectsUnderTest())('POST /v1/messages follow-on keys on %s', (dialect) => {
  let t: TestApp;
  let tok: string;
  type Conflict = { error: { code: string; messageId?: string } };

  const send = (text: string, key: string) =>
    t.app.request('/v1/messages', {
      method: 'POST',
      headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({
        to: ['versions@patients.example'],
        subject: 'Follow-up',
        text,
        delivery: 'client',
      }),
    });
  const idOf = async (res: Response) => {
    expect(res.status).toBe(202);
    return SendMessageResponseSchema.parse(await res.json()).id;
  };
  const revoke = (id: string) =>
    t.app.request(`/v1/messages/${id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tok}` },
    });

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tok = await t.token('dr.versions@a.example.org');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('names the latest live version in the 409, and replays the latest when the request is the same', async () => {
    const key = 'gmail-compose-follow-on-1';
    const v1 = await idOf(await send(`${BODY} v1`, key));
    // Edited after a lost answer: 409 naming v1; the clinician revokes it and sends v2 under <key>.2.
    const c1 = await send(`${BODY} v2`, key);
    expect(c1.status).toBe(409);
    expect(((await c1.json()) as Conflict).error.messageId).toBe(v1);
    expect((await revoke(v1)).status).toBe(200);
    const v2 = await idOf(await send(`${BODY} v2`, `${key}.2`));

    // Edited again on the same card (still carrying <key>): the 409 names v2, the live one, not v1.
    const c2 = await send(`${BODY} v3`, key);
    expect(c2.status).toBe(409);
    expect(((await c2.json()) as Conflict).error).toMatchObject({ code: 'conflict', messageId: v2 });

    // The card's v2 clicked again under <key>: v2 is answered again, not a 409 to revoke it.
    const replay = await send(`${BODY} v2`, key);
    expect(await idOf(replay)).toBe(v2);
    // The first version's content again: it is not the latest, so the clinician is asked (about v2).
    const back = await send(`${BODY} v1`, key);
    expect(back.status).toBe(409);
    expect(((await back.json()) as Conflict).error.messageId).toBe(v2);

    // Revoke v2, send v3 under <key>.3: the 409 names v3 now.
    expect((await revoke(v2)).status).toBe(200);
    expect(((await (await send(`${BODY} v3`, `${key}.2`)).json()) as Conflict).error.messageId).toBe(v2);
    const v3 = await idOf(await send(`${BODY} v3`, `${key}.3`));
    expect(((await (await send(`${BODY} v4`, key)).json()) as Conflict).error.messageId).toBe(v3);
    expect(
      (await t.store.db.selectFrom('messages').select('id').where('revoked_at', 'is', null).execute()).map(
        (m) => m.id,
      ),
    ).toEqual([v3]);
  });

  it('falls back to the latest version when every version is revoked, and ignores a colleague’s follow-on', async () => {
    const key = 'gmail-compose-follow-on-2';
    const v1 = await idOf(await send(`${BODY} a`, key));
    await revoke(v1);
    const v2 = await idOf(await send(`${BODY} b`, `${key}.2`));
    await revoke(v2);
    expect(((await (await send(`${BODY} c`, key)).json()) as Conflict).error.messageId).toBe(v2);

    // A colleague's message under <other>.2 is not a version of this clinician's <other>.
    const other = 'gmail-compose-follow-on-3';
    const mineId = await idOf(await send(`${BODY} mine`, other));
    const colleague = await t.token('dr.other@a.example.org');
    const theirs = await t.app.request('/v1/messages', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${colleague}`,
        'content-type': 'application/json',
        'idempotency-key': `${other}.2`,
      },
      body: JSON.stringify({ to: ['versions@patients.example'], text: `${BODY} theirs`, delivery: 'client' }),
    });
    expect(theirs.status).toBe(202);
    expect(((await (await send(`${BODY} edit`, other)).json()) as Conflict).error.messageId).toBe(mineId);
  });
});
