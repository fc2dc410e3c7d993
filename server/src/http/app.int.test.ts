import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '@attune/shared/api';
import { generateKey, generateMasterKey } from '../crypto/index.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { getPolicy, setPracticeDomains } from '../store/practices.ts';
import { createApp } from './app.ts';
import { createTestApp, type TestApp } from './testing.ts';

const json = (body: unknown, token?: string, method = 'POST'): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  body: JSON.stringify(body),
});
const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

describe.each(dialectsUnderTest())('HTTP API on %s', (dialect) => {
  let t: TestApp;
  let tokA: string;
  let adminA: string;
  let tokB: string;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    tokA = await t.token('dr.a@a.example.org');
    adminA = await t.token('boss@a.example.org', { admin: true });
    tokB = await t.token('dr.b@b.example.org');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  function expectSecurityHeaders(res: Response) {
    expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  }

  async function expectError(res: Response, status: number, code: string) {
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body).toEqual({ error: { code, message: expect.any(String) } });
    expect(ERROR_CODES).toContain(body.error.code);
    expect(body.error.message).not.toMatch(/\bat .*\.ts:\d+/); // never a stack trace
    return body.error.message;
  }

  it('answers unknown routes with 404 not_found JSON and security headers', async () => {
    const res = await t.app.request('/no/such/thing');
    expectSecurityHeaders(res);
    await expectError(res, 404, 'not_found');
  });

  it('puts security headers on successful responses too', async () => {
    const res = await t.app.request('/healthz');
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
  });

  it('refuses requests without a valid bearer token with 401 unauthenticated', async () => {
    await expectError(await t.app.request('/v1/policy'), 401, 'unauthenticated');
    await expectError(await t.app.request('/v1/policy', bearer('not.a.token')), 401, 'unauthenticated');
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const res = await t.app.request('/v1/patients', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokA}` },
      body: '{"email":',
    });
    await expectError(res, 400, 'invalid_json');
  });

  it('answers unknown fields with 400 validation_failed naming the field, not echoing values', async () => {
    const msg = await expectError(
      await t.app.request('/v1/patients', json({ email: 'p@x.org', isAdmin: 'sneaky-value' }, tokA)),
      400,
      'validation_failed',
    );
    expect(msg).toContain('isAdmin');
    expect(msg).not.toContain('sneaky-value');
  });

  it('answers a non-JSON body with 415 unsupported_media_type', async () => {
    const res = await t.app.request('/v1/patients', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${tokA}` },
      body: 'hi',
    });
    await expectError(res, 415, 'unsupported_media_type');
  });

  it('answers a body over the limit with 413 payload_too_large, with or without Content-Length', async () => {
    const big = JSON.stringify({ email: 'p@x.org', name: 'x'.repeat(t.config.limits.maxBodyBytes + 10) });
    await expectError(
      await t.app.request('/v1/patients', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokA}` },
        body: big,
      }),
      413,
      'payload_too_large',
    );
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        for (let i = 0; i < 4; i++)
          ctrl.enqueue(new TextEncoder().encode('x'.repeat(t.config.limits.maxBodyBytes / 2)));
        ctrl.close();
      },
    });
    const res = await t.app.request('/v1/patients', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokA}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    await expectError(res, 413, 'payload_too_large');
  });

  it('maps an unexpected error to 500 internal_error without details', async () => {
    const app = createApp(t.deps);
    app.get('/test/explode', () => {
      throw new Error('secret detail: patient@example.org');
    });
    const res = await app.request('/test/explode');
    const msg = await expectError(res, 500, 'internal_error');
    expect(msg).not.toContain('patient@example.org');
    expect(t.logs.join('\n')).not.toContain('patient@example.org');
  });

  describe('patients', () => {
    let patientId: string;

    it('creates a patient in the caller’s practice (201) and updates it by email (200)', async () => {
      const created = await t.app.request(
        '/v1/patients',
        json({ email: ' Jane.Roe@Mail.example ', name: 'Jane Roe', timeZone: 'America/Chicago' }, tokA),
      );
      expect(created.status).toBe(201);
      const p = (await created.json()) as { id: string; email: string; name: string; hasPublicKey: boolean };
      expect(p).toMatchObject({
        email: 'jane.roe@mail.example',
        name: 'Jane Roe',
        timeZone: 'America/Chicago',
        hasPublicKey: false,
      });
      patientId = p.id;
      const updated = await t.app.request(
        '/v1/patients',
        json({ email: 'jane.roe@mail.example', timeZone: 'Europe/Paris' }, tokA),
      );
      expect(updated.status).toBe(200);
      expect(await updated.json()).toMatchObject({
        id: patientId,
        name: 'Jane Roe',
        timeZone: 'Europe/Paris',
      });
    });

    it('reads the patient back within the practice', async () => {
      const res = await t.app.request(`/v1/patients/${patientId}`, bearer(tokA));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: patientId, email: 'jane.roe@mail.example' });
    });

    it('gives another practice’s clinician 404 patient_not_found, the same as an unknown id, and audits the attempt', async () => {
      await expectError(
        await t.app.request(`/v1/patients/${patientId}`, bearer(tokB)),
        404,
        'patient_not_found',
      );
      await expectError(
        await t.app.request('/v1/patients/00000000-0000-0000-0000-000000000000', bearer(tokB)),
        404,
        'patient_not_found',
      );
      const denied = await t.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', 'authz.failure')
        .where('target_id', '=', patientId)
        .execute();
      expect(denied).toHaveLength(1);
      expect(denied[0]?.practice_id).toBe(t.practiceB);
    });

    it('keeps the same email in two practices as two patients', async () => {
      const res = await t.app.request(
        '/v1/patients',
        json({ email: 'jane.roe@mail.example', name: 'Other' }, tokB),
      );
      expect(res.status).toBe(201);
      const other = (await res.json()) as { id: string };
      expect(other.id).not.toBe(patientId);
    });

    it('rejects an invalid public key with 400 invalid_public_key and accepts a valid one', async () => {
      await expectError(
        await t.app.request(
          '/v1/patients',
          json(
            {
              email: 'k@mail.example',
              publicKey:
                '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n-----END PGP PUBLIC KEY BLOCK-----',
            },
            tokA,
          ),
        ),
        400,
        'invalid_public_key',
      );
      const key = await generateKey({ name: 'Patient K', email: 'k@mail.example' });
      await expectError(
        await t.app.request(
          '/v1/patients',
          json({ email: 'k@mail.example', publicKey: key.privateKey }, tokA),
        ),
        400,
        'invalid_public_key',
      );
      const ok = await t.app.request(
        '/v1/patients',
        json({ email: 'k@mail.example', publicKey: key.publicKey }, tokA),
      );
      expect(ok.status).toBe(201);
      expect(await ok.json()).toMatchObject({ hasPublicKey: true, publicKeyFingerprint: key.fingerprint });
    });

    it('rejects an unknown time zone with 400 validation_failed', async () => {
      await expectError(
        await t.app.request(
          '/v1/patients',
          json({ email: 'tz@mail.example', timeZone: 'Mars/Olympus' }, tokA),
        ),
        400,
        'validation_failed',
      );
    });

    it('audits every patient read and write by reference, without PHI', async () => {
      const rows = await t.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('target_id', '=', patientId)
        .orderBy('chain')
        .orderBy('seq')
        .execute();
      // Each practice has its own chain: A's writes and read, then B's refused attempt.
      const byPractice = (p: string) => rows.filter((r) => r.practice_id === p).map((r) => r.action);
      expect(byPractice(t.practiceA)).toEqual(['phi.write', 'phi.write', 'phi.read']);
      expect(byPractice(t.practiceB)).toEqual(['authz.failure']);
      expect(rows.every((r) => r.chain === `audit:${r.practice_id}`)).toBe(true);
      const all = JSON.stringify(await t.store.db.selectFrom('audit_events').selectAll().execute());
      for (const phi of ['jane.roe', 'Jane Roe', 'Europe/Paris', 'dr.a@', 'k@mail'])
        expect(all).not.toContain(phi);
    });

    it('logs route patterns, statuses and latency but no PHI', () => {
      const lines = t.logs
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l['msg'] === 'request');
      expect(
        lines.some(
          (l) => l['route'] === '/v1/patients/:id' && l['status'] === 200 && typeof l['ms'] === 'number',
        ),
      ).toBe(true);
      const text = t.logs.join('\n');
      for (const phi of ['jane.roe', 'Jane Roe', patientId, 'dr.a@a.example.org', tokA.slice(-20)]) {
        // Ids are references and may be logged in audit, but request logs carry route patterns only.
        expect(text).not.toContain(phi);
      }
    });
  });

  describe('policy', () => {
    it('gives clinicians the safe default policy', async () => {
      const res = await t.app.request('/v1/policy', bearer(tokA));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ mode: 'opt_out', linkExpiryDays: 30 });
    });

    it('refuses a policy change by a non-admin with 403 forbidden, audited', async () => {
      await expectError(
        await t.app.request('/v1/policy', json({ mode: 'opt_in' }, tokA, 'PUT')),
        403,
        'forbidden',
      );
      const rows = await t.store.db
        .selectFrom('audit_events')
        .select('action')
        .where('action', '=', 'authz.failure')
        .where('practice_id', '=', t.practiceA)
        .execute();
      expect(rows.length).toBeGreaterThan(0);
    });

    it('lets an admin change the policy, validated, effective at once and audited; other practices unchanged', async () => {
      await expectError(
        await t.app.request('/v1/policy', json({ linkExpiryDays: 9999 }, adminA, 'PUT')),
        400,
        'validation_failed',
      );
      await expectError(
        await t.app.request('/v1/policy', json({ customPatterns: ['(unclosed'] }, adminA, 'PUT')),
        400,
        'validation_failed',
      );
      const put = await t.app.request(
        '/v1/policy',
        json({ mode: 'opt_in', linkExpiryDays: 7, customKeywords: ['Secret Word'] }, adminA, 'PUT'),
      );
      expect(put.status).toBe(200);
      expect(await (await t.app.request('/v1/policy', bearer(tokA))).json()).toMatchObject({
        mode: 'opt_in',
        linkExpiryDays: 7,
      });
      expect(await (await t.app.request('/v1/policy', bearer(tokB))).json()).toMatchObject({
        mode: 'opt_out',
        linkExpiryDays: 30,
      });
      const audit = await t.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', 'policy.change')
        .execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]?.details).toContain('customKeywords');
      expect(audit[0]?.details).not.toContain('Secret Word');
    });
    it("does not store the practice's own domains from a GET, edit, PUT round trip: a domain given up stops being internal", async () => {
      const got = (await (await t.app.request('/v1/policy', bearer(adminA))).json()) as Record<
        string,
        unknown
      >;
      expect(got['internalDomains']).toEqual(['a.example.org']);
      const put = await t.app.request(
        '/v1/policy',
        json(
          { ...got, internalDomains: ['a.example.org', 'Partner.Example'], linkExpiryDays: 14 },
          adminA,
          'PUT',
        ),
      );
      expect(put.status).toBe(200);
      // The answer is the effective policy, as GET gives it.
      expect(await put.json()).toMatchObject({
        internalDomains: ['Partner.Example', 'a.example.org'],
        linkExpiryDays: 14,
      });
      const row = await t.store.db
        .selectFrom('practice_policy')
        .select('policy')
        .where('practice_id', '=', t.practiceA)
        .executeTakeFirstOrThrow();
      expect((JSON.parse(row.policy) as { internalDomains: string[] }).internalDomains).toEqual([
        'Partner.Example',
      ]);
      // The practice moves to a new domain: the old one is no longer internal.
      // (The suite's app is shared: the practice gets its domain and default policy back after.)
      const setDomains = (domains: string[]) =>
        t.store.db.transaction().execute((tx) => setPracticeDomains(tx, t.practiceA, domains));
      await setDomains(['a-new.example.org']);
      try {
        const after = await getPolicy(t.store.db, t.practiceA);
        expect(after.policy.internalDomains).toEqual(['Partner.Example', 'a-new.example.org']);
      } finally {
        await setDomains(['a.example.org']);
        await t.store.db.deleteFrom('practice_policy').where('practice_id', '=', t.practiceA).execute();
      }
    });
  });

  describe('development tokens', () => {
    it('issues a working token for an address in a practice domain', async () => {
      const res = await t.app.request('/v1/dev/token', json({ email: 'new.person@a.example.org' }));
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as { token: string };
      expect((await t.app.request('/v1/policy', bearer(token))).status).toBe(200);
    });

    it('refuses a request that came through a proxy: a reverse proxy on this host makes every caller 127.0.0.1', async () => {
      for (const header of ['x-forwarded-for', 'forwarded', 'x-real-ip']) {
        const res = await t.app.request('/v1/dev/token', {
          method: 'POST',
          headers: { 'content-type': 'application/json', [header]: '203.0.113.9' },
          body: JSON.stringify({ email: 'boss@a.example.org', admin: true }),
        });
        await expectError(res, 403, 'dev_tokens_disabled');
      }
    });

    it('refuses an address outside every practice domain with 400', async () => {
      await expectError(
        await t.app.request('/v1/dev/token', json({ email: 'x@elsewhere.example' })),
        400,
        'validation_failed',
      );
    });

    it('publishes the development issuer’s public key without its private part', async () => {
      const jwks = (await (await t.app.request('/.well-known/jwks.json')).json()) as {
        keys: Array<Record<string, unknown>>;
      };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).not.toHaveProperty('d');
    });
  });

  it('serves an OpenAPI 3.1 document generated from the schemas, and a docs page', async () => {
    const doc = (await (await t.app.request('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/patients', '/v1/patients/{id}', '/v1/policy', '/v1/messages']),
    );
    const schema = JSON.stringify(doc.paths['/v1/patients']);
    expect(schema).toContain('"additionalProperties":false');
    const docs = await t.app.request('/docs');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('/v1/patients');
    expect(docs.headers.get('content-security-policy')).toContain("style-src 'nonce-");
  });
});

describe('rate limits and production mode', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite', { RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_UNAUTH_PER_MINUTE: '3' });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('answers 429 rate_limited with RateLimit headers once a token exceeds its budget', async () => {
    const tok = await t.token('dr.a@a.example.org');
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 7; i++) {
      last = await t.app.request('/v1/policy', bearer(tok));
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers.get('ratelimit-policy')).toBe('"token";q=5;w=60');
        expect(last.headers.get('ratelimit')).toMatch(/^"token";r=4;t=\d+$/);
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(last?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await last?.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
  });

  it('stops verifying tokens from an address after repeated authentication failures', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await t.app.request('/v1/policy', bearer(`forged.token.${i}xxxxxxxx`))).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const failures = await t.store.db
      .selectFrom('audit_events')
      .select('id')
      .where('action', '=', 'auth.failure')
      .execute();
    expect(failures).toHaveLength(3); // refused before verification: no work, no audit flood
  });

  it('still serves valid tokens from an address over its failure budget (a shared address: Google Apps Script, a NAT)', async () => {
    const authFailures = async () =>
      (
        await t.store.db
          .selectFrom('audit_events')
          .select('id')
          .where('action', '=', 'auth.failure')
          .execute()
      ).length;
    // Someone else at this address spends its failure budget.
    for (let i = 0; i < 5; i++) await t.app.request('/v1/policy', bearer(`someone.elses.${i}xxxxxxxx`));
    expect((await t.app.request('/v1/policy', bearer('junk.token.xxxxxxxxxx'))).status).toBe(429);
    const audited = await authFailures();
    // A clinician at the same address, with a token never seen before, is served.
    const valid = await t.token('dr.shared@a.example.org');
    expect((await t.app.request('/v1/policy', bearer(valid))).status).toBe(200);
    // A token that could be ours but is not (right issuer and audience, another key; an unknown
    // practice's clinician): verified, refused 429, and not audited.
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ email: 'dr.shared@a.example.org', email_verified: true })
      .setProtectedHeader({ alg: 'ES256', kid: 'forged' })
      .setIssuer(t.devIssuer.issuer)
      .setAudience(t.devIssuer.audience)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
    expect((await t.app.request('/v1/policy', bearer(forged))).status).toBe(429);
    const stranger = await t.token('dr@nowhere.example');
    expect((await t.app.request('/v1/policy', bearer(stranger))).status).toBe(429);
    expect(await authFailures()).toBe(audited);
  });

  it('limits anonymous callers per address', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.app.request('/openapi.json')).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });
});

describe('production mode', () => {
  it('refuses development tokens with 403 dev_tokens_disabled and does not accept them', async () => {
    const t = await createTestApp('sqlite', {
      ATTUNE_ENV: 'production',
      PUBLIC_URL: 'https://attune.example.org',
      ATTUNE_MASTER_KEY: generateMasterKey(),
      SMTP_URL: 'smtp://relay.example.org:587',
      GOOGLE_CLIENT_IDS: 'client.apps.googleusercontent.com',
    });
    try {
      const res = await t.app.request('/v1/dev/token', json({ email: 'dr.a@a.example.org' }));
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('dev_tokens_disabled');
      const forged = await t.devIssuer.sign({ email: 'dr.a@a.example.org' });
      expect((await t.app.request('/v1/policy', bearer(forged))).status).toBe(401);
    } finally {
      await t.cleanup();
    }
  });
});

describe('OpenAPI contributions', () => {
  it('merges paths that route modules declare', async () => {
    const { buildOpenApi } = await import('./routes/openapi.ts');
    const doc = buildOpenApi('http://x', [
      { mount: () => undefined, openapi: { '/v1/extra': { get: { summary: 'Extra' } } } },
    ]);
    expect((doc['paths'] as Record<string, unknown>)['/v1/extra']).toEqual({ get: { summary: 'Extra' } });
    expect((doc['paths'] as Record<string, unknown>)['/v1/patients']).toBeDefined();
  });
});
