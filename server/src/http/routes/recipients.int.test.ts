// POST /v1/recipients/patients: the send handler's question "is any of these recipients a patient?"
// answered for the caller's practice only, audited without the addresses, with clear 400s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../../audit/index.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';

describe.each(dialectsUnderTest())('POST /v1/recipients/patients on %s', (dialect) => {
  let t: TestApp;
  let tokA: string;
  let tokB: string;

  const ask = (token: string, body: unknown) =>
    t.app.request('/v1/recipients/patients', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  const upsert = async (token: string, email: string) => {
    const res = await t.app.request('/v1/patients', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ email }),
    });
    expect(res.status).toBe(201);
  };

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tokA = await t.token('dr.a@a.example.org');
    tokB = await t.token('dr.b@b.example.org');
    await upsert(tokA, 'pat.one@patients.example');
    await upsert(tokB, 'pat.two@patients.example');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it("names the asked addresses that are the caller's practice's patients, and no other practice's", async () => {
    const res = await ask(tokA, {
      emails: ['Pat.One@Patients.example', 'pat.two@patients.example', 'colleague@elsewhere.example'],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ patients: ['pat.one@patients.example'] });
    const b = await ask(tokB, { emails: ['pat.one@patients.example', 'pat.two@patients.example'] });
    expect(await b.json()).toEqual({ patients: ['pat.two@patients.example'] });
  });

  it('audits the read with counts, never the addresses', async () => {
    const res = await ask(tokA, { emails: ['pat.one@patients.example', 'x@y.example'] });
    const requestId = res.headers.get('x-request-id') ?? '';
    const rows = await t.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', requestId)
      .execute();
    expect(rows.map((r) => r.action)).toEqual([AUDIT.PHI_READ]);
    expect(JSON.stringify(rows)).not.toContain('pat.one');
    expect(JSON.parse(rows[0]!.details ?? '{}')).toEqual({ asked: 2, patients: 1 });
  });

  it('refuses a bad request with a clear 400 and no token with 401', async () => {
    for (const body of [
      {},
      { emails: [] },
      { emails: ['not an address'] },
      { emails: ['a@b.example'], x: 1 },
    ]) {
      const res = await ask(tokA, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    }
    const many = await ask(tokA, { emails: Array.from({ length: 101 }, (_, i) => `p${i}@x.example`) });
    expect(many.status).toBe(400);
    const anon = await t.app.request('/v1/recipients/patients', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ emails: ['a@b.example'] }),
    });
    expect(anon.status).toBe(401);
  });
});
