// Test support for the whole-API suites (api-fuzz, route-audit): the real server via startServer
// (port 0, a temp DATA_DIR, SQLite), its pino output captured line by line, two practices, tokens of
// every kind a caller can present, and one patient and one secure message of practice A whose
// secure-link token is read from the .eml the embedded mail folder receives. Not production code.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { generateKeyPair, SignJWT } from 'jose';
import { testConfig } from '../config.ts';
import { loadDevIssuer, type DevIssuer } from '../identity/index.ts';
import { startServer, type RunningServer } from '../index.ts';
import { createLogger } from '../log.ts';
import { ensurePractice } from '../store/index.ts';

/** What a route pattern looks like in `app.routes` and in the request log: `GET /v1/patients/:id`. */
export type RouteKey = `${string} ${string}`;

export interface ApiFixture {
  server: RunningServer;
  url: string;
  dataDir: string;
  devIssuer: DevIssuer;
  /** Every log line the server wrote so far (pino JSON). */
  logs: string[];
  practiceA: string;
  practiceB: string;
  tokens: {
    clinicianA: string;
    adminA: string;
    clinicianB: string;
    adminB: string;
    /** Signed by the dev issuer's key, expired a minute ago. */
    expired: string;
    /** Right issuer, audience and kid, signed by a key that is not the issuer's. */
    forged: string;
    /** `alg: none`, no signature. */
    algNone: string;
    /** Well-formed and signed, for a domain that is no practice's. */
    unknownPractice: string;
  };
  /** Practice A's patient and message (and the message's secure-link token). */
  patientA: { id: string; email: string };
  messageA: { id: string; linkToken: string };
  /** A second patient of practice B, for cross-practice probes. */
  patientB: { id: string; email: string };
  /** Every distinct (method, path pattern) the app routes, middleware entries excluded. */
  routes(): RouteKey[];
  request(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  close(): Promise<void>;
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Distinct routes with a handler: Hono lists middleware (method ALL) and each handler of a route. */
export function routeKeys(routes: readonly { method: string; path: string }[]): RouteKey[] {
  const keys = new Set<RouteKey>();
  for (const r of routes) if (r.method !== 'ALL') keys.add(`${r.method} ${r.path}`);
  return [...keys].sort();
}

export async function startApiFixture(opts: {
  patientEmail: string;
  patientName: string;
  env?: Record<string, string>;
}): Promise<ApiFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'attune-api-'));
  const logs: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _enc, cb) {
        // One entry per log line (a chunk may hold several).
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(line);
        cb();
      },
    }),
  });
  const config = testConfig(dataDir, {
    PRACTICE_NAME: 'Practice A',
    PRACTICE_DOMAINS: 'a.example.org',
    LOG_LEVEL: 'debug',
    ...opts.env,
  });
  const server = await startServer(config, { logger });
  try {
    const { practiceId: practiceB } = await ensurePractice(server.store.db, {
      name: 'Practice B',
      domains: ['b.example.org'],
    });
    const dev = config.identity.dev;
    const devIssuer = await loadDevIssuer({
      dataDir,
      issuer: dev.issuer,
      audience: dev.audience,
      ttlSeconds: 600,
    });
    const kid = devIssuer.jwks.keys[0]?.kid ?? 'dev';
    const { privateKey: otherKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const claims = { email: 'dr.a@a.example.org', email_verified: true };
    const tokens: ApiFixture['tokens'] = {
      clinicianA: await devIssuer.sign({ email: 'dr.a@a.example.org' }),
      adminA: await devIssuer.sign({ email: 'boss@a.example.org', admin: true }),
      clinicianB: await devIssuer.sign({ email: 'dr.b@b.example.org' }),
      adminB: await devIssuer.sign({ email: 'boss@b.example.org', admin: true }),
      expired: await devIssuer.sign({ email: 'dr.a@a.example.org', ttlSeconds: -60 }),
      forged: await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setIssuer(dev.issuer)
        .setAudience(dev.audience)
        .setSubject('dev:dr.a@a.example.org')
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(otherKey),
      algNone: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...claims, iss: dev.issuer, aud: dev.audience, sub: 'dev:dr.a@a.example.org', iat: now, exp: now + 600 })}.`,
      unknownPractice: await devIssuer.sign({ email: 'dr.x@nowhere.example.net' }),
    };
    const url = server.url;
    const request = (path: string, init: RequestInit & { token?: string } = {}) => {
      const { token, headers, ...rest } = init;
      const h = new Headers(headers);
      if (token !== undefined) h.set('authorization', `Bearer ${token}`);
      return fetch(`${url}${path}`, { ...rest, headers: h });
    };
    const postJson = async (path: string, token: string, body: unknown) => {
      const r = await request(path, {
        method: 'POST',
        token,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (r.status >= 300) throw new Error(`fixture: POST ${path} answered ${r.status}: ${await r.text()}`);
      return (await r.json()) as Record<string, unknown>;
    };
    const patientA = await postJson('/v1/patients', tokens.clinicianA, {
      email: opts.patientEmail,
      name: opts.patientName,
      timeZone: 'America/New_York',
    });
    const emailB = opts.patientEmail.replace('@', '.b@');
    const patientB = await postJson('/v1/patients', tokens.clinicianB, {
      email: emailB,
      name: opts.patientName,
    });
    const sent = await postJson('/v1/messages', tokens.clinicianA, {
      to: [opts.patientEmail],
      subject: 'Check-in',
      text: 'See you next week.',
    });
    const linkToken = await waitForLinkToken(config.mailDir);
    const routes = () => routeKeys(server.app.routes);
    return {
      server,
      url,
      dataDir,
      devIssuer,
      logs,
      practiceA: server.practiceId,
      practiceB,
      tokens,
      patientA: { id: String(patientA['id']), email: opts.patientEmail },
      patientB: { id: String(patientB['id']), email: emailB },
      messageA: { id: String(sent['id']), linkToken },
      routes,
      request,
      async close() {
        await server.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** Every .eml in the mail folder, quoted-printable soft breaks undone. */
export function mailTexts(mailDir: string): string[] {
  return readdirSync(mailDir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => readFileSync(join(mailDir, f), 'utf8').replace(/=\r?\n/g, ''));
}

/** Every secure-link token in the notices of the mail folder. */
export function linkTokens(mailDir: string): string[] {
  return mailTexts(mailDir).flatMap((eml) =>
    [...eml.matchAll(/\/m\/([A-Za-z0-9_-]{20,})/g)].map((m) => m[1]!),
  );
}

/** Waits for a secure-link token that is not in `known` to reach the mail folder. */
export async function waitForLinkToken(
  mailDir: string,
  known: ReadonlySet<string> = new Set(),
): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const fresh = linkTokens(mailDir).find((t) => !known.has(t));
    if (fresh) return fresh;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error('fixture: no new secure-link notice reached the mail folder');
}
