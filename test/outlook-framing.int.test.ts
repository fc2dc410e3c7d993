/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser.)
// Outlook on the web frames the add-in panes. Over HTTPS (as `npm start` serves them with a
// certificate), in real Chromium: a pane framed by an Outlook origin loads and works; the same pane
// framed by any other site is refused by the browser; the API is never framable, not even by Outlook.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInto } from '../addin-outlook/src/testing/build-once.ts';
import { testConfig } from '../server/src/config.ts';
import { startServer, type RunningServer } from '../server/src/index.ts';
import { writeSelfSignedCert } from '../server/src/testing/tls.ts';
import { ARTIFACTS, CHROMIUM, CLINICIAN, OFFICE_JS_URL } from './support/e2e.ts';
import { readFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const OUTLOOK = 'https://outlook.office.com/mail/';
const EVIL = 'https://evil.example/';
const FAKE_OFFICE = fileURLToPath(
  new URL('../addin-outlook/src/testing/fake-office.browser.js', import.meta.url),
);

let tmp: string;
let dist: string;
let server: RunningServer;
let browser: Browser;
let fakeOffice: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'attune-framing-'));
  const { cert, key } = writeSelfSignedCert(tmp);
  [dist, fakeOffice] = await Promise.all([
    buildInto(),
    readFile(FAKE_OFFICE, 'utf8'),
    mkdir(ARTIFACTS, { recursive: true }),
  ]);
  server = await startServer(
    testConfig(join(tmp, 'data'), {
      TLS_CERT_FILE: cert,
      TLS_KEY_FILE: key,
      ADDIN_DIR: dist,
      PRACTICE_DOMAINS: 'calm.example',
    }),
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Chromium's Local Network Access checks stop a public page (here the stand-in for Outlook on
    // the web) from framing a loopback address (our test server), before our headers are even seen.
    // A real deployment is not on loopback; for local sideloading the browser asks the user (see
    // the README). Turned off here so the test is about frame-ancestors.
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-features=LocalNetworkAccessChecks',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dist) rmSync(dist, { recursive: true, force: true });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A top-level page at `host` (served by route, never fetched) that frames `framed` from our server. */
async function hostPage(host: string, framed: string): Promise<{ page: Page; refused: string[] }> {
  // The test certificate is self-signed; trust is not what this test is about.
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 800, height: 900 },
  });
  const page = await context.newPage();
  const refused: string[] = [];
  page.on('console', (m) => {
    if (/frame-ancestors|Refused to (display|frame)/i.test(m.text())) refused.push(m.text());
  });
  await page.addInitScript(
    (c) => {
      (window as unknown as { __ATTUNE_FAKE_OFFICE__: unknown }).__ATTUNE_FAKE_OFFICE__ = c;
    },
    {
      mode: 'compose',
      userEmail: CLINICIAN,
      subject: 'Plan',
      html: '<p>Start sertraline 50 mg for major depressive disorder.</p>',
      to: ['pat@patient.example'],
    },
  );
  const html = `<!doctype html><title>host</title><body style="margin:0"><iframe id="pane" src="${server.url}${framed}" width="320" height="860" style="border:0"></iframe></body>`;
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u === host) return route.fulfill({ status: 200, contentType: 'text/html', body: html });
    if (u === OFFICE_JS_URL)
      return route.fulfill({ status: 200, contentType: 'text/javascript', body: fakeOffice });
    if (u.startsWith(server.url)) return route.continue();
    return route.abort();
  });
  await page.goto(host);
  return { page, refused };
}

async function paneFrame(page: Page): Promise<Frame> {
  const handle = await page.waitForSelector('#pane');
  const frame = await handle.contentFrame();
  if (!frame) throw new Error('no frame');
  return frame;
}

describe('framing the add-in over HTTPS', () => {
  it('serves over HTTPS', () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('Outlook on the web can frame the compose pane, which loads Office.js and works', async () => {
    const { page, refused } = await hostPage(OUTLOOK, '/addin/compose.html');
    const frame = await paneFrame(page);
    await frame.getByRole('heading', { name: /Findings/ }).waitFor({ timeout: 15_000 });
    expect(await frame.locator('mark.phi').count()).toBeGreaterThan(0);
    expect(refused).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'framed-by-outlook.png') });
    await page.context().close();
  });

  it('any other site is refused by the browser', async () => {
    const { page, refused } = await hostPage(EVIL, '/addin/compose.html');
    await expect.poll(() => refused.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(refused.join('\n')).toContain('frame-ancestors');
    const frame = await paneFrame(page);
    // The browser shows its error page: none of our document (and no Office.js) ran inside.
    expect(await frame.locator('#app').count()).toBe(0);
    await page.context().close();
  });

  it('the API is not framable, not even by Outlook', async () => {
    const { page, refused } = await hostPage(OUTLOOK, '/healthz');
    await expect.poll(() => refused.length, { timeout: 10_000 }).toBeGreaterThan(0);
    const frame = await paneFrame(page);
    expect(await frame.evaluate(() => document.body?.textContent ?? '').catch(() => '')).not.toContain(
      '"status"',
    );
    await page.context().close();
  });
});
