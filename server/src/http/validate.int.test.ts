// U+0000 in input: PostgreSQL cannot store it in text (error 22021), so a NUL that reached a query
// was a 500 (security review: patient name, event ids, inReplyTo, FHIR Appointment id). Every JSON
// body with a NUL anywhere is 400 validation_failed before any handler sees it, and path parameters
// with one never reach the store. Runs on SQLite and on PostgreSQL, where the 500s were.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialectsUnderTest } from '../store/testing.ts';
import { createTestApp, type TestApp } from './testing.ts';

const NUL = '\u0000';
const PATIENT = 'pat.one@patients.example';

describe.each(dialectsUnderTest())('NUL characters in requests on %s', (dialect) => {
  let t: TestApp;
  let tokA: string;
  let patientId: string;

  const post = (path: string, body: unknown, contentType = 'application/json') =>
    t.app.request(path, {
      method: 'POST',
      headers: { 'content-type': contentType, authorization: `Bearer ${tokA}` },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const counts = async () => ({
    patients: (await t.store.db.selectFrom('patients').select('id').execute()).length,
    messages: (await t.store.db.selectFrom('messages').select('id').execute()).length,
    events: (await t.store.db.selectFrom('engagement_events').select('id').execute()).length,
  });

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tokA = await t.token('dr.a@a.example.org');
    const p = await post('/v1/patients', { email: PATIENT, name: 'Jane Roe' });
    expect(p.status).toBe(201);
    patientId = ((await p.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('refuses U+0000 in any string of a JSON body with 400 validation_failed naming the field, storing nothing', async () => {
    const before = await counts();
    const event = { id: 'e1', patientId: '', type: 'appointment_attended', at: '2026-01-01T00:00:00Z' };
    const cases: [string, unknown, string, string?][] = [
      ['/v1/patients', { email: 'nul@patients.example', name: `Ja${NUL}ne` }, 'name'],
      ['/v1/events', { events: [{ ...event, id: `a${NUL}b`, patientId }] }, 'events.0.id'],
      ['/v1/events', { events: [{ ...event, patientId: `p${NUL}` }] }, 'events.0.patientId'],
      ['/v1/messages', { to: [PATIENT], text: 'hi', inReplyTo: `a${NUL}` }, 'inReplyTo'],
      [
        '/v1/fhir',
        {
          resourceType: 'Bundle',
          entry: [
            {
              fullUrl: 'urn:p1',
              resource: { resourceType: 'Patient', id: 'p1', telecom: [{ system: 'email', value: PATIENT }] },
            },
            {
              resource: {
                resourceType: 'Appointment',
                id: `a${NUL}`,
                status: 'fulfilled',
                start: '2026-01-01T10:00:00Z',
                participant: [{ actor: { reference: 'Patient/p1' } }],
              },
            },
          ],
        },
        'entry.1.resource.id',
        'application/fhir+json',
      ],
      // In a key, and in a body a schema would refuse anyway: the NUL check comes first.
      ['/v1/patients', { email: 'nul2@patients.example', [`na${NUL}me`]: 'x' }, '(a key)'],
    ];
    for (const [path, body, field, contentType] of cases) {
      const res = await post(path, body, contentType);
      expect(res.status, `${path} ${field}`).toBe(400);
      const err = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(err.code).toBe('validation_failed');
      expect(err.message).toContain(`${field}: text must not contain the NUL character`);
    }
    expect(await counts()).toEqual(before);

    // Path parameters are decoded by the router; a NUL in one is a 404, never a query.
    const auth = { headers: { authorization: `Bearer ${tokA}` } };
    for (const path of [
      '/v1/patients/%00',
      `/v1/patients/${patientId.slice(0, -1)}%00`,
      '/v1/patients/a%00b/engagement',
      '/v1/patients/by-email/a%00%40patients.example/engagement',
      '/v1/messages/%00',
      '/m/%00',
      '/v1/charts/%00.png',
    ]) {
      const res = await t.app.request(path, auth);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
    const revoke = await t.app.request('/v1/messages/%00/revoke', { method: 'POST', ...auth });
    expect(revoke.status).toBe(404);
  });

  it('still accepts the text "\\u0000" spelled out, and finds a NUL deep in a nested body without a 500', async () => {
    const ok = await post('/v1/patients', { email: 'literal@patients.example', name: 'back\\u0000slash' });
    expect(ok.status).toBe(201);
    // 200,000 levels: a recursive walk would overflow the stack.
    const deep = `${'['.repeat(200_000)}"${'\\u0000'}"${']'.repeat(200_000)}`;
    const res = await post('/v1/patients', deep);
    expect(res.status).toBe(400);
    const err = ((await res.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('validation_failed');
    expect(err.message).toContain('text must not contain the NUL character');
  });
});
