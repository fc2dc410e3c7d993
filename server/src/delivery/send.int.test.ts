// POST /v1/messages `expiresAt`: a clinician may shorten a secure link's life but never lengthen it
// past the practice's linkExpiryDays (security review: 9999-12-31 was accepted and stored).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../http/testing.ts';
import { dialectsUnderTest } from '../store/testing.ts';

const DAY = 86_400_000;

describe.each(dialectsUnderTest())('POST /v1/messages expiresAt on %s', (dialect) => {
  let t: TestApp;
  let tokA: string;
  let adminA: string;

  const request = (path: string, token: string, body: unknown, method = 'POST') =>
    t.app.request(path, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  const send = (body: Record<string, unknown>, token = tokA) =>
    request('/v1/messages', token, { to: ['pat.one@patients.example'], text: 'See you Tuesday.', ...body });
  const messageCount = async () => (await t.store.db.selectFrom('messages').select('id').execute()).length;
  const linkExpiry = async (messageId: string) =>
    (
      await t.store.db
        .selectFrom('viewer_links')
        .select('expires_at')
        .where('message_id', '=', messageId)
        .executeTakeFirstOrThrow()
    ).expires_at;

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tokA = await t.token('dr.a@a.example.org');
    adminA = await t.token('boss@a.example.org', { admin: true });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('refuses an expiresAt beyond the practice’s linkExpiryDays with 400 validation_failed naming the field and the limit, and keeps a shorter one', async () => {
    const before = await messageCount();
    for (const expiresAt of ['9999-12-31T23:59:59Z', new Date(Date.now() + 31 * DAY).toISOString()]) {
      const res = await send({ expiresAt });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('validation_failed');
      expect(body.error.message).toContain('expiresAt');
      expect(body.error.message).toContain('30 days');
    }
    expect(await messageCount()).toBe(before);

    // Shorter is the clinician's choice; without expiresAt the link lasts linkExpiryDays.
    const shorter = new Date(Date.now() + 2 * DAY);
    const res = await send({ expiresAt: shorter.toISOString() });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect(Date.parse(await linkExpiry(id))).toBe(shorter.getTime());

    const dflt = await send({});
    expect(dflt.status).toBe(202);
    const expires = Date.parse(await linkExpiry(((await dflt.json()) as { id: string }).id));
    expect(Math.abs(expires - (Date.now() + 30 * DAY))).toBeLessThan(60_000);
  });

  it('measures the limit from a scheduled send time, not from now', async () => {
    const sendAt = Date.now() + 5 * DAY;
    const ok = await send({
      sendAt: new Date(sendAt).toISOString(),
      expiresAt: new Date(sendAt + 29 * DAY).toISOString(),
    });
    expect(ok.status).toBe(202);
    const tooLate = await send({
      sendAt: new Date(sendAt).toISOString(),
      expiresAt: new Date(sendAt + 31 * DAY).toISOString(),
    });
    expect(tooLate.status).toBe(400);
  });

  it('follows a practice’s shorter linkExpiryDays', async () => {
    const put = await request('/v1/policy', adminA, { linkExpiryDays: 7 }, 'PUT');
    expect(put.status).toBe(200);
    try {
      const res = await send({ expiresAt: new Date(Date.now() + 10 * DAY).toISOString() });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error).toMatchObject({ code: 'validation_failed' });
      expect(body.error.message).toContain('7 days');
      expect((await send({ expiresAt: new Date(Date.now() + 6 * DAY).toISOString() })).status).toBe(202);
    } finally {
      await request('/v1/policy', adminA, { linkExpiryDays: 30 }, 'PUT');
    }
  });

  it('documents the limit on expiresAt in the OpenAPI description', async () => {
    const doc = JSON.stringify(await (await t.app.request('/openapi.json')).json());
    expect(doc).toMatch(/When the secure link stops working[^"]*linkExpiryDays[^"]*400 validation_failed/);
  });
});
