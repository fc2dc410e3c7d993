// Signed chart URLs (GET /v1/charts/<opaque>.png): the URL is the credential, so a refused one is
// audited as an authentication failure with the reason only, like a refused viewer link.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../../audit/index.ts';
import { signChartUrl } from '../../engagement/charts.ts';
import { createTestApp, type TestApp } from '../testing.ts';
import { chartKeysFor } from './engagement.ts';

const EMAIL = 'ottoline.vasquez-brennan@a.example.org';

describe('signed chart URLs', () => {
  let t: TestApp;
  let patientId: string;
  beforeAll(async () => {
    t = await createTestApp('sqlite');
    const token = await t.token('dr.a@a.example.org');
    const res = await t.app.request('/v1/patients', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ email: EMAIL, name: 'Ottoline Vasquez-Brennan' }),
    });
    expect(res.status).toBe(201);
    patientId = ((await res.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const sign = (at: Date, id = patientId) =>
    new URL(signChartUrl(chartKeysFor(t.deps), 'http://x', { practiceId: t.practiceA, patientId: id }, at));
  const get = async (u: URL) => {
    const res = await t.app.request(u.pathname + u.search);
    const requestId = res.headers.get('x-request-id') ?? '';
    const rows = await t.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', requestId)
      .execute();
    return { res, rows };
  };

  it('serves a valid URL as a PNG, audited as phi.read', async () => {
    const { res, rows } = await get(sign(new Date()));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([`${AUDIT.PHI_READ}:success`]);
  });

  it('answers an altered, expired or malformed URL with 404 and audits an auth.failure with the reason only', async () => {
    const good = sign(new Date());
    const altered = new URL(good);
    const sig = altered.searchParams.get('sig')!;
    altered.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
    const expired = sign(new Date(Date.now() - 60 * 60_000));
    const notPng = new URL(good);
    notPng.pathname = notPng.pathname.replace(/\.png$/, '.gif');
    const noSig = new URL(good);
    noSig.searchParams.delete('sig');
    const cases: Array<[string, URL, string]> = [
      ['altered signature', altered, 'bad_signature'],
      ['expired', expired, 'expired'],
      ['not .png', notPng, 'malformed'],
      ['no signature', noSig, 'malformed'],
    ];
    for (const [what, u, reason] of cases) {
      const { res, rows } = await get(u);
      expect(res.status, what).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code, what).toBe('not_found');
      expect(
        rows.map((r) => `${r.action}:${r.outcome}`),
        what,
      ).toEqual([`${AUDIT.AUTH_FAILURE}:failure`]);
      const row = rows[0]!;
      expect(row.actor_type, what).toBe('anonymous');
      expect(JSON.parse(row.details), what).toEqual({ reason, credential: 'chart_url' });
      expect(row.target_id, what).toBeNull();
      // Nothing of the URL (the credential) or the patient in the row.
      const text = JSON.stringify(row);
      const opaque = good.pathname
        .split('/')
        .pop()!
        .replace(/\.png$/, '');
      for (const secret of [opaque.slice(0, 24), sig.slice(0, 24), patientId, EMAIL, 'Ottoline'])
        expect(text, what).not.toContain(secret);
    }
  });

  it('audits a genuine URL for a patient that no longer exists as an auth.failure of that practice', async () => {
    const { res, rows } = await get(sign(new Date(), 'no-such-patient-id'));
    expect(res.status).toBe(404);
    expect(rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([`${AUDIT.AUTH_FAILURE}:failure`]);
    expect(JSON.parse(rows[0]!.details)).toEqual({ reason: 'unknown_patient', credential: 'chart_url' });
    expect(rows[0]!.practice_id).toBe(t.practiceA);
    expect(JSON.stringify(rows[0])).not.toContain('no-such-patient-id');
  });
});
