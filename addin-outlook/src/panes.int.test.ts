// The compose and read panes in real Chromium, served from a build of dist/ by a small HTTP server
// that also speaks the Attune API (fake), with a faithful fake of Office.js in place of the CDN
// script. Screenshots go to test-artifacts/addin-outlook/.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInto } from './testing/build-once.ts';
import { CRISIS_SENTENCE, DEMO_PATIENT, demoCaseload, demoEngagement } from './testing/engagement-fixture.ts';
import type { Engagement } from '@attune/shared/api';
import { NOTICE_HTML, startFakeApi } from './testing/fake-api.ts';
import type { FakeApi } from './testing/fake-api.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/addin-outlook/', import.meta.url));
const FAKE_OFFICE = fileURLToPath(new URL('./testing/fake-office.browser.js', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.png': 'image/png',
};

let dist: string;
let api: FakeApi;
let browser: Browser;
let fakeOffice: string;

beforeAll(async () => {
  dist = await buildInto();
  fakeOffice = await readFile(FAKE_OFFICE, 'utf8');
  await mkdir(ARTIFACTS, { recursive: true });
  api = await startFakeApi({
    policy: { internalDomains: ['practice.example'] },
    static: (path, res) => serveDist(path, res),
    routes: {
      'POST /v1/engagement/lookup': (r) =>
        r.auth !== 'Bearer dev-token-1'
          ? [401, { error: { code: 'unauthenticated', message: 'Sign in.' } }]
          : (r.body as { email?: string } | undefined)?.email === DEMO_PATIENT
            ? [200, demoEngagement()]
            : (r.body as { email?: string } | undefined)?.email === SECOND_PATIENT
              ? [200, secondPatient()]
              : [
                  404,
                  {
                    error: {
                      code: 'patient_not_found',
                      message: 'No patient with that email in your practice.',
                    },
                  },
                ],
      'GET /v1/caseload': () => [200, demoCaseload()],
      // The server's scan of attachment contents: intake.pdf holds PHI; broken.pdf: the server fails.
      'POST /v1/scan': (r) => {
        const files = (r.body as { attachments?: { filename: string }[] }).attachments ?? [];
        if (files.some((f) => f.filename === 'broken.pdf'))
          return [500, { error: { code: 'internal', message: 'Something went wrong.' } }];
        return files.some((f) => f.filename === 'intake.pdf')
          ? [
              200,
              {
                decision: 'encrypt',
                reasons: ['Attachment 1 (PDF) contains a name and a diagnosis.'],
                phi: true,
                types: ['NAME', 'DIAGNOSIS'],
                fields: [{ field: 'attachment:0', types: ['NAME', 'DIAGNOSIS'] }],
                attachments: [{ kind: 'pdf', read: 'full' }],
              },
            ]
          : [200, { decision: 'allow', reasons: [], phi: false, types: [], fields: [], attachments: [] }];
      },
      [`GET /v1/replies/${REPLY_ID}`]: () => [
        200,
        {
          id: REPLY_ID,
          messageId: '7d1f0c2e-5b3a-4c8e-9f21-0a6b4e3d2c10',
          from: DEMO_PATIENT,
          receivedAt: '2026-11-20T18:05:00.000Z',
          source: 'email',
          otherSender: 'j.alvarez.work@example.net',
          text: 'Thursday at 4 works.\nThe new routine is helping.',
          crisis: false,
        },
      ],
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  if (dist) await rm(dist, { recursive: true, force: true });
});

function serveDist(path: string, res: ServerResponse): boolean {
  const url = path.split('?')[0] ?? '';
  if (!url.startsWith('/addin/')) return false;
  const file = normalize(join(dist, url.slice('/addin/'.length)));
  if (!file.startsWith(dist) || !existsSync(file)) return false;
  void readFile(file).then((body) => {
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  });
  return true;
}

async function openPane(
  page: string,
  config: Record<string, unknown>,
  opts: { width?: number; dark?: boolean } = {},
): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: opts.width ?? 360, height: 900 },
    colorScheme: opts.dark ? 'dark' : 'light',
  });
  const p = await context.newPage();
  // Office.js from the CDN is replaced by the fake; nothing else may leave the machine.
  await p.route('**/*', (route) => {
    const u = route.request().url();
    if (u === 'https://appsforoffice.microsoft.com/lib/1/hosted/office.js') {
      return route.fulfill({ status: 200, contentType: 'text/javascript', body: fakeOffice });
    }
    if (u.startsWith(api.url)) return route.continue();
    return route.abort();
  });
  await p.addInitScript((c) => {
    (window as unknown as { __ATTUNE_FAKE_OFFICE__: unknown }).__ATTUNE_FAKE_OFFICE__ = c;
  }, config);
  await p.goto(`${api.url}/addin/${page}`);
  return p;
}

