import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testConfig } from '../config.ts';
import { loadDevIssuer } from '../identity/index.ts';
import { startServer, type RunningServer } from '../index.ts';
import { deliveryFor, type Delivery } from './index.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';

// Test support: the real server (startServer) on a free port with a temp DATA_DIR, SQLite, and an
// in-process SMTP relay (smtp-server) as SMTP_URL, STARTTLS on by default. Not production code.

export interface ServerFixture {
  server: RunningServer;
  smtp: SmtpSink;
  delivery: Delivery;
  url: string;
  token(email?: string, admin?: boolean): Promise<string>;
  api(
    method: string,
    path: string,
    body?: unknown,
    opts?: { token?: string; headers?: Record<string, string>; raw?: string },
  ): Promise<Response>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function startServerFixture(
  opts: { env?: Record<string, string>; starttls?: boolean } = {},
): Promise<ServerFixture> {
  // The viewer's links need PUBLIC_URL to name the real port, so the port is picked first; another
  // suite may grab it in between, hence a few tries.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 4 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

async function startOnce(opts: { env?: Record<string, string>; starttls?: boolean }): Promise<ServerFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'attune-srv-'));
  const smtp = await startSmtpSink({ starttls: opts.starttls ?? true });
  const port = await freePort();
  const config = testConfig(dataDir, {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    PRACTICE_NAME: 'Calm Waters Counseling',
    PRACTICE_DOMAINS: 'calm.example',
    SMTP_URL: smtp.url(),
    SMTP_REQUIRE_TLS: opts.starttls === false ? 'false' : 'true',
    RATE_LIMIT_PER_MINUTE: '100000',
    // A real PORT would put the gateway on its default 2525, shared by every suite running at once.
    GATEWAY_PORT: '0',
    ...opts.env,
  });
  let server: RunningServer;
  try {
    server = await startServer(config, {});
  } catch (err) {
    await smtp.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const delivery = deliveryFor(server.deps);
  const issuer = await loadDevIssuer({
    dataDir: config.dataDir,
    issuer: config.identity.dev.issuer,
    audience: config.identity.dev.audience,
    ttlSeconds: 3600,
  });
  const tokens = new Map<string, string>();
  const fixture: ServerFixture = {
    server,
    smtp,
    delivery,
    url: server.url,
    async token(email = 'dr.lee@calm.example', admin = false) {
      const k = `${email}|${admin}`;
      let t = tokens.get(k);
      if (!t) {
        t = await issuer.sign({ email, admin });
        tokens.set(k, t);
      }
      return t;
    },
    async api(method, path, body, o = {}) {
      const token = o.token ?? (await fixture.token());
      return fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined || o.raw !== undefined ? { 'content-type': 'application/json' } : {}),
          ...o.headers,
        },
        ...(o.raw !== undefined ? { body: o.raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    },
    async close() {
      await server.close();
      await smtp.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return fixture;
}
