import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageResponseSchema } from '@attune/shared/api';
import { startServerFixture, type ServerFixture } from '../delivery/server-fixture.ts';
import { createTestApp, type TestApp } from './testing.ts';

// The HTTP edge of the secure send as browsers and add-ins use it: CORS for Idempotency-Key,
// delivery "client" through POST /v1/messages, the OpenAPI contract, and request logs that never
// hold a patient's address from a by-email path.

const PATIENT = 'river.stone@patients.example';

describe('HTTP app (createTestApp)', () => {
  let t: TestApp;
  let tok: string;
  beforeAll(async () => {
    t = await createTestApp('sqlite');
    tok = await t.token('dr.a@a.example.org');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('lets a browser send Idempotency-Key (CORS preflight allows it)', async () => {
    const res = await t.app.request('/v1/messages', {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://outlook.office.com',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type, idempotency-key',
      },
    });
    expect(res.status).toBeLessThan(300);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(allowed).toContain('idempotency-key');
  });

  it('logs the route pattern of by-email lookups, never the address', async () => {
    const created = await t.app.request('/v1/patients', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: PATIENT }),
    });
    expect(created.status).toBe(201);
    const get = (path: string) => t.app.request(path, { headers: { Authorization: `Bearer ${tok}` } });
    expect((await get(`/v1/patients/by-email/${encodeURIComponent(PATIENT)}/engagement`)).status).toBe(200);
    expect(
      (await get(`/v1/patients/by-email/${encodeURIComponent('nobody.known@patients.example')}/engagement`))
        .status,
    ).toBe(404);
    expect((await get('/v1/patients/by-email/not-an-address/engagement')).status).toBe(400);
    // A path no route matches, with an address in it: logged as "unmatched".
    expect(
      (await get(`/v1/patients/by-email/${encodeURIComponent('lost.soul@patients.example')}/nothing`)).status,
    ).toBe(404);
    const lookup = await t.app.request('/v1/engagement/lookup', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: PATIENT }),
    });
    expect(lookup.status).toBe(200);

    const lines = t.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'request');
    const routes = lines.map((l) => l['route']);
    expect(routes.filter((r) => r === '/v1/patients/by-email/:email/engagement')).toHaveLength(3);
    expect(routes).toContain('/v1/engagement/lookup');
    expect(routes).toContain('unmatched');
    const text = t.logs.join('\n');
    for (const s of ['river.stone', 'nobody.known', 'not-an-address', 'lost.soul', '%40patients'])
      expect(text).not.toContain(s);
  });

  it('documents delivery in the OpenAPI request schema of POST /v1/messages', async () => {
    const doc = (await (await t.app.request('/openapi.json')).json()) as {
      paths: Record<
        string,
        {
          post?: {
            requestBody?: {
              content: Record<
                string,
                { schema: { properties?: Record<string, { enum?: string[]; description?: string }> } }
              >;
            };
          };
        }
      >;
    };
    const schema = doc.paths['/v1/messages']?.post?.requestBody?.content['application/json']?.schema;
    const delivery = schema?.properties?.['delivery'];
    expect(delivery?.enum).toEqual(['server', 'client']);
    expect(delivery?.description).toMatch(/exactly one secure-link recipient/);
  });
});

describe('POST /v1/messages with delivery "client" (real server)', () => {
  let f: ServerFixture;
  beforeAll(async () => {
    f = await startServerFixture();
  });
  afterAll(async () => {
    await f?.close();
  });

  it('returns the notice with the recipient’s link, the same on a retry with the Idempotency-Key, and emails nothing', async () => {
    const before = f.smtp.received.length;
    const body = {
      to: ['jordan@patient.example'],
      subject: 'PHQ-9',
      text: 'Your PHQ-9 suggests moderate depression. Start sertraline 50 mg.',
      delivery: 'client',
    };
    const a = await f.api('POST', '/v1/messages', body, { headers: { 'Idempotency-Key': 'send-42' } });
    expect(a.status).toBe(202);
    const first = SendMessageResponseSchema.parse(await a.json());
    expect(first.recipients).toEqual([
      { email: 'jordan@patient.example', method: 'link', status: 'sent', delivery: 'client' },
    ]);
    const link = new RegExp(`${f.url.replace(/[.:/]/g, '\\$&')}/m/[A-Za-z0-9_-]{43}`).exec(
      first.notice.html,
    )?.[0];
    expect(link).toBeDefined();
    // The reasons name the terms found: the clinician sees them, the database holds them sealed.
    expect(first.reasons.join(' ')).toContain('depression');
    const stored = await f.server.store.db
      .selectFrom('messages')
      .select('reasons')
      .where('id', '=', first.id)
      .executeTakeFirstOrThrow();
    expect(stored.reasons).not.toMatch(/depression|sertraline/i);
    const b = await f.api('POST', '/v1/messages', body, { headers: { 'Idempotency-Key': 'send-42' } });
    expect(b.status).toBe(202);
    expect(SendMessageResponseSchema.parse(await b.json())).toEqual(first);
    expect((await fetch(link!)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(f.smtp.received.length).toBe(before);
  });

  it('rejects an unknown delivery value with 400 validation_failed', async () => {
    const r = await f.api('POST', '/v1/messages', {
      to: ['jordan@patient.example'],
      text: 'Hello',
      delivery: 'pigeon',
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
  });
});