/** The reference of a secure reply in its notice (GET /v1/replies/:id). */
const REPLY_ID = '1b4e28ba-2fa1-4d2c-8ee4-7c5b6f0a1e2d';

/** A patient whose appointments came with their outcomes only (no "scheduled" events). */
const SECOND_PATIENT = 'casey.lin@example.net';
function secondPatient(): Engagement {
  const e = demoEngagement();
  return {
    ...e,
    patient: { ...e.patient, email: SECOND_PATIENT, name: 'Casey Lin' },
    appointments: {
      ...e.appointments,
      scheduled: 0,
      attended: 5,
      missed: 2,
      rescheduled: 1,
      cancelled: 1,
      noShowRate: 0.286,
      rescheduleRate: 0.111,
    },
    alerts: [
      {
        kind: 'missed_appointments',
        severity: 'warning',
        since: '2026-11-01T00:00:00.000Z',
        message: 'Two missed sessions this month.',
        reasons: ['2 of the last 3 sessions missed.'],
      },
      {
        kind: 'unanswered',
        severity: 'info',
        since: null,
        message: 'Two messages without a reply.',
        reasons: ['No reply in 12 days.'],
      },
    ],
  };
}

type Writes = { closed: unknown[]; closeFailed?: number };
const writesOf = (page: Page) =>
  page.evaluate(() => (window as unknown as { __officeWrites: Writes }).__officeWrites);
const postedMessages = () => api.requests.filter((r) => r.path === '/v1/messages');

const PHI_DRAFT = {
  mode: 'compose',
  subject: 'Follow-up for Jane',
  html: '<p>Hi Jane,</p><p>Your sertraline 50 mg for major depressive disorder is ready. DOB 03/14/1985.</p>',
  to: ['pat.jones@gmail.com'],
  initializationContext: JSON.stringify({ v: 1, reason: 'review', types: ['NAME', 'DIAGNOSIS'] }),
};

