// A verified token is cached until it expires (up to a day), but the clinician's standing is not:
// disabling a clinician or taking away admin must apply to their very next request (ASVS 7.4.2),
// not when the cached token runs out (security review: a disabled clinician kept full access).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../audit/index.ts';
import { createTestApp, type TestApp } from '../http/testing.ts';
import { dialectsUnderTest } from '../store/testing.ts';

describe.each(dialectsUnderTest())('cached bearer tokens on %s', (dialect) => {
  let t: TestApp;

  const get = (token: string) =>
    t.app.request('/v1/policy', { headers: { authorization: `Bearer ${token}` } });
  const putPolicy = (token: string) =>
    t.app.request('/v1/policy', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ linkExpiryDays: 30 }),
    });
  const setClinician = (email: string, values: { disabled?: number; role?: 'admin' | 'clinician' }) =>
    t.store.db.updateTable('clinicians').set(values).where('email', '=', email).execute();
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('refuses a disabled clinician’s already-used token on the next request with 401 unauthenticated, audited', async () => {
    const email = 'dr.disabled@a.example.org';
    const token = await t.token(email);
    expect((await get(token)).status).toBe(200);
    expect((await get(token)).status).toBe(200); // served from the cache

    await setClinician(email, { disabled: 1 });
    const res = await get(token);
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('unauthenticated');
    expect((await get(await t.token(email))).status).toBe(401);
    const requestId = res.headers.get('x-request-id') ?? '';
    const audit = await t.store.db
      .selectFrom('audit_events')
      .select(['action', 'details'])
      .where('request_id', '=', requestId)
      .execute();
    expect(audit.map((a) => a.action)).toContain(AUDIT.AUTH_FAILURE);
    expect(JSON.stringify(audit)).toContain('disabled');

    // Enabled again, the same token works again.
    await setClinician(email, { disabled: 0 });
    expect((await get(token)).status).toBe(200);
  });

  it('applies a demotion from admin in the store to the cached token at once', async () => {
    const email = 'boss.demoted@a.example.org';
    const token = await t.devIssuer.sign({ email, admin: true });
    expect((await putPolicy(token)).status).toBe(200);

    await setClinician(email, { role: 'clinician' });
    const res = await putPolicy(token);
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('forbidden');
    expect((await get(token)).status).toBe(200); // still a clinician
  });
});
