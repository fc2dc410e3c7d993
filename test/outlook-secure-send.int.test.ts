/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser.)
// From Outlook to the patient and back, with every real part: the compose pane served by the real
// server at /addin/ runs in Chromium (only Office.js is the add-in's fake), "Send securely" goes to
// POST /v1/messages, the in-process SMTP relay receives the PHI-free notice, the patient opens the
// secure link in Chromium and replies, and the message's status becomes "replied".
import { join } from 'node:path';
import { scan } from '@attune/shared/phi';
import { MessageStatusResponseSchema } from '@attune/shared/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ARTIFACTS,
  CLINICIAN,
  PRACTICE_NAME,
  officeWrites,
  openPane,
  secureLinkIn,
  startE2E,
  waitForMailTo,
  waitUntil,
  type E2E,
} from './support/e2e.ts';

const PATIENT = 'jordan.alvarez@patient.example';
const SUBJECT = 'Follow-up for Jordan Alvarez';
const HTML =
  '<p>Hi Jordan,</p><p>Your PHQ-9 suggests moderate major depressive disorder. Start sertraline 50 mg daily. DOB 03/14/1985 on file. Call 555-201-7788 with questions.</p>';
const DRAFT = {
  mode: 'compose',
  subject: SUBJECT,
  html: HTML,
  to: [PATIENT],
  // What the OnMessageSend handler passes when it blocks Send and offers "Send securely".
  initializationContext: JSON.stringify({ v: 1, reason: 'review', types: ['NAME', 'DIAGNOSIS'] }),
};

let e: E2E;
/** Carried from the send to the patient's side. */
const flow: { messageId?: string; link?: string } = {};

beforeAll(async () => {
  e = await startE2E();
}, 60_000);
afterAll(async () => {
  await e?.close();
});