describe('compose pane in Chromium', () => {
  it('lists the findings with reasons and highlights them in the preview', async () => {
    const page = await openPane('compose.html', PHI_DRAFT, { width: 320 });
    await page.getByRole('heading', { name: /Findings/ }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    const marks = await page.locator('mark.phi').allTextContents();
    expect(marks).toEqual(expect.arrayContaining(['Jane', 'sertraline 50 mg', 'major depressive disorder']));
    const items = await page.locator('ol.findings li').allTextContents();
    expect(items.some((t) => t.includes('a diagnosis') && t.includes('major depressive disorder'))).toBe(
      true,
    );
    expect(await page.locator('.finding-reason').first().textContent()).toMatch(/\w/);
    await page.screenshot({ path: join(ARTIFACTS, 'compose-findings-320.png'), fullPage: true });
    await page.context().close();
  });

  it('sends securely through the server, then discards the draft', async () => {
    const page = await openPane('compose.html', PHI_DRAFT);
    const before = api.requests.filter((r) => r.path === '/v1/messages').length;
    await page.getByRole('button', { name: 'Send securely' }).click();
    await page.getByText(/Sent securely/).waitFor();
    const posted = api.requests.filter((r) => r.path === '/v1/messages');
    expect(posted.length).toBe(before + 1);
    // The draft is discarded, so the server must email the notice: delivery "server".
    expect(posted[posted.length - 1]!.body).toMatchObject({
      to: ['pat.jones@gmail.com'],
      subject: 'Follow-up for Jane',
      html: PHI_DRAFT.html,
      delivery: 'server',
    });
    await expect
      .poll(() =>
        page.evaluate(
          () => (window as unknown as { __officeWrites: { closed: unknown[] } }).__officeWrites.closed,
        ),
      )
      .toEqual([{ discardItem: true }]);
    // Sent is terminal: nothing can be sent again from this pane.
    await expect.poll(() => page.locator('#send-secure').isDisabled()).toBe(true);
    expect(await page.locator('#send-best').isDisabled()).toBe(true);
    expect(await page.locator('#redact').isDisabled()).toBe(true);
    expect(await page.locator('#status').textContent()).toBe('Sent securely.');
    expect(posted[posted.length - 1]!.idempotencyKey).toMatch(/^outlook-compose-[0-9a-f-]{36}$/);
    await page.context().close();
  });

  it('after the server accepted, a failed discard says sent (not "nothing was sent") and the pane cannot send again', async () => {
    const page = await openPane('compose.html', { ...PHI_DRAFT, closeAsyncFails: true }, { width: 320 });
    const before = postedMessages().length;
    await page.getByRole('button', { name: 'Send securely' }).click();
    const status = page.locator('#status');
    await expect
      .poll(() => status.textContent())
      .toBe('Sent securely. Discard this draft yourself (it still holds the original text).');
    expect(await page.getByText(/Nothing was sent/).count()).toBe(0);
    expect((await writesOf(page)).closeFailed).toBe(1);
    expect(await page.getByRole('alert').filter({ hasText: 'Discard it yourself' }).count()).toBe(1);
    for (const id of ['#send-secure', '#send-best', '#redact'])
      expect(await page.locator(id).isDisabled(), id).toBe(true);
    // Even a forced click on the disabled button sends nothing more.
    await page.locator('#send-secure').click({ force: true });
    await page.waitForTimeout(300);
    expect(postedMessages().length).toBe(before + 1);
    await page.screenshot({ path: join(ARTIFACTS, 'compose-sent-discard-failed-320.png'), fullPage: true });
    await page.context().close();
  });

  it('a retry after an unconfirmed send reuses the Idempotency-Key of the compose session', async () => {
    const page = await openPane('compose.html', PHI_DRAFT);
    const before = postedMessages().length;
    api.options.messages = [503, 'unavailable'];
    try {
      await page.getByRole('button', { name: 'Send securely' }).click();
      await page.getByText(/may not have been sent\. Try again: it will not be sent twice\./).waitFor();
      expect(await page.locator('#send-secure').isDisabled()).toBe(false);
    } finally {
      api.options.messages = 'ok';
    }
    await page.getByRole('button', { name: 'Send securely' }).click();
    await page.getByText('Sent securely.', { exact: true }).waitFor();
    const keys = postedMessages()
      .slice(before)
      .map((r) => r.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBeTruthy();
    expect(keys[1]).toBe(keys[0]);
    // Another compose session gets another key.
    const other = await openPane('compose.html', PHI_DRAFT);
    await other.getByRole('button', { name: 'Send securely' }).click();
    await other.getByText('Sent securely.', { exact: true }).waitFor();
    expect(postedMessages().at(-1)!.idempotencyKey).not.toBe(keys[0]);
    await other.context().close();
    await page.context().close();
  });

  it('a draft edited after an unconfirmed send: says an earlier version went, revokes it on request, then sends the edit under a new key', async () => {
    const page = await openPane('compose.html', PHI_DRAFT);
    const before = postedMessages().length;
    const createdBefore = api.created.length;
    // Both answers lost after the server committed: the first send's, then the edited draft's. 5xx
    // rather than a dropped connection: Chromium retries a POST whose reused connection closes
    // without an answer, which would consume the answers in another order.
    api.options.lostAnswers = [503, 502];
    try {
      await page.getByRole('button', { name: 'Send securely' }).click();
      await page.getByText(/may not have been sent\. Try again/).waitFor();
      const edited = PHI_DRAFT.html.replace('</p>', ' Take it with food.</p>');
      await page.evaluate((h) => {
        (window as unknown as { __fakeOfficeEdit(h: string): void }).__fakeOfficeEdit(h);
      }, edited);
      // The old key now names the earlier message (409 conflict): nothing more is sent until the
      // clinician chooses.
      await page.getByRole('button', { name: 'Send securely' }).click();
      await page.getByText('An earlier version of this message was already sent securely').waitFor();
      expect(postedMessages().length).toBe(before + 2);
      expect(api.created.length).toBe(createdBefore + 1);
      expect(await page.locator('#send-secure').isDisabled()).toBe(true);
      expect(await page.locator('#send-best').isDisabled()).toBe(true);
      const card = (await page.locator('section[aria-labelledby="earlier-h"]').textContent()) ?? '';
      for (const phi of ['Jane', 'sertraline', 'depressive', '1985']) expect(card).not.toContain(phi);
      await page.screenshot({ path: join(ARTIFACTS, 'compose-earlier-version-360.png'), fullPage: true });

      await page.getByRole('button', { name: 'Revoke it and send this version' }).click();
      // The edit's own answer is lost too (502): the earlier version is revoked, and a click again
      // on the edited draft finds the edited message: no third one.
      await page.getByText(/Revoked the earlier version\..*may not have been sent\. Try again/).waitFor();
      expect(api.revoked.at(-1)).toBe(api.created[createdBefore]!.id);
      await page.getByRole('button', { name: 'Send securely' }).click();
      await page.getByText('Sent securely.', { exact: true }).waitFor();
      const posts = postedMessages().slice(before);
      const [k1, conflicted, k2, retried] = posts.map((r) => r.idempotencyKey);
      expect(posts).toHaveLength(4);
      expect(conflicted).toBe(k1);
      expect(k2).toMatch(/^outlook-compose-/);
      expect(k2).not.toBe(k1);
      expect(retried).toBe(k2);
      const created = api.created.slice(createdBefore);
      expect(created.map((m) => m.idempotencyKey)).toEqual([k1, k2]);
      expect((created[1]!.body as { html: string }).html).toBe(edited);
      expect((await writesOf(page)).closed).toEqual([{ discardItem: true }]);
    } finally {
      api.options.lostAnswers = [];
    }
    await page.context().close();
  });

  it('"Schedule" after an unconfirmed "Send securely" is not a second message: the clinician keeps the earlier one', async () => {
    const page = await openPane('compose.html', PHI_DRAFT);
    const createdBefore = api.created.length;
    const revokedBefore = api.revoked.length;
    api.options.lostAnswers = [503];
    try {
      await page.getByRole('button', { name: 'Send securely' }).click();
      await page.getByText(/may not have been sent\. Try again/).waitFor();
    } finally {
      api.options.lostAnswers = [];
    }
    await page.getByRole('button', { name: "Schedule at patient's best hour" }).click();
    await page.getByText('An earlier version of this message was already sent securely').waitFor();
    expect(api.created.length).toBe(createdBefore + 1);
    await page.getByRole('button', { name: "Keep it; don't send this version" }).click();
    await page.getByText('The earlier version stands; this version was not sent.', { exact: true }).waitFor();
    expect(api.created.length).toBe(createdBefore + 1);
    expect(api.revoked.length).toBe(revokedBefore);
    expect((await writesOf(page)).closed).toEqual([{ discardItem: true }]);
    expect(await page.locator('#send-secure').isDisabled()).toBe(true);
    await page.context().close();
  });

  it("opened by the send handler's Review after a 409: offers to revoke the message it names, then sends this version", async () => {
    const earlier = await fetch(`${api.url}/v1/messages`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer dev-token-1',
        'content-type': 'application/json',
        'idempotency-key': 'outlook-send-h',
      },
      body: JSON.stringify({ to: PHI_DRAFT.to, html: '<p>earlier</p>', delivery: 'client' }),
    });
    const { id } = (await earlier.json()) as { id: string };
    const createdBefore = api.created.length;
    const page = await openPane('compose.html', {
      ...PHI_DRAFT,
      initializationContext: JSON.stringify({ v: 1, reason: 'earlier_sent', types: ['NAME'], messageId: id }),
    });
    await page.getByText('An earlier version of this message was already sent securely').waitFor();
    expect(await page.locator('#send-secure').isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Revoke it and send this version' }).click();
    await page.getByText('Revoked the earlier version. Sent securely.', { exact: true }).waitFor();
    expect(api.revoked.at(-1)).toBe(id);
    expect(api.created.length).toBe(createdBefore + 1);
    expect((api.created.at(-1)!.body as { delivery: string }).delivery).toBe('server');
    await page.context().close();
  });

  it("opened by the send handler's Review after a 409 for a one-patient send: Keep it makes the draft that version's notice for Send", async () => {
    // The handler's secure send (delivery "client", one patient) whose answer was lost: the draft was
    // to be the patient's only email with the link, and the notice never reached it.
    const earlier = await fetch(`${api.url}/v1/messages`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer dev-token-1',
        'content-type': 'application/json',
        'idempotency-key': 'outlook-send-keep',
      },
      body: JSON.stringify({ to: PHI_DRAFT.to, html: '<p>earlier</p>', delivery: 'client' }),
    });
    const { id } = (await earlier.json()) as { id: string };
    const createdBefore = api.created.length;
    const page = await openPane('compose.html', {
      ...PHI_DRAFT,
      attachments: [{ id: 'att-9', name: 'plan.txt', content: 'cGxhbg==' }],
      initializationContext: JSON.stringify({ v: 1, reason: 'earlier_sent', types: ['NAME'], messageId: id }),
    });
    await page.getByText('An earlier version of this message was already sent securely').waitFor();
    await page.getByRole('button', { name: "Keep it; don't send this version" }).click();
    await page
      .getByText(/this draft is now its notice with the patient’s secure link\. Press Send/)
      .waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'compose-kept-earlier-360.png'), fullPage: true });
    expect(api.requests.at(-1)).toMatchObject({ method: 'POST', path: `/v1/messages/${id}/notice` });
    expect(api.created.length).toBe(createdBefore);
    const w = (await writesOf(page)) as Writes & {
      body: { value: string }[];
      subject: string[];
      removedAttachments: string[];
      headers: Record<string, string>[];
      sessionData: Record<string, string>;
    };
    // The draft is kept (it is what the patient gets) and became the notice, noted for Send.
    expect(w.closed).toEqual([]);
    expect(w.body.map((b) => b.value)).toEqual([NOTICE_HTML]);
    expect(w.subject).toEqual(['Secure message']);
    expect(w.removedAttachments).toEqual(['att-9']);
    expect(w.headers).toEqual([{ 'x-attune-secured': id }]);
    expect(w.sessionData['attune.keptEarlierMessage']).toBe(id);
    expect(await page.locator('#send-secure').isDisabled()).toBe(true);
    await page.context().close();
  });

  it('Keep it on a host without sessionData changes nothing and says to revoke and send instead', async () => {
    const earlier = await fetch(`${api.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer dev-token-1', 'content-type': 'application/json' },
      body: JSON.stringify({ to: PHI_DRAFT.to, html: '<p>earlier 2</p>', delivery: 'client' }),
    });
    const { id } = (await earlier.json()) as { id: string };
    const page = await openPane('compose.html', {
      ...PHI_DRAFT,
      noSessionData: true,
      initializationContext: JSON.stringify({ v: 1, reason: 'earlier_sent', types: ['NAME'], messageId: id }),
    });
    await page.getByRole('button', { name: "Keep it; don't send this version" }).click();
    await page.getByText(/cannot hand the notice to Send/).waitFor();
    const w = (await writesOf(page)) as Writes & { body: unknown[] };
    expect(w.closed).toEqual([]);
    expect(w.body).toEqual([]);
    expect(await page.getByRole('button', { name: 'Revoke it and send this version' }).isEnabled()).toBe(
      true,
    );
    await page.context().close();
  });

  it('health content without identifiers: the status line agrees with the "No PHI found" card', async () => {
    const page = await openPane(
      'compose.html',
      {
        mode: 'compose',
        subject: 'Reading for next week',
        html: '<p>Continue sertraline 50 mg for major depressive disorder and keep the sleep diary.</p>',
        to: ['frontdesk@partner-clinic.example'],
      },
      { width: 320 },
    );
    await page.getByRole('heading', { name: 'No PHI found' }).waitFor();
    expect(await page.locator('#status').textContent()).toBe(
      'Health content found, nothing identifying: no encryption required.',
    );
    expect(await page.locator('body').textContent()).not.toMatch(/kind\(s\)|PHI found\./);
    await page.screenshot({ path: join(ARTIFACTS, 'compose-health-only-320.png'), fullPage: true });
    await page.context().close();
  });

  it('an open pane reads the draft again when Send is blocked again (InitializationContextChanged)', async () => {
    // Opened on a harmless draft; then PHI was written and Send was blocked with "review".
    const page = await openPane('compose.html', {
      mode: 'compose',
      subject: 'Follow-up for Jane',
      html: '<p>See you next week.</p>',
      to: ['pat.jones@gmail.com'],
    });
    await page.getByRole('heading', { name: 'No PHI found' }).waitFor();
    await page.evaluate(
      ([html, ctx]) =>
        (
          window as unknown as { __fakeOfficeBlockedAgain(h: string, c: string): void }
        ).__fakeOfficeBlockedAgain(html!, ctx!),
      [PHI_DRAFT.html, PHI_DRAFT.initializationContext],
    );
    await page.getByRole('heading', { name: 'PHI found' }).waitFor();
    expect(await page.getByRole('button', { name: 'Send securely' }).isEnabled()).toBe(true);
    expect(await page.locator('mark.phi').allTextContents()).toEqual(
      expect.arrayContaining(['sertraline 50 mg', 'major depressive disorder']),
    );
    await page.context().close();
  });

  it('PHI to an external recipient: the status line says PHI found and to send securely', async () => {
    const page = await openPane('compose.html', PHI_DRAFT);
    await page.getByRole('heading', { name: 'PHI found' }).waitFor();
    expect(await page.locator('#status').textContent()).toMatch(/^PHI found \(\d+ kinds\): send securely\.$/);
    await page.context().close();
  });

  it("asks the server about a PDF's contents, and offers Send securely for what it found there", async () => {
    const draft = (name: string) => ({
      mode: 'compose',
      subject: 'Forms',
      html: '<p>Here is the form we talked about.</p>',
      to: ['pat.jones@gmail.com'],
      attachments: [{ id: 'att-1', name, content: Buffer.from('%PDF-1.4 intake').toString('base64') }],
    });
    const scans = () => api.requests.filter((r) => r.path === '/v1/scan');
    const before = scans().length;
    const page = await openPane('compose.html', draft('intake.pdf'));
    await page.getByRole('heading', { name: 'PHI found' }).waitFor();
    expect(await page.locator('ul.reasons').textContent()).toContain('Attachment 1 (PDF) contains');
    expect(await page.getByRole('button', { name: 'Send securely' }).isEnabled()).toBe(true);
    expect(scans()).toHaveLength(before + 1);
    expect(scans().at(-1)!.body).toMatchObject({
      to: ['pat.jones@gmail.com'],
      attachments: [{ filename: 'intake.pdf', contentType: expect.any(String) }],
    });
    await page.context().close();

    // The server cannot be asked: the pane says the attachments are unchecked (Send asks again).
    const failed = await openPane('compose.html', draft('broken.pdf'));
    await failed.getByText(/could not check the attachments/).waitFor();
    await failed.context().close();
  });

  it("schedules at the patient's best hour", async () => {
    const page = await openPane('compose.html', PHI_DRAFT);
    await page.getByRole('button', { name: /best hour/ }).click();
    await page.getByText(/Scheduled securely/).waitFor();
    const posted = api.requests.filter((r) => r.path === '/v1/messages');
    expect(posted[posted.length - 1]!.body).toMatchObject({ sendAt: 'best' });
    await page.context().close();
  });

  it('redacts: writes placeholders into the draft and then has nothing left to secure', async () => {
    const page = await openPane('compose.html', PHI_DRAFT);
    await page.getByRole('button', { name: /Redact/ }).click();
    await page.getByText(/Redacted|still/).waitFor();
    const writes = await page.evaluate(
      () =>
        (window as unknown as { __officeWrites: { body: { value: string }[]; subject: string[] } })
          .__officeWrites,
    );
    expect(writes.body).toHaveLength(1);
    expect(writes.body[0]!.value).toContain('[DIAGNOSIS]');
    expect(writes.body[0]!.value).not.toContain('major depressive disorder');
    expect(writes.body[0]!.value).toContain('<p>');
    expect(writes.subject[0]).toContain('[NAME]');
    expect(writes.subject[0]).not.toContain('Jane');
    await page.screenshot({ path: join(ARTIFACTS, 'compose-redacted.png'), fullPage: true });
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    await page.context().close();
  });
});

describe('read pane in Chromium', () => {
  it('titles alerts in words and counts every appointment outcome in n', async () => {
    const page = await openPane('read.html', { mode: 'read', from: SECOND_PATIENT }, { width: 320 });
    await page.locator('.banner').first().waitFor();
    expect(await page.locator('.banner strong').allTextContents()).toEqual([
      'Missed appointments',
      'Unanswered messages',
    ]);
    const row = page.locator('.metric').filter({ hasText: 'Appointments' });
    expect(await row.locator('.metric-value').textContent()).toBe(
      '5 attended, 2 missed, 1 rescheduled, 1 cancelled; no-show 29%, rescheduled 11%',
    );
    expect(await row.locator('.metric-basis').textContent()).toMatch(/^ \(n=9\) /);
    await page.screenshot({ path: join(ARTIFACTS, 'read-alerts-appointments-320.png'), fullPage: true });
    await page.context().close();
  });

  it("shows the demo patient's insights with the crisis banner first, and sanitized charts", async () => {
    const page = await openPane('read.html', { mode: 'read', from: DEMO_PATIENT }, { width: 320 });
    const banner = page.locator('.banner').first();
    await banner.waitFor();
    expect(await banner.getAttribute('class')).toContain('banner-crisis');
    expect(await banner.getAttribute('role')).toBe('alert');
    expect(await banner.locator('blockquote').textContent()).toBe(CRISIS_SENTENCE);
    await page.getByText('60%').first().waitFor();
    expect(await page.getByText(/7 pm/).count()).toBeGreaterThan(0);
    expect(await page.locator('figure svg polyline').count()).toBe(2);
    expect(await page.locator('svg script, svg a').count()).toBe(0);
    expect(
      await page.evaluate(() => [
        (window as unknown as Record<string, unknown>).__svgOnload,
        (window as unknown as Record<string, unknown>).__svgScript,
      ]),
    ).toEqual([undefined, undefined]);
    // Works at 320 px: nothing scrolls sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await page.screenshot({ path: join(ARTIFACTS, 'read-crisis-320.png'), fullPage: true });
    await page.context().close();
  });

  it("shows a patient's secure reply when its notice is selected, then that patient's insights", async () => {
    const page = await openPane('read.html', {
      mode: 'read',
      from: 'notices@practice.example',
      subject: 'New secure reply (Practice A)',
      readBody: `A patient replied to your secure message.\n\nOpen Attune in Outlook or Gmail to read it.\nReference: ${REPLY_ID}`,
    });
    await page.getByRole('heading', { name: 'Secure reply' }).waitFor();
    expect(await page.locator('.reply-text').textContent()).toBe(
      'Thursday at 4 works.\nThe new routine is helping.',
    );
    expect(await page.locator('.reply .muted').textContent()).toContain(`From ${DEMO_PATIENT}`);
    // It came by email from another address than the patient's: the clinician is told which.
    expect(await page.locator('.reply-sender').textContent()).toContain(
      'Sent from j.alvarez.work@example.net',
    );
    // The patient who replied, not the notice's sender: the demo patient's crisis banner follows.
    await page.locator('.banner-crisis').first().waitFor();
    expect(await page.locator('#status').textContent()).toBe('');
    await page.context().close();
  });

  it('sends a check-in through the server with checkIn:true', async () => {
    const page = await openPane('read.html', { mode: 'read', from: DEMO_PATIENT });
    await page.getByRole('button', { name: 'Send a check-in' }).click();
    expect(await page.locator('#ci-text').inputValue()).toContain('check in');
    await page.getByRole('button', { name: 'Send check-in securely' }).click();
    await page.getByText('Check-in sent securely.').waitFor();
    const posted = api.requests.filter((r) => r.path === '/v1/messages');
    expect(posted[posted.length - 1]!.body).toMatchObject({
      to: [DEMO_PATIENT],
      checkIn: true,
      subject: 'Checking in',
    });
    expect(posted[posted.length - 1]!.idempotencyKey).toMatch(/^outlook-checkin-/);
    // A sent check-in stays sent: a second click cannot send it twice.
    expect(await page.getByRole('button', { name: 'Send check-in securely' }).isDisabled()).toBe(true);
    await page.context().close();
  });

  it('re-renders when the selected message changes, and shows the caseload tab by keyboard', async () => {
    const page = await openPane('read.html', { mode: 'read', from: DEMO_PATIENT }, { dark: true });
    await page.locator('.banner-crisis').waitFor();
    await page.evaluate(() =>
      (window as unknown as { __fakeOfficeSelect(f: string): void }).__fakeOfficeSelect(
        'stranger@example.org',
      ),
    );
    await page.getByText('The sender is not a patient of your practice.').waitFor();
    expect(await page.locator('.banner-crisis').count()).toBe(0);
    await page.getByRole('tab', { name: 'Patient' }).focus();
    await page.keyboard.press('ArrowRight');
    await page.locator('ol.triage li').first().waitFor();
    expect(await page.getByRole('tab', { name: 'Caseload' }).getAttribute('aria-selected')).toBe('true');
    expect(await page.locator('ol.triage li').first().textContent()).toContain('Crisis');
    expect(await page.locator('.caseload > p.muted').textContent()).toMatch(/^2 patients\. /);
    await page.screenshot({ path: join(ARTIFACTS, 'read-caseload-dark.png'), fullPage: true });
    // Nothing about patients (or anything else) is left in browser storage.
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    await page.context().close();
  });
});
