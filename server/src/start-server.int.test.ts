import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SendMessageResponseSchema } from '@attune/shared/api';
import { testConfig } from './config.ts';
import { loadDevIssuer } from './identity/index.ts';
import { startServer, type RunningServer } from './index.ts';
import { openStore } from './store/index.ts';
import { FORGED_MESSAGE, forgeBodyCt, rewriteArchived } from './testing/tamper.ts';

// startServer with PORT=0 and no PUBLIC_URL (tests, `npm start` on a free port): links must point at
// the address the server really listens on, not http://localhost:0.

const LINK = /(https?:\/\/[^\s"<>]+)\/m\/([A-Za-z0-9_-]{43})/;

let server: RunningServer | null = null;
let dataDir = '';
afterEach(async () => {
  await server?.close();
  server = null;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function start(env: Record<string, string> = {}): Promise<RunningServer> {
  dataDir = mkdtempSync(join(tmpdir(), 'attune-start-'));
  server = await startServer(
    testConfig(dataDir, {
      HOST: '127.0.0.1',
      PRACTICE_NAME: 'Calm Waters Counseling',
      PRACTICE_DOMAINS: 'calm.example',
      ...env,
    }),
  );
  return server;
}

async function post(s: RunningServer, body: unknown): Promise<Response> {
  const issuer = await loadDevIssuer({
    dataDir,
    issuer: s.config.identity.dev.issuer,
    audience: s.config.identity.dev.audience,
    ttlSeconds: 600,
  });
  const token = await issuer.sign({ email: 'dr.lee@calm.example' });
  return fetch(`${s.url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('startServer on PORT=0 without PUBLIC_URL', () => {
  it('uses the bound address as PUBLIC_URL, so the secure link in a client notice opens the viewer', async () => {
    const s = await start();
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.url).not.toMatch(/:0$/);
    expect(s.config.publicUrl).toBe(s.url);
    const r = await post(s, {
      to: ['pat@patient.example'],
      subject: 'Results',
      text: 'Your A1C is 6.1.',
      delivery: 'client',
    });
    expect(r.status).toBe(202);
    const res = SendMessageResponseSchema.parse(await r.json());
    const m = LINK.exec(res.notice.text);
    expect(m?.[1]).toBe(s.url);
    const page = await fetch(m![0]);
    expect(page.status).toBe(200);
  });

  it('puts the bound address into the links of the notices it emails', async () => {
    const s = await start();
    expect(
      (await post(s, { to: ['pat@patient.example'], subject: 'Results', text: 'Your A1C is 6.1.' })).status,
    ).toBe(202);
    const dir = join(dataDir, 'mail');
    let files: string[] = [];
    for (let i = 0; i < 200 && files.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 25));
      files = readdirSync(dir).filter((f) => f.endsWith('.eml'));
    }
    const eml = readFileSync(join(dir, files[0]!), 'utf8').replace(/=\r?\n/g, '');
    expect(LINK.exec(eml)?.[1]).toBe(s.url);
  });

  it('keeps a PUBLIC_URL that was given explicitly', async () => {
    const s = await start({ PUBLIC_URL: 'https://attune.calm.example' });
    expect(s.config.publicUrl).toBe('https://attune.calm.example');
  });
});

// Requests Node's HTTP parser rejects before the app runs: Node's own answer has no body and no
// content type; ours keeps the API's error shape and security headers, and echoes nothing.
describe('requests the HTTP parser rejects', () => {
  function raw(url: string, request: string): Promise<string> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const sock = connect(Number(port), hostname, () => sock.end(request));
      let out = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (out += d));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
    });
  }

  it('answers headers over the size limit with 431 and the JSON error shape', async () => {
    const s = await start();
    const marker = 'Jane Roe depression';
    const res = await fetch(`${s.url}/v1/policy`, {
      headers: { authorization: `Bearer ${'a'.repeat(20_000)}`, 'x-note': marker },
    });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=31536000/);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      error: { code: 'headers_too_large', message: expect.any(String) as string },
    });
    expect(text).not.toContain('Jane');
    // The server keeps serving after it.
    expect((await fetch(`${s.url}/healthz`)).status).toBeLessThan(500);
  });

  it('answers a malformed request line with 400 and the JSON error shape', async () => {
    const s = await start();
    const text = await raw(s.url, 'GET /m/Jane%20Roe HTTP/9.x\r\nHost: x\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toMatch(/\r\ncontent-type: application\/json/i);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(JSON.parse(body)).toEqual({
      error: { code: 'bad_request', message: expect.any(String) as string },
    });
    expect(text).not.toContain('Jane');
  });
});

describe('startServer and content MACs', () => {
  const restart = (s: RunningServer) =>
    startServer(
      testConfig(dataDir, {
        HOST: '127.0.0.1',
        PRACTICE_NAME: 'Calm Waters Counseling',
        PRACTICE_DOMAINS: 'calm.example',
        PUBLIC_URL: s.config.publicUrl,
        PORT: String(new URL(s.url).port),
      }),
    );
  const send = async (s: RunningServer) => {
    const r = await post(s, {
      to: ['pat@patient.example'],
      subject: 'Results',
      text: 'Your A1C is 6.1.',
      delivery: 'client',
    });
    const sent = SendMessageResponseSchema.parse(await r.json());
    return { id: sent.id, link: LINK.exec(sent.notice.text)![0] };
  };

  it('binds again a message a signed checkpoint covers that lost its MAC (a restore), so it opens again', async () => {
    const s = await start();
    const { link } = await send(s);
    // Shutdown signs a checkpoint of the archive chain; then the MAC is lost, as a restore from a
    // dump without the column would lose it. Refused until the server binds it.
    await s.close();
    server = null;
    const offline = await openStore({ dataDir }, { migrate: false });
    await offline.db.updateTable('messages').set({ body_mac: null }).execute();
    await offline.close();
    server = await restart(s);
    expect(server.notices).toContain('Bound 1 stored messages and replies to the master key (content MACs).');
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Your A1C is 6.1.');
  });

  it('leaves refused a message rewritten with its archive entry and rehashed chain, across a restart', async () => {
    const s = await start();
    const { id, link } = await send(s);
    // Someone with the database but not the master key, after the last checkpoint (there is none):
    // clears the MAC, forges the content and its archive entry, recomputes the chain.
    const db = s.store.db;
    const { practice_id } = await db
      .selectFrom('messages')
      .select('practice_id')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const forged = await forgeBodyCt(db, practice_id, FORGED_MESSAGE);
    await db.updateTable('messages').set({ body_ct: forged, body_mac: null }).where('id', '=', id).execute();
    await rewriteArchived(db, 'message', id, forged);
    // Shutdown's checkpoint run refuses to sign the stretch; the next start does not bind the row.
    await s.close();
    server = await restart(s);
    expect(server.notices.join('\n')).not.toContain('Bound');
    const html = await (await fetch(link)).text();
    expect(html).toContain('Message unavailable');
    expect(html).not.toContain('FORGED');
  });
});
