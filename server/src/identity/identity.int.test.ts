import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../http/testing.ts';

// Tokens from our own "Entra" and "Google" issuers, whose JWKS we serve over real HTTP, exactly as
// the server fetches Microsoft's and Google's. Each forged token must fail, and fail for the
// reason we meant (read back from the audit log), so a test cannot pass by accident.

const ENTRA_APP = '11111111-2222-3333-4444-555555555555';
const GOOGLE_CLIENT = '1234-abc.apps.googleusercontent.com';
const TID_A = 'aaaaaaaa-0000-0000-0000-00000000000a';
const TID_OTHER = 'bbbbbbbb-0000-0000-0000-00000000000b';
const entraIss = (tid: string) => `https://login.microsoftonline.com/${tid}/v2.0`;

interface Signer {
  key: CryptoKey;
  kid: string;
}

describe('bearer tokens from Entra ID, Google and the development issuer', () => {
  let jwksServer: Server;
  let t: TestApp;
  let entra: Signer;
  let google: Signer;
  let rogue: Signer;

  async function signer(kid: string): Promise<{ signer: Signer; jwk: JWK }> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    return {
      signer: { key: privateKey, kid },
      jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
    };
  }

  beforeAll(async () => {
    const e = await signer('entra-1');
    const g = await signer('google-1');
    const r = await signer('entra-1'); // same kid as Entra's real key, different key
    entra = e.signer;
    google = g.signer;
    rogue = r.signer;
    jwksServer = createServer((req, res) => {
      const keys = req.url === '/entra/keys' ? [e.jwk] : req.url === '/google/certs' ? [g.jwk] : null;
      res.writeHead(keys ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(keys ? { keys } : {}));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
    t = await createTestApp('sqlite', {
      ENTRA_CLIENT_IDS: ENTRA_APP,
      ENTRA_JWKS_URL: `${base}/entra/keys`,
      GOOGLE_CLIENT_IDS: GOOGLE_CLIENT,
      GOOGLE_JWKS_URL: `${base}/google/certs`,
      ADMIN_EMAILS: 'chief@a.example.org',
    });
    await t.store.db
      .updateTable('practices')
      .set({ entra_tenant_id: TID_A })
      .where('id', '=', t.practiceA)
      .execute();
  });
  afterAll(async () => {
    await t?.cleanup();
    await new Promise((resolve) => jwksServer?.close(resolve));
  });

  function entraToken(
    over: {
      tid?: string;
      iss?: string;
      aud?: string;
      exp?: number;
      roles?: string[];
      email?: string;
      key?: Signer;
      alg?: string;
    } = {},
  ) {
    const tid = over.tid ?? TID_A;
    const s = over.key ?? entra;
    return new SignJWT({
      tid,
      oid: 'oid-123',
      preferred_username: over.email ?? 'dr.entra@a.example.org',
      roles: over.roles ?? [],
    })
      .setProtectedHeader({ alg: over.alg ?? 'RS256', kid: s.kid, typ: 'JWT' })
      .setIssuer(over.iss ?? entraIss(tid))
      .setAudience(over.aud ?? ENTRA_APP)
      .setIssuedAt()
      .setExpirationTime(over.exp ?? Math.floor(Date.now() / 1000) + 600)
      .sign(s.key);
  }

  function googleToken(
    over: {
      iss?: string;
      aud?: string;
      hd?: string | null;
      email?: string;
      verified?: boolean;
      exp?: number;
    } = {},
  ) {
    return new SignJWT({
      email: over.email ?? 'dr.google@a.example.org',
      email_verified: over.verified ?? true,
      ...(over.hd === null ? {} : { hd: over.hd ?? 'a.example.org' }),
    })
      .setProtectedHeader({ alg: 'RS256', kid: google.kid, typ: 'JWT' })
      .setIssuer(over.iss ?? 'https://accounts.google.com')
      .setAudience(over.aud ?? GOOGLE_CLIENT)
      .setSubject('google-sub-1')
      .setIssuedAt()
      .setExpirationTime(over.exp ?? Math.floor(Date.now() / 1000) + 600)
      .sign(google.key);
  }

  const call = (token: string) =>
    t.app.request('/v1/policy', { headers: { authorization: `Bearer ${token}` } });

  async function expectRefused(token: string, reason: string) {
    const res = await call(token);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
    const last = await t.store.db
      .selectFrom('audit_events')
      .select('details')
      .where('action', '=', 'auth.failure')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(last.details)).toMatchObject({ reason });
  }

  it('accepts an Entra token of the practice’s tenant and provisions the clinician once', async () => {
    expect((await call(await entraToken())).status).toBe(200);
    expect((await call(await entraToken())).status).toBe(200);
    const rows = await t.store.db
      .selectFrom('clinicians')
      .selectAll()
      .where('email', '=', 'dr.entra@a.example.org')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      practice_id: t.practiceA,
      role: 'clinician',
      external_subject: `entra:${TID_A}:oid-123`,
    });
  });

  it('makes admins from the Entra app role and from ADMIN_EMAILS', async () => {
    const put = (token: string) =>
      t.app.request('/v1/policy', {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
    expect((await put(await entraToken({ email: 'dr.entra@a.example.org' }))).status).toBe(403);
    expect(
      (await put(await entraToken({ email: 'lead@a.example.org', roles: ['Attune.Admin'] }))).status,
    ).toBe(200);
    expect((await put(await googleToken({ email: 'chief@a.example.org' }))).status).toBe(200);
  });

  it('accepts a Google ID token whose hosted domain is a practice domain', async () => {
    expect((await call(await googleToken())).status).toBe(200);
    expect((await call(await googleToken({ iss: 'accounts.google.com' }))).status).toBe(200);
  });

  it('refuses an unsigned token (alg none)', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: entraIss(TID_A), aud: ENTRA_APP, tid: TID_A, oid: 'x', preferred_username: 'x@a.example.org', iat: now, exp: now + 600 })}.`;
    await expectRefused(none, 'bad_algorithm');
  });

  it('refuses an HS256 token keyed with public material (algorithm confusion)', async () => {
    const secret = new TextEncoder().encode('public-key-bytes-used-as-a-shared-secret');
    const hs = await new SignJWT({ tid: TID_A, oid: 'x', preferred_username: 'x@a.example.org' })
      .setProtectedHeader({ alg: 'HS256', kid: 'entra-1' })
      .setIssuer(entraIss(TID_A))
      .setAudience(ENTRA_APP)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(secret);
    await expectRefused(hs, 'bad_algorithm');
  });

  it('refuses a token signed by the wrong key under a known key id', async () => {
    await expectRefused(await entraToken({ key: rogue }), 'bad_signature');
  });

  it('refuses a token for another audience', async () => {
    await expectRefused(await entraToken({ aud: 'some-other-app' }), 'wrong_audience');
    await expectRefused(await googleToken({ aud: 'other.apps.googleusercontent.com' }), 'wrong_audience');
  });

  it('refuses a token from an unknown or mismatched issuer', async () => {
    await expectRefused(
      await entraToken({ iss: `https://login.evil.example/${TID_A}/v2.0` }),
      'unknown_issuer',
    );
    await expectRefused(await entraToken({ iss: entraIss(TID_OTHER) }), 'wrong_issuer');
    await expectRefused(
      await googleToken({ iss: 'https://accounts.google.com.evil.example' }),
      'unknown_issuer',
    );
  });

  it('refuses an expired token', async () => {
    await expectRefused(await entraToken({ exp: Math.floor(Date.now() / 1000) - 3600 }), 'expired');
    await expectRefused(await googleToken({ exp: Math.floor(Date.now() / 1000) - 3600 }), 'expired');
  });

  it('refuses tokens of a tenant or domain that is no practice’s, or of another domain than claimed', async () => {
    await expectRefused(await entraToken({ tid: TID_OTHER }), 'unknown_practice');
    await expectRefused(
      await googleToken({ hd: 'elsewhere.example', email: 'dr@elsewhere.example' }),
      'unknown_practice',
    );
    await expectRefused(
      await googleToken({ hd: 'a.example.org', email: 'dr@b.example.org' }),
      'domain_mismatch',
    );
    await expectRefused(await googleToken({ hd: null }), 'missing_claims');
    await expectRefused(await googleToken({ verified: false }), 'email_unverified');
    await expectRefused(await t.devIssuer.sign({ email: 'dr@elsewhere.example' }), 'unknown_practice');
  });

  it('maps a Google user of practice B to practice B only', async () => {
    const tok = await googleToken({ hd: 'b.example.org', email: 'dr@b.example.org' });
    expect((await call(tok)).status).toBe(200);
    const row = await t.store.db
      .selectFrom('clinicians')
      .select('practice_id')
      .where('email', '=', 'dr@b.example.org')
      .executeTakeFirstOrThrow();
    expect(row.practice_id).toBe(t.practiceB);
  });

  it('audits logins without the email address', async () => {
    const logins = await t.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'auth.login')
      .execute();
    expect(logins.length).toBeGreaterThan(0);
    expect(JSON.stringify(logins)).not.toContain('@');
  });
});
