import { simpleParser } from 'mailparser';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '@attune/shared/policy';
import { SendMessageResponseSchema } from '@attune/shared/api';
import { startServerFixture, type ServerFixture } from '../delivery/server-fixture.ts';
import { putPolicy } from '../store/index.ts';

// The patient's viewer end to end: a message sent through the API, its notice received by the SMTP
// relay, the link opened in real Chromium, a reply typed and sent there.

let f: ServerFixture;
let browser: Browser;

beforeAll(async () => {
  f = await startServerFixture();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
    timeout: 120_000,
  });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await f?.close();
});

/** Sends a message and returns the viewer link from the notice the relay received. */
async function sendAndGetLink(
  to: string,
  body: { text?: string; html?: string; subject?: string; attachments?: unknown[] },
): Promise<{ id: string; link: string }> {
  const before = f.smtp.received.length;
  const r = await f.api('POST', '/v1/messages', {
    to: [to],
    subject: body.subject ?? 'Session follow-up',
    ...body,
  });
  expect(r.status).toBe(202);
  const { id } = SendMessageResponseSchema.parse(await r.json());
  const until = Date.now() + 10_000;
  for (;;) {
    const mail = f.smtp.received.slice(before).find((m) => m.to.includes(to));
    if (mail) {
      const text = (await simpleParser(mail.raw)).text ?? '';
      const link = /http:\/\/127\.0\.0\.1:\d+\/m\/[A-Za-z0-9_-]{43}/.exec(text)?.[0];
      if (!link) throw new Error('no link in notice');
      return { id, link };
    }
    if (Date.now() > until) throw new Error('notice not received');
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function waitForMail(pred: (raw: string) => boolean, from: number): Promise<string> {
  const until = Date.now() + 10_000;
  for (;;) {
    const m = f.smtp.received.slice(from).find((x) => pred(x.raw.toString('utf8')));
    if (m) return m.raw.toString('utf8');
    if (Date.now() > until) throw new Error('mail not received');
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function openedEvents(messageId: string) {
  return f.server.store.db
    .selectFrom('engagement_events')
    .selectAll()
    .where('message_id', '=', messageId)
    .where('type', '=', 'opened')
    .execute();
}

/** Waits until the page's open beacon has been recorded (it is sent after a short visible dwell). */
async function waitForOpen(messageId: string) {
  const until = Date.now() + 10_000;
  for (;;) {
    const rows = await openedEvents(messageId);
    if (rows.length > 0) return rows;
    if (Date.now() > until) throw new Error('no opened event');
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('viewer in Chromium', () => {
  it('shows the message with strict headers, records the first open from the page script, and takes a reply', async () => {
    const { id, link } = await sendAndGetLink('viewer@patient.example', {
      subject: 'Homework for this week',
      html: '<p>Please try the <b>breathing exercise</b> twice a day.</p>',
      attachments: [
        {
          filename: 'exercise.txt',
          contentType: 'text/plain',
          contentBase64: Buffer.from('Breathe in for 4').toString('base64'),
        },
      ],
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    const res = await page.goto(link);
    expect(res?.status()).toBe(200);
    const h = res!.headers();
    expect(h['content-security-policy']).toMatch(
      /default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]+'; style-src 'nonce-[A-Za-z0-9+/=]+'; img-src 'self' data:; form-action 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'/,
    );
    expect(h['cache-control']).toContain('no-store');
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['strict-transport-security']).toContain('max-age=31536000');
    await expect(page.locator('h1').textContent()).resolves.toBe('Calm Waters Counseling');
    await expect(page.locator('.subject').textContent()).resolves.toBe('Homework for this week');
    await expect(page.locator('.body b').textContent()).resolves.toBe('breathing exercise');

    // The attachment downloads through its token-scoped URL, never rendered on our origin.
    const href = await page.locator('ul.files a').getAttribute('href');
    const file = await fetch(new URL(href!, link));
    expect(file.headers.get('content-disposition')).toMatch(/^attachment; filename="exercise.txt"/);
    expect(await file.text()).toBe('Breathe in for 4');

    // The page's script reports the open; a reload (whose beacon also arrives) keeps one event.
    await waitForOpen(id);
    const beacon = page.waitForResponse((r) => r.url().endsWith('/opened'));
    await page.reload();
    expect((await beacon).status()).toBe(204);
    const opened = await openedEvents(id);
    expect(opened).toHaveLength(1);
    expect(JSON.parse(opened[0]!.data)).toEqual({ evidence: 'page_visible' });
    let status = (await (await f.api('GET', `/v1/messages/${id}`)).json()) as {
      recipients: Array<{ status: string; openedAt: string | null }>;
    };
    expect(status.recipients[0]?.status).toBe('opened');

    const mailsBefore = f.smtp.received.length;
    await page.fill('textarea[name=text]', 'Thanks, I did it on Monday and it helped with my sleep.');
    await Promise.all([page.waitForURL(/replied=1/), page.click('button[type=submit]')]);
    await expect(page.locator('.note').textContent()).resolves.toContain('Your reply was sent securely');

    const reply = await f.server.store.db
      .selectFrom('replies')
      .selectAll()
      .where('message_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(reply.body_ct).toString('latin1')).not.toContain('helped with my sleep');
    const replied = await f.server.store.db
      .selectFrom('engagement_events')
      .selectAll()
      .where('message_id', '=', id)
      .where('type', '=', 'replied')
      .executeTakeFirstOrThrow();
    expect(replied.latency_ms).toBeGreaterThanOrEqual(0);
    status = (await (await f.api('GET', `/v1/messages/${id}`)).json()) as typeof status;
    expect(status.recipients[0]?.status).toBe('replied');
    // The clinician hears about it by a PHI-free email.
    const notice = await waitForMail(
      (raw) => raw.includes('dr.lee@calm.example') && raw.includes('New secure reply'),
      mailsBefore,
    );
    expect(notice).not.toContain('sleep');
    expect(notice).not.toContain('viewer@patient.example');
    await context.close();
  }, 60_000);

  it('records exactly one open for a page viewed in Chromium, however often and in how many tabs', async () => {
    const { id, link } = await sendAndGetLink('once@patient.example', { text: 'See you Thursday.' });
    const context = await browser.newContext();
    const beacons: number[] = [];
    context.on('response', (r) => {
      if (r.url().endsWith('/opened')) beacons.push(r.status());
    });
    const a = await context.newPage();
    await a.goto(link);
    const first = await waitForOpen(id);
    const b = await context.newPage();
    await b.goto(link);
    await a.reload();
    await b.waitForTimeout(1200);
    expect(beacons.length).toBeGreaterThanOrEqual(3);
    expect(beacons.every((s) => s === 204)).toBe(true);
    const after = await openedEvents(id);
    expect(after).toHaveLength(1);
    expect(after[0]!.at).toBe(first[0]!.at);
    const link_ = await f.server.store.db
      .selectFrom('viewer_links')
      .select('first_opened_at')
      .where('message_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(link_.first_opened_at).toBe(first[0]!.at);
    const status = (await (await f.api('GET', `/v1/messages/${id}`)).json()) as {
      recipients: Array<{ status: string; openedAt: string | null }>;
    };
    expect(status.recipients[0]).toMatchObject({ status: 'opened', openedAt: first[0]!.at });
    await context.close();
  }, 60_000);

  it('does not run script from an XSS payload in the message body', async () => {
    const payload = [
      '<p>Hello from your clinician</p>',
      '<script>window.__xss = "script"; alert(1)</script>',
      '<img src="x" onerror="window.__xss=\'img\'; alert(2)">',
      '<a id="js" href="javascript:window.__xss=\'href\'">click</a>',
      '<svg onload="window.__xss=\'svg\'"></svg>',
      '<iframe srcdoc="<script>parent.__xss=\'iframe\'</script>"></iframe>',
      '<div style="background:url(javascript:alert(3))">styled</div>',
      '<form action="https://evil.example"><button>go</button></form>',
      '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=\'mxss\'">',
    ].join('');
    const { link } = await sendAndGetLink('xss@patient.example', { html: payload });
    const context = await browser.newContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const violations: string[] = [];
    page.on('console', (m) => violations.push(m.text()));
    await page.goto(link);
    await expect(page.locator('.body p').first().textContent()).resolves.toBe('Hello from your clinician');
    const js = page.locator('.body a', { hasText: 'click' });
    if ((await js.count()) > 0) await js.click({ timeout: 2000 }).catch(() => undefined);
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => (window as unknown as { __xss?: string }).__xss)).toBeUndefined();
    expect(dialogs).toEqual([]);
    const html = await page.content();
    expect(html).not.toContain('onerror');
    expect(html).not.toContain('javascript:');
    expect(html).not.toContain('<iframe');
    expect(html).not.toContain('evil.example');
    await context.close();
  }, 60_000);

  it('asks for a one-time code first when the policy says so, and locks after five wrong codes', async () => {
    await putPolicy(
      f.server.store.db,
      f.server.practiceId,
      { ...DEFAULT_POLICY, viewerSecondFactor: true },
      'test',
    );
    try {
      const { id: otpId, link } = await sendAndGetLink('otp@patient.example', {
        text: 'Your results are attached.',
      });
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(link);
      await expect(page.locator('h2').first().textContent()).resolves.toBe('Confirm it is you');
      expect(await page.locator('.body').count()).toBe(0);

      const before = f.smtp.received.length;
      await Promise.all([page.waitForURL(/sent=1/), page.click('text=Email me a code')]);
      const codeMail = await waitForMail((raw) => raw.includes('one-time code'), before);
      const code = /(\d{8})/.exec((await simpleParser(codeMail)).text ?? '')![1]!;

      // A wrong code first; then the right one opens the message.
      await page.fill('input[name=code]', code === '00000000' ? '11111111' : '00000000');
      await page.click('text=Open message');
      await expect(page.locator('.warn').textContent()).resolves.toContain('not right');
      await page.fill('input[name=code]', code);
      await Promise.all([page.waitForLoadState(), page.click('text=Open message')]);
      await expect(page.locator('.body').textContent()).resolves.toContain('Your results are attached.');
      // Entering the emailed code is itself evidence of a person: the open is recorded.
      expect((await waitForOpen(otpId)).map((e) => JSON.parse(e.data) as unknown)).toEqual([
        { evidence: 'one_time_code' },
      ]);
      await context.close();

      // Another browser without the cookie: five wrong codes void the code.
      const second = await sendAndGetLink('otp2@patient.example', { text: 'Second message.' });
      const ctx2 = await browser.newContext();
      const p2 = await ctx2.newPage();
      await p2.goto(second.link);
      await Promise.all([p2.waitForURL(/sent=1/), p2.click('text=Email me a code')]);
      for (let i = 0; i < 5; i++) {
        await p2.fill('input[name=code]', String(10_000_000 + i));
        await p2.click('text=Open message');
      }
      await expect(p2.locator('.warn').textContent()).resolves.toContain('Too many wrong codes');
      expect(await p2.locator('input[name=code]').count()).toBe(0);
      await ctx2.close();
    } finally {
      await putPolicy(f.server.store.db, f.server.practiceId, DEFAULT_POLICY, 'test');
    }
  }, 60_000);

  it('records crisis language in a reply on the event and makes the clinician notice urgent', async () => {
    const { id, link } = await sendAndGetLink('crisis@patient.example', { text: 'How was your week?' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link);
    const before = f.smtp.received.length;
    await page.fill('textarea[name=text]', 'Honestly it was bad. I want to kill myself.');
    await Promise.all([page.waitForURL(/replied=1/), page.click('button[type=submit]')]);
    const ev = await f.server.store.db
      .selectFrom('engagement_events')
      .selectAll()
      .where('message_id', '=', id)
      .where('type', '=', 'replied')
      .executeTakeFirstOrThrow();
    const data = JSON.parse(ev.data) as { crisis?: { sentence: string; grade: string } };
    expect(data.crisis?.grade).toBe('first_person');
    expect(data.crisis?.sentence).toContain('kill myself');
    const notice = await waitForMail((raw) => raw.includes('[Urgent]'), before);
    expect(notice).not.toContain('kill');
    await context.close();
  }, 60_000);
});

describe('viewer without a browser', () => {
  it('records no open for a plain HTTP GET or HEAD (a mail scanner or link prefetcher), but audits the read', async () => {
    const { id, link } = await sendAndGetLink('scanner@patient.example', { text: 'Scanned, not read.' });
    const auditsBefore = await f.server.store.db
      .selectFrom('audit_events')
      .select('id')
      .where('action', '=', 'viewer.open')
      .where('target_id', '=', id)
      .execute();
    expect(auditsBefore).toHaveLength(0);
    const get = await fetch(link, {
      headers: { 'user-agent': 'Mozilla/5.0 (compatible; MSIE 9.0; SafeLinks scanner)' },
    });
    expect(get.status).toBe(200);
    expect(await get.text()).toContain('Scanned, not read.');
    const head = await fetch(link, { method: 'HEAD' });
    expect(head.status).toBe(200);
    await new Promise((res) => setTimeout(res, 300));
    expect(await openedEvents(id)).toHaveLength(0);
    const vl = await f.server.store.db
      .selectFrom('viewer_links')
      .select('first_opened_at')
      .where('message_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(vl.first_opened_at).toBeNull();
    const status = (await (await f.api('GET', `/v1/messages/${id}`)).json()) as {
      recipients: Array<{ status: string; openedAt: string | null }>;
    };
    expect(status.recipients[0]).toMatchObject({ status: 'sent', openedAt: null });
    // The read itself is still audited.
    const audits = await f.server.store.db
      .selectFrom('audit_events')
      .select('id')
      .where('action', '=', 'viewer.open')
      .where('target_id', '=', id)
      .execute();
    expect(audits.length).toBeGreaterThanOrEqual(1);
  });

  it('records an open with a reply sent without a prior open, before the reply', async () => {
    const { id, link } = await sendAndGetLink('replyfirst@patient.example', { text: 'How are you?' });
    const page = await (await fetch(link)).text();
    expect(await openedEvents(id)).toHaveLength(0);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const r = await fetch(`${link}/reply`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(link).origin },
      body: `text=Fine%2C%20thanks&csrf=${encodeURIComponent(csrf)}`,
    });
    expect(r.status).toBe(303);
    const opened = await openedEvents(id);
    expect(opened).toHaveLength(1);
    expect(JSON.parse(opened[0]!.data)).toEqual({ evidence: 'reply' });
    const replied = await f.server.store.db
      .selectFrom('engagement_events')
      .selectAll()
      .where('message_id', '=', id)
      .where('type', '=', 'replied')
      .executeTakeFirstOrThrow();
    expect(opened[0]!.at <= replied.at).toBe(true);
  });

  it('refuses an open beacon without the page’s token, from another site, or for a dead link, changing nothing', async () => {
    const { id, link } = await sendAndGetLink('beacon@patient.example', { text: 'x' });
    const page = await (await fetch(link)).text();
    const token = /id="attune-open" hidden data-action="[^"]+" data-token="([^"]+)"/.exec(page)![1]!;
    const beacon = (body: string, headers: Record<string, string> = {}, url = `${link}/opened`) =>
      fetch(url, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    expect((await beacon('t=')).status).toBe(403);
    expect((await beacon('t=abc.def.ghi')).status).toBe(403);
    // The CSRF token of the reply form is not an open token.
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    expect((await beacon(`t=${encodeURIComponent(csrf)}`)).status).toBe(403);
    expect((await beacon(`t=${encodeURIComponent(token)}`, { origin: 'https://evil.example' })).status).toBe(
      403,
    );
    expect((await beacon(`t=${encodeURIComponent(token)}`, { 'sec-fetch-site': 'cross-site' })).status).toBe(
      403,
    );
    expect((await fetch(`${link}/opened`, { method: 'GET' })).status).toBe(404);
    expect(
      (await beacon(`t=${encodeURIComponent(token)}`, {}, `${f.url}/m/${'C'.repeat(43)}/opened`)).status,
    ).toBe(404);
    expect(await openedEvents(id)).toHaveLength(0);
    // Another link's page token does not open this one.
    const other = await sendAndGetLink('beacon2@patient.example', { text: 'y' });
    const otherToken = /data-token="([^"]+)"/.exec(await (await fetch(other.link)).text())![1]!;
    expect((await beacon(`t=${encodeURIComponent(otherToken)}`)).status).toBe(403);
    expect(await openedEvents(id)).toHaveLength(0);
    // The right token, same origin: 204, once.
    expect(
      (await beacon(`t=${encodeURIComponent(token)}`, { 'sec-fetch-site': 'same-origin', origin: 'null' }))
        .status,
    ).toBe(204);
    expect((await beacon(`t=${encodeURIComponent(token)}`)).status).toBe(204);
    expect(await openedEvents(id)).toHaveLength(1);
    // An expired link answers 410 like its page.
    await f.server.store.db
      .updateTable('viewer_links')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('message_id', '=', id)
      .execute();
    expect((await beacon(`t=${encodeURIComponent(token)}`)).status).toBe(410);
  });

  it('answers an unknown link with a clear 404 page and an expired one with 410', async () => {
    const unknown = await fetch(`${f.url}/m/${'A'.repeat(43)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('text/html');
    expect(await unknown.text()).toContain('Link not found');
    const { id, link } = await sendAndGetLink('expire@patient.example', { text: 'x' });
    await f.server.store.db
      .updateTable('viewer_links')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('message_id', '=', id)
      .execute();
    const expired = await fetch(link);
    expect(expired.status).toBe(410);
    expect(await expired.text()).toContain('This link has expired');
  });

  it('refuses a reply without the page’s CSRF token or from another origin', async () => {
    const { link } = await sendAndGetLink('csrf@patient.example', { text: 'x' });
    const page = await (await fetch(link)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${link}/reply`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    expect((await post('text=hello')).status).toBe(403);
    expect(
      (await post(`text=hello&csrf=${encodeURIComponent(csrf)}`, { origin: 'https://evil.example' })).status,
    ).toBe(403);
    expect(
      (await post(`text=hello&csrf=${encodeURIComponent(csrf)}`, { 'sec-fetch-site': 'cross-site' })).status,
    ).toBe(403);
    const ok = await post(`text=hello&csrf=${encodeURIComponent(csrf)}`, { origin: new URL(link).origin });
    expect(ok.status).toBe(303);
  });

  it('rate limits an address that guesses tokens', async () => {
    let last = 0;
    for (let i = 0; i < 25; i++) {
      const r = await fetch(`${f.url}/m/${String(i).padStart(43, 'B')}`, {
        headers: { 'x-forwarded-for': '203.0.113.9' },
      });
      last = r.status;
    }
    expect(last).toBe(429);
  });
});
