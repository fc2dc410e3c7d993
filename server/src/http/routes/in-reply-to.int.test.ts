// POST /v1/messages `inReplyTo` (engagement latency of check-ins) must name a message of the
// caller's practice: junk, an unknown id or another practice's message is 400 validation_failed on
// the field and nothing is stored; another practice's id is also audited as an authorization failure.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../../audit/index.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';

describe.each(dialectsUnderTest())('POST /v1/messages inReplyTo on %s', (dialect) => {
  let t: TestApp;
  let tokA: string;
  let tokB: string;
  let messageA: string;
  let messageB: string;

  const send = async (token: string, body: Record<string, unknown>) => {
    const res = await t.app.request('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ text: 'How has this week been? Reply when you can.', checkIn: true, ...body }),
    });
    return { res, requestId: res.headers.get('x-request-id') ?? '' };
  };
  const messageCount = async () => (await t.store.db.selectFrom('messages').select('id').execute()).length;
  const auditOf = (requestId: string) =>
    t.store.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).execute();

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tokA = await t.token('dr.a@a.example.org');
    tokB = await t.token('dr.b@b.example.org');
    const a = await send(tokA, { to: ['pat.one@patients.example'] });
    expect(a.res.status).toBe(202);
    messageA = ((await a.res.json()) as { id: string }).id;
    const b = await send(tokB, { to: ['pat.two@patients.example'] });
    expect(b.res.status).toBe(202);
    messageB = ((await b.res.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('accepts a message of the caller’s own practice and stores the reference', async () => {
    const { res } = await send(tokA, { to: ['pat.one@patients.example'], inReplyTo: messageA });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { id: string }).id;
    const row = await t.store.db
      .selectFrom('messages')
      .select(['in_reply_to', 'practice_id'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ in_reply_to: messageA, practice_id: t.practiceA });
  });

  it('refuses another practice’s message id with 400 validation_failed, stores nothing, and audits an authorization failure', async () => {
    const before = await messageCount();
    const { res, requestId } = await send(tokA, { to: ['pat.one@patients.example'], inReplyTo: messageB });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.message).toContain('inReplyTo');
    expect(body.error.message).not.toContain(messageB);
    expect(await messageCount()).toBe(before);
    const rows = await auditOf(requestId);
    expect(rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([`${AUDIT.AUTHZ_FAILURE}:failure`]);
    expect(rows[0]).toMatchObject({
      actor_type: 'clinician',
      practice_id: t.practiceA,
      target_type: 'message',
      target_id: messageB,
    });
    expect(JSON.parse(rows[0]!.details)).toEqual({ reason: 'other_practice', field: 'inReplyTo' });
  });

  it('answers junk and unknown ids exactly like another practice’s id (no existence oracle), without an authorization failure', async () => {
    const other = await send(tokA, { to: ['pat.one@patients.example'], inReplyTo: messageB });
    const otherBody = await other.res.json();
    for (const inReplyTo of ['not-a-message', randomUUID(), "' OR 1=1 --"]) {
      const before = await messageCount();
      const { res, requestId } = await send(tokA, { to: ['pat.one@patients.example'], inReplyTo });
      expect(res.status, inReplyTo).toBe(400);
      expect(await res.json(), inReplyTo).toEqual(otherBody);
      expect(await messageCount(), inReplyTo).toBe(before);
      expect(
        (await auditOf(requestId)).map((r) => r.action),
        inReplyTo,
      ).not.toContain(AUDIT.AUTHZ_FAILURE);
    }
  });

  it('lets each practice answer its own messages', async () => {
    expect((await send(tokB, { to: ['pat.two@patients.example'], inReplyTo: messageB })).res.status).toBe(
      202,
    );
    expect((await send(tokB, { to: ['pat.two@patients.example'], inReplyTo: messageA })).res.status).toBe(
      400,
    );
  });
});
