/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser.)
// End-to-end support: the real server (startServer via the delivery fixture: temp DATA_DIR, SQLite,
// an in-process smtp-server relay as SMTP_URL) serving a fresh build of the Outlook add-in at
// /addin/, and real Chromium loading the panes from it with the add-in's own fake of Office.js in
// place of Microsoft's CDN script. Nothing leaves the machine: every other request is aborted.
import { readFile, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildInto } from '../../addin-outlook/src/testing/build-once.ts';
import { startServerFixture, type ServerFixture } from '../../server/src/delivery/server-fixture.ts';
import type { ReceivedMail } from '../../server/src/delivery/smtp-sink.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const OFFICE_JS_URL = 'https://appsforoffice.microsoft.com/lib/1/hosted/office.js';
/** The add-in's faithful fake of the Office.js surface the panes use (imported, not copied). */
const FAKE_OFFICE = fileURLToPath(
  new URL('../../addin-outlook/src/testing/fake-office.browser.js', import.meta.url),
);
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/e2e/', import.meta.url));

/** The practice of the fixture; the fake mailbox belongs to its clinician. */
export const PRACTICE_NAME = 'Calm Waters Counseling';
export const CLINICIAN = 'dr.lee@calm.example';

export interface E2E {
  f: ServerFixture;
  browser: Browser;
  fakeOffice: string;
  close(): Promise<void>;
}

export async function startE2E(env: Record<string, string> = {}): Promise<E2E> {
  // Build into a temp folder so a running `npm start` (serving addin-outlook/dist) is never raced.
  const [dist, fakeOffice] = await Promise.all([
    buildInto(),
    readFile(FAKE_OFFICE, 'utf8'),
    mkdir(ARTIFACTS, { recursive: true }),
  ]);
  const f = await startServerFixture({ env: { ADDIN_DIR: dist, ...env } });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
  return {
    f,
    browser,
    fakeOffice,
    async close() {
      await browser.close().catch(() => undefined);
      await f.close();
      await rm(dist, { recursive: true, force: true });
    },
  };
}

export interface PaneHandle {
  page: Page;
  context: BrowserContext;
  /** Console messages reporting a Content-Security-Policy violation (must stay empty). */
  cspViolations: string[];
  /** Requests the page tried to make off the machine (aborted). */
  blocked: string[];
}

/**
 * Opens an add-in page from the real server in a fresh context, with the fake Office.js configured
 * by `officeConfig` (the fake's window.__ATTUNE_FAKE_OFFICE__: mode, subject, html, to, from…).
 */
export async function openPane(
  e: E2E,
  file: string,
  officeConfig: Record<string, unknown>,
  opts: { width?: number; dark?: boolean } = {},
): Promise<PaneHandle> {
  const context = await e.browser.newContext({
    viewport: { width: opts.width ?? 320, height: 900 },
    colorScheme: opts.dark ? 'dark' : 'light',
  });
  const page = await context.newPage();
  const blocked: string[] = [];
  await routeOffline(page, e, blocked);
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.addInitScript(
    (c) => {
      (window as unknown as { __ATTUNE_FAKE_OFFICE__: unknown }).__ATTUNE_FAKE_OFFICE__ = c;
    },
    { userEmail: CLINICIAN, ...officeConfig },
  );
  const res = await page.goto(`${e.f.url}/addin/${file}`);
  if (res?.status() !== 200) throw new Error(`${file}: HTTP ${res?.status()}`);
  return { page, context, cspViolations, blocked };
}

/** Office.js comes from the fake, our server is reached for real, anything else is aborted. */
export async function routeOffline(
  page: Page,
  e: E2E,
  blocked: string[],
  extra: Record<string, string> = {},
): Promise<void> {
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u === OFFICE_JS_URL)
      return route.fulfill({ status: 200, contentType: 'text/javascript', body: e.fakeOffice });
    if (u in extra) return route.fulfill({ status: 200, contentType: 'text/html', body: extra[u]! });
    if (u.startsWith(e.f.url)) return route.continue();
    blocked.push(u);
    return route.abort();
  });
}

/** What the fake Office.js recorded: writes to the item and closeAsync calls. */
export interface OfficeWrites {
  subject: string[];
  body: { value: string; coercionType?: string }[];
  removedAttachments: string[];
  headers: unknown[];
  closed: { discardItem?: boolean }[];
}

export function officeWrites(page: Page): Promise<OfficeWrites> {
  return page.evaluate(() => (window as unknown as { __officeWrites: OfficeWrites }).__officeWrites);
}

/** Waits for a mail to `to` received after index `from`; returns it with its parsed text. */
export async function waitForMailTo(
  f: ServerFixture,
  to: string,
  from: number,
  timeoutMs = 10_000,
): Promise<{ mail: ReceivedMail; text: string; subject: string }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const mail = f.smtp.received.slice(from).find((m) => m.to.includes(to));
    if (mail) {
      const parsed = await simpleParser(mail.raw);
      return { mail, text: parsed.text ?? '', subject: parsed.subject ?? '' };
    }
    if (Date.now() > until) throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The secure link in a notice (a 256-bit token: 43 base64url characters). */
export function secureLinkIn(f: ServerFixture, text: string): string {
  const esc = f.url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const m = new RegExp(`${esc}/m/[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])`).exec(text);
  if (!m) throw new Error('no secure link in the notice');
  return m[0];
}

/** The patient opens the link in Chromium and replies through the viewer's form. */
export async function replyInViewer(
  e: E2E,
  link: string,
  reply: string,
  opts: { screenshot?: string } = {},
): Promise<void> {
  const context = await e.browser.newContext({ viewport: { width: 390, height: 844 } });
  try {
    const page = await context.newPage();
    const res = await page.goto(link);
    if (res?.status() !== 200) throw new Error(`viewer: HTTP ${res?.status()}`);
    await page.fill('textarea[name=text]', reply);
    await Promise.all([page.waitForURL(/replied=1/), page.click('button[type=submit]')]);
    if (opts.screenshot) await page.screenshot({ path: `${ARTIFACTS}${opts.screenshot}`, fullPage: true });
  } finally {
    await context.close();
  }
}

export async function waitUntil<T>(
  fn: () => Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
