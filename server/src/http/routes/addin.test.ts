// The Outlook add-in served at /addin/ and the well-known allowed list: content types, caching,
// the CSP that lets Outlook frame the panes (and only the panes), traversal refused, static files
// exempt from the anonymous rate limit, and HTTPS for `npm start` when given a certificate.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALLOWED_LIST_PATH, allowedList } from '@attune/addin-outlook/serve-info';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, testConfig } from '../../config.ts';
import { startServer } from '../../index.ts';
import { createTestApp, type TestApp } from '../testing.ts';
import { addinBuildProblems, addinCsp, addinFileFor } from './addin.ts';
import { writeSelfSignedCert } from '../../testing/tls.ts';

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A small stand-in build: the real build is exercised by the end-to-end suites in test/. */
function fakeBuild(): string {
  const root = tempDir('attune-addin-build-');
  const dist = join(root, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'compose.html'), '<!doctype html><title>compose</title>');
  writeFileSync(join(dist, 'compose.js'), 'void 0;');
  writeFileSync(join(dist, 'styles.css'), 'body{}');
  writeFileSync(join(dist, 'assets', 'icon-16.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  writeFileSync(join(dist, 'notes.txt'), 'not a served type');
  writeFileSync(join(dist, '.env'), 'SECRET=1');
  // Outside the build folder: must never be reachable, directly or through a symlink.
  writeFileSync(join(root, 'secret.js'), 'const secret = 1;');
  symlinkSync(join(root, 'secret.js'), join(dist, 'escape.js'));
  return dist;
}

let t: TestApp;
let dist: string;

beforeAll(async () => {
  dist = fakeBuild();
  t = await createTestApp('sqlite', { ADDIN_DIR: dist, PUBLIC_URL: 'https://attune.example.org' });
});

afterAll(async () => {
  await t?.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('add-in static files', () => {
  it('serves a pane page as HTML that Outlook may frame and that admits Office.js', async () => {
    const res = await t.app.request('/addin/compose.html');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toContain('<title>compose</title>');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self' https://appsforoffice.microsoft.com");
    expect(csp).toMatch(/connect-src 'self' [^;]*https:\/\/login\.microsoftonline\.com/);
    expect(csp).toMatch(
      /frame-ancestors 'self' [^;]*https:\/\/outlook\.office\.com[^;]*https:\/\/outlook\.office365\.com[^;]*https:\/\/\*\.officeapps\.live\.com/,
    );
    expect(csp).not.toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    // X-Frame-Options: DENY would stop Outlook on the web from framing the pane.
    expect(res.headers.get('x-frame-options')).toBeNull();
    // The rest of the security headers still apply.
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toContain('max-age=31536000');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('etag')).toMatch(/^W\/"/);
  });

  it('serves scripts, styles and icons with their types; icons may be cached for a day', async () => {
    const js = await t.app.request('/addin/compose.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('no-cache');
    const css = await t.app.request('/addin/styles.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const png = await t.app.request('/addin/assets/icon-16.png');
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(png.headers.get('cache-control')).toBe('public, max-age=86400');
    expect(new Uint8Array(await png.arrayBuffer())).toEqual(new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
  });

  it('answers a revalidation with 304 while the file is unchanged, and HEAD without a body', async () => {
    const first = await t.app.request('/addin/compose.js');
    const etag = first.headers.get('etag')!;
    const again = await t.app.request('/addin/compose.js', { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const stale = await t.app.request('/addin/compose.js', { headers: { 'If-None-Match': 'W/"0-0"' } });
    expect(stale.status).toBe(200);
    const head = await t.app.request('/addin/compose.html', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/html; charset=utf-8');
  });

  it.each([
    '/addin/missing.html',
    '/addin/',
    '/addin/assets',
    '/addin/../package.json',
    '/addin/%2e%2e/secret.js',
    '/addin/..%2fsecret.js',
    '/addin/assets/..%2f..%2fsecret.js',
    '/addin/%2e%2e%5csecret.js',
    '/addin/.env',
    '/addin/notes.txt',
    '/addin/escape.js',
    '/addin/compose.html%00.png',
    '/addin/%E0%A4%A',
  ])('refuses %s with a JSON 404 and never leaks a file outside the build', async (path) => {
    const res = await t.app.request(path);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('not_found');
    expect(JSON.stringify(body)).not.toContain('secret');
  });

  it('maps request paths to build files only for plain, typed names', () => {
    expect(addinFileFor('/addin/assets/icon-16.png')).toBe('assets/icon-16.png');
    expect(addinFileFor('/addin/read.html')).toBe('read.html');
    expect(addinFileFor('/addin/a//b.js')).toBeNull();
    expect(addinFileFor('/addin/%2e%2e/x.js')).toBeNull();
    expect(addinFileFor('/other/read.html')).toBeNull();
    expect(addinFileFor('/addin/read.exe')).toBeNull();
  });

  it('says clearly when the add-in has not been built', async () => {
    const missing = await createTestApp('sqlite', { ADDIN_DIR: join(tempDir('attune-nobuild-'), 'dist') });
    try {
      const res = await missing.app.request('/addin/compose.html');
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message).toContain('npm run build -w addin-outlook');
      expect(addinBuildProblems(join(tempDir('attune-nobuild-'), 'dist'))[0]).toMatch(/does not exist/);
      expect(addinBuildProblems(dist)).toContain('launchevent.js is missing');
    } finally {
      await missing.cleanup();
    }
  });

  it('keeps the API unframeable: frame-ancestors none and X-Frame-Options DENY', async () => {
    for (const path of ['/healthz', '/v1/policy', '/no-such-endpoint']) {
      const res = await t.app.request(path);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
  });

  it('adds configured frame ancestors (on-premises Outlook on the web) and rejects non-https ones', () => {
    expect(addinCsp(['https://owa.example.org'])).toMatch(/frame-ancestors [^;]*https:\/\/owa\.example\.org/);
    expect(() =>
      testConfig(tempDir('attune-cfg-'), { ADDIN_FRAME_ANCESTORS: 'http://owa.example.org' }),
    ).toThrow(/ADDIN_FRAME_ANCESTORS/);
  });

  it('does not count add-in files against the anonymous rate limit, which still guards the API', async () => {
    const limited = await createTestApp('sqlite', { ADDIN_DIR: dist, RATE_LIMIT_UNAUTH_PER_MINUTE: '5' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await limited.app.request('/addin/compose.js')).status);
      expect(new Set(statuses)).toEqual(new Set([200]));
      const api: number[] = [];
      for (let i = 0; i < 8; i++) api.push((await limited.app.request('/v1/policy')).status);
      expect(api).toContain(429);
    } finally {
      await limited.cleanup();
    }
  });
});

describe('the well-known allowed list', () => {
  it('names the send handler at the public address, as JSON', async () => {
    const res = await t.app.request(ALLOWED_LIST_PATH);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(allowedList('https://attune.example.org'));
    expect(await (await t.app.request(ALLOWED_LIST_PATH)).json()).toEqual({
      allowed: ['https://attune.example.org/addin/launchevent.js'],
    });
  });
});

describe('HTTPS for npm start', () => {
  function get(
    url: string,
    ca: Buffer | string,
  ): Promise<{ status: number; type: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }),
        );
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('serves the add-in over HTTPS with TLS_CERT_FILE and TLS_KEY_FILE, and the URL says https', async () => {
    const certDir = tempDir('attune-tls-');
    const { cert, key } = writeSelfSignedCert(certDir);
    const config = testConfig(tempDir('attune-tls-data-'), {
      TLS_CERT_FILE: cert,
      TLS_KEY_FILE: key,
      ADDIN_DIR: dist,
    });
    expect(config.tls).toEqual({ certFile: cert, keyFile: key, source: 'files' });
    const server = await startServer(config);
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const { readFileSync } = await import('node:fs');
      const res = await get(`${server.url}/addin/compose.html`, readFileSync(cert));
      expect(res.status).toBe(200);
      expect(res.type).toBe('text/html; charset=utf-8');
      expect(res.body).toContain('<title>compose</title>');
      // Plain HTTP on the same port is not served.
      await expect(fetch(`${server.url.replace('https:', 'http:')}/healthz`)).rejects.toThrow();
    } finally {
      await server.close();
    }
  });

  it("uses office-addin-dev-certs' certificate with HTTPS=dev, defaulting PUBLIC_URL to https", () => {
    const home = tempDir('attune-home-');
    const certs = join(home, '.office-addin-dev-certs');
    mkdirSync(certs);
    writeSelfSignedCert(certs);
    const config = loadConfig({ HTTPS: 'dev', HOME: home, DATA_DIR: tempDir('attune-d-') });
    expect(config.tls).toEqual({
      certFile: join(certs, 'localhost.crt'),
      keyFile: join(certs, 'localhost.key'),
      source: 'office-addin-dev-certs',
    });
    expect(config.publicUrl).toBe('https://localhost:3000');
  });

  it('refuses to start with a clear message when the certificate is missing or half-configured', () => {
    const home = tempDir('attune-home-');
    expect(() => loadConfig({ HTTPS: 'dev', HOME: home })).toThrow(/npx office-addin-dev-certs install/);
    expect(() => loadConfig({ TLS_CERT_FILE: '/nonexistent/cert.pem' })).toThrow(/set both/);
    try {
      loadConfig({ TLS_CERT_FILE: '/nonexistent/c.pem', TLS_KEY_FILE: '/nonexistent/k.pem' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([
        'TLS_CERT_FILE: file not found',
        'TLS_KEY_FILE: file not found',
      ]);
    }
    expect(() => loadConfig({ HTTPS: 'true' })).toThrow(/HTTPS: must be dev/);
  });
});

describe('attune serve (npm start) with a certificate', () => {
  const BIN = fileURLToPath(new URL('../../../bin/attune.mjs', import.meta.url));

  it('says in its banner that it serves HTTPS, where the add-in is, and stops cleanly', async () => {
    const dir = tempDir('attune-serve-');
    const { cert, key } = writeSelfSignedCert(dir);
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: {
        ...process.env,
        ATTUNE_ENV: 'development',
        DATA_DIR: join(dir, 'data'),
        PORT: '0',
        TLS_CERT_FILE: cert,
        TLS_KEY_FILE: key,
        ADDIN_DIR: dist,
        LOG_LEVEL: 'silent',
        PUBLIC_URL: '',
        HTTPS: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const until = Date.now() + 30_000;
      while (!out.includes('Get a development token') && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      expect(out).toMatch(/Attune is running at https:\/\/127\.0\.0\.1:\d+/);
      expect(out).toContain('Transport:     HTTPS (TLS_CERT_FILE / TLS_KEY_FILE)');
      expect(out).toContain(
        'Integrity:     signed chain checkpoints every 1 h and at shutdown; keep copies: npx attune checkpoint > checkpoints.asc',
      );
      // The fake build lacks files the manifest needs: the banner says what to run.
      expect(out).toMatch(
        /Outlook:\s+add-in not built \(runtime\.html is missing\): run\s+npm run build -w addin-outlook/,
      );
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('Stopping');
  }, 40_000);
});