describe('Outlook compose pane against the real server', () => {
  it('highlights the findings, sends securely through the server, the relay gets a PHI-free notice, and the draft is discarded', async () => {
    const pane = await openPane(e, 'compose.html', DRAFT, { width: 320 });
    const { page } = pane;
    await page.getByRole('heading', { name: /Findings/ }).waitFor();
    const marks = await page.locator('mark.phi').allTextContents();
    expect(marks).toEqual(
      expect.arrayContaining(['Jordan', 'major depressive disorder', '03/14/1985', '555-201-7788']),
    );
    expect(marks.some((m) => m.startsWith('sertraline 50 mg'))).toBe(true);
    // Each finding is listed with its reason.
    const items = await page.locator('ol.findings li').allTextContents();
    expect(items.some((t) => t.includes('major depressive disorder'))).toBe(true);
    // Works at 320 px: nothing scrolls sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await page.screenshot({ path: join(ARTIFACTS, 'compose-findings-320.png'), fullPage: true });

    const mailsBefore = e.f.smtp.received.length;
    const posted = page.waitForResponse(
      (r) => r.url() === `${e.f.url}/v1/messages` && r.request().method() === 'POST',
    );
    await page.getByRole('button', { name: 'Send securely' }).click();
    const res = await posted;
    expect(res.status()).toBe(202);
    const sent = (await res.json()) as {
      id: string;
      decision: string;
      recipients: { email: string; method: string }[];
    };
    expect(sent.decision).toBe('encrypt');
    expect(sent.recipients).toEqual([expect.objectContaining({ email: PATIENT, method: 'link' })]);
    flow.messageId = sent.id;
    await page.getByText(/Sent securely/).waitFor();
    await expect.poll(async () => (await officeWrites(page)).closed).toEqual([{ discardItem: true }]);
    await page.screenshot({ path: join(ARTIFACTS, 'compose-sent-320.png'), fullPage: true });

    // The relay received the notice: generic subject, the practice's name, a 256-bit link, no PHI.
    const { mail, text, subject } = await waitForMailTo(e.f, PATIENT, mailsBefore);
    expect(subject).not.toContain('Jordan');
    expect(text).toContain(PRACTICE_NAME);
    flow.link = secureLinkIn(e.f, text);
    const raw = mail.raw.toString('utf8');
    const original = scan(`${SUBJECT}\n${HTML.replace(/<[^>]+>/g, ' ')}`);
    expect(original.map((x) => x.type)).toEqual(expect.arrayContaining(['NAME', 'DIAGNOSIS', 'MEDICATION']));
    for (const finding of original) expect(raw).not.toContain(finding.text);
    // The shared detector finds nothing in the notice besides our own link (the test server's
    // address is an IP, which the detector rightly flags in general).
    expect(scan(`${subject}\n${text.split(flow.link).join('[secure link]')}`)).toEqual([]);

    expect(pane.cspViolations).toEqual([]);
    expect(pane.blocked).toEqual([]);
    // Nothing about the message in browser storage.
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    await pane.context.close();
  });

  it('the patient opens the link from that notice in Chromium, sees the message and replies; the message is replied', async () => {
    expect(flow.link, 'the send test ran first').toBeTruthy();
    const context = await e.browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const res = await page.goto(flow.link!);
    expect(res?.status()).toBe(200);
    expect(res!.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    await expect(page.locator('h1').textContent()).resolves.toBe(PRACTICE_NAME);
    await expect(page.locator('.subject').textContent()).resolves.toBe(SUBJECT);
    expect(await page.locator('.body').textContent()).toContain('Start sertraline 50 mg daily');

    const mailsBefore = e.f.smtp.received.length;
    await page.fill(
      'textarea[name=text]',
      'Thank you. I picked up the prescription today and will start tomorrow morning.',
    );
    await Promise.all([page.waitForURL(/replied=1/), page.click('button[type=submit]')]);
    await expect(page.locator('.note').textContent()).resolves.toContain('Your reply was sent securely');
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-replied.png'), fullPage: true });
    await context.close();

    const status = await waitUntil(async () => {
      const s = MessageStatusResponseSchema.parse(
        await (await e.f.api('GET', `/v1/messages/${flow.messageId}`)).json(),
      );
      return s.recipients[0]?.status === 'replied' ? s : null;
    }, 'status replied');
    expect(status.recipients[0]).toMatchObject({ email: PATIENT, status: 'replied' });
    // The clinician is told by a PHI-free email.
    const { mail } = await waitForMailTo(e.f, CLINICIAN, mailsBefore);
    const raw = mail.raw.toString('utf8');
    expect(raw).not.toContain('prescription');
    expect(raw).not.toContain(PATIENT);
  });
});

describe('Outlook compose pane: retrying a send whose answer was lost', () => {
  it('the server answers the retry with the message it already accepted (same Idempotency-Key): one message, one notice', async () => {
    const patient = 'riley.nguyen@patient.example';
    const pane = await openPane(e, 'compose.html', { ...DRAFT, to: [patient] });
    const { page } = pane;
    await page.getByRole('heading', { name: /Findings/ }).waitFor();
    const mailsBefore = e.f.smtp.received.length;
    // The first POST reaches the real server and is committed, then its answer is lost on the way
    // back (a dropped connection): the pane cannot know whether anything was sent.
    let lost: { id: string } | undefined;
    await page.route(`${e.f.url}/v1/messages`, async (route) => {
      if (lost) return route.continue();
      const res = await route.fetch();
      lost = (await res.json()) as { id: string };
      expect(res.status()).toBe(202);
      return route.abort('connectionreset');
    });
    await page.getByRole('button', { name: 'Send securely' }).click();
    await page.getByText(/may not have been sent\. Try again: it will not be sent twice\./).waitFor();
    expect(lost?.id).toBeTruthy();
    await waitForMailTo(e.f, patient, mailsBefore);

    const retried = page.waitForResponse(
      (r) => r.url() === `${e.f.url}/v1/messages` && r.request().method() === 'POST',
    );
    await page.getByRole('button', { name: 'Send securely' }).click();
    const res = await retried;
    expect(res.status()).toBe(202);
    expect(((await res.json()) as { id: string }).id).toBe(lost!.id);
    await page.getByText('Sent securely.', { exact: true }).waitFor();
    await expect.poll(async () => (await officeWrites(page)).closed).toEqual([{ discardItem: true }]);
    expect(await page.locator('#send-secure').isDisabled()).toBe(true);
    // Give a second notice time to arrive if one had been sent.
    await new Promise((r) => setTimeout(r, 1500));
    expect(e.f.smtp.received.slice(mailsBefore).filter((m) => m.to.includes(patient))).toHaveLength(1);
    await page.screenshot({ path: join(ARTIFACTS, 'compose-retry-sent-320.png'), fullPage: true });
    await pane.context.close();
  });
});

describe('every add-in page under the CSP the server sends', () => {
  it('runtime.html loads the send handler, which registers the manifest function, with no CSP violation', async () => {
    const pane = await openPane(e, 'runtime.html', { mode: 'compose' }, {});
    // Recorded through a setter, since the fake defines window.Office when its script runs.
    await pane.page.addInitScript(() => {
      let office: unknown;
      Object.defineProperty(window, 'Office', {
        configurable: true,
        get: () => office,
        set(v: { actions: { associate(name: string, fn: unknown): void } }) {
          const associate = v.actions.associate.bind(v.actions);
          v.actions.associate = (name, fn) => {
            ((window as unknown as { __associated?: string[] }).__associated ??= []).push(name);
            associate(name, fn);
          };
          office = v;
        },
      });
    });
    const errors: string[] = [];
    pane.page.on('pageerror', (err) => errors.push(err.message));
    await pane.page.reload();
    await expect
      .poll(() =>
        pane.page.evaluate(() => (window as unknown as { __associated?: string[] }).__associated ?? []),
      )
      .toEqual(['attuneOnMessageSend']);
    expect(errors).toEqual([]);
    expect(pane.cspViolations).toEqual([]);
    await pane.context.close();
  });

  it('help.html renders with its styles and no CSP violation', async () => {
    const pane = await openPane(e, 'help.html', {}, {});
    await pane.page.getByRole('heading', { name: 'Attune for Outlook' }).waitFor();
    // styles.css applied (not blocked): the body does not keep the browser's default 8px margin.
    expect(await pane.page.evaluate(() => getComputedStyle(document.body).margin)).not.toBe('8px');
    expect(pane.cspViolations).toEqual([]);
    await pane.context.close();
  });
});
