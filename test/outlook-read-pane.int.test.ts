/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser.)
// The pinned read pane against the real server: a patient's engagement built only through the real
// flows (secure sends through the API, the patient's replies typed in the viewer in Chromium, one
// with first-person crisis language, and appointment events through POST /v1/events), then the
// pane served at /addin/read.html shows the insights and the crisis banner with the sentence first.
import { join } from 'node:path';
import { CaseloadSchema, EngagementSchema, SendMessageResponseSchema } from '@attune/shared/api';
import { seedDemo } from '../server/src/engagement/demo.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ARTIFACTS,
  openPane,
  replyInViewer,
  secureLinkIn,
  startE2E,
  waitForMailTo,
  waitUntil,
  type E2E,
} from './support/e2e.ts';

const PATIENT = 'riley.morgan@patient.example';
const CRISIS_SENTENCE = "I keep thinking about killing myself and I don't want to be here anymore.";
const REPLIES = [
  'Thanks for the reminder, I did the breathing exercise twice this week.',
  'I finished the worksheet and it helped me notice the pattern.',
  `Honestly it has been a very hard week. ${CRISIS_SENTENCE}`,
];
const DAY = 86_400_000;

let e: E2E;

beforeAll(async () => {
  e = await startE2E();
  const created = await e.f.api('POST', '/v1/patients', {
    email: PATIENT,
    name: 'Riley Morgan',
    timeZone: 'America/Chicago',
  });
  expect(created.status).toBeLessThan(300);

  // Four secure messages; the patient answers the first three in the viewer, the last one not yet.
  const topics = [['homework'], ['homework'], ['scheduling'], ['homework']];
  for (let i = 0; i < topics.length; i++) {
    const before = e.f.smtp.received.length;
    const r = await e.f.api('POST', '/v1/messages', {
      to: [PATIENT],
      subject: 'Between sessions',
      text: `Hi Riley, a note about your ${topics[i]![0]} for this week (${i + 1}).`,
      topics: topics[i],
    });
    expect(r.status).toBe(202);
    SendMessageResponseSchema.parse(await r.json());
    const { text } = await waitForMailTo(e.f, PATIENT, before);
    const reply = REPLIES[i];
    if (reply)
      await replyInViewer(
        e,
        secureLinkIn(e.f, text),
        reply,
        i === 2 ? { screenshot: 'viewer-crisis-reply.png' } : {},
      );
  }

  // The practice's scheduling system reports appointments (the past eight weeks).
  const now = Date.now();
  const appts = [
    ['appointment_attended', 56],
    ['appointment_attended', 42],
    ['appointment_missed', 28],
    ['appointment_attended', 14],
    ['appointment_missed', 7],
  ] as const;
  const ev = await e.f.api('POST', '/v1/events', {
    events: appts.map(([type, daysAgo], i) => ({
      id: `appt-${i}`,
      patientId: PATIENT,
      type,
      at: new Date(now - daysAgo * DAY).toISOString(),
      appointmentId: `A-${i}`,
    })),
  });
  expect(ev.status).toBe(201);
  expect(await ev.json()).toMatchObject({ accepted: appts.length, duplicates: 0 });

  // The crisis reply is on record before the pane asks.
  await waitUntil(async () => {
    const rows = await e.f.server.store.db
      .selectFrom('engagement_events')
      .select('type')
      .where('type', '=', 'replied')
      .execute();
    return rows.length >= REPLIES.length;
  }, 'three replied events');
}, 60_000);

afterAll(async () => {
  await e?.close();
});

describe('Outlook read pane against the real server', () => {
  it("shows the patient's insights with the crisis banner first, quoting the sentence, at 320 px", async () => {
    const pane = await openPane(
      e,
      'read.html',
      { mode: 'read', from: PATIENT, subject: 'Re: Between sessions' },
      { width: 320 },
    );
    const { page } = pane;
    const banner = page.locator('.banner').first();
    await banner.waitFor();
    expect(await banner.getAttribute('class')).toContain('banner-crisis');
    expect(await banner.getAttribute('role')).toBe('alert');
    expect((await banner.locator('blockquote').textContent())?.trim()).toBe(CRISIS_SENTENCE);
    await page.getByRole('heading', { name: 'Riley Morgan' }).waitFor();
    await page.getByRole('heading', { name: 'Engagement' }).waitFor();
    const metrics = page.locator('dl.metrics');
    // 3 replies, and the 4th message is too recent to count as unanswered (the API's rule).
    expect(await metrics.textContent()).toContain('100% (n=3)');
    // Appointment adherence from POST /v1/events: outcomes only, no "scheduled" events, so n
    // counts the outcomes (it once showed n=0).
    expect(await metrics.textContent()).toContain('3 attended, 2 missed; no-show 40% (n=5)');
    // Best hour and topics from the replies typed in the viewer.
    expect(await metrics.textContent()).toMatch(/Best hour to write\s*\d{1,2} (am|pm)/);
    expect(await page.locator('#app').textContent()).toContain('2 missed appointments in the last 90 days.');
    expect(await page.locator('.banner strong').allTextContents()).toContain('Missed appointments');
    const topics = await page.getByRole('heading', { name: 'Topics that land' }).locator('..').textContent();
    expect(topics).toMatch(/homework\s*3\s*67%/);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await page.screenshot({ path: join(ARTIFACTS, 'read-crisis-320.png'), fullPage: true });
    expect(pane.cspViolations).toEqual([]);
    expect(pane.blocked).toEqual([]);
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);

    // The caseload tab ranks this patient first, flagged for crisis.
    await page.getByRole('tab', { name: 'Caseload' }).click();
    const first = page.locator('ol.triage li').first();
    await first.waitFor();
    expect(await first.textContent()).toMatch(/Riley Morgan|riley\.morgan/);
    expect(await first.textContent()).toContain('Crisis');
    // One patient in this practice: "1 patient", not "1 patients".
    expect(await page.locator('.caseload > p.muted').textContent()).toMatch(/^1 patient\. /);
    await page.screenshot({ path: join(ARTIFACTS, 'read-caseload-320.png'), fullPage: true });
    await pane.context.close();
  });

  it('says so when the sender is not a patient, with no banner', async () => {
    const pane = await openPane(
      e,
      'read.html',
      { mode: 'read', from: 'someone@elsewhere.example' },
      { width: 320 },
    );
    await pane.page.getByText('The sender is not a patient of your practice.').waitFor();
    expect(await pane.page.locator('.banner-crisis').count()).toBe(0);
    await pane.context.close();
  });
});

describe('Outlook read pane on `attune demo` data', () => {
  it("shows a simulated crisis patient's insights and banner, as a newcomer sees them after `npx attune demo`", async () => {
    // The simulated history is laid out backwards from now (which replies fall before it, local
    // hours across time zones), so with 40 patients one seed gives a crisis patient with a recent
    // reply at some hours of the day and none at others: try seeds as `attune demo --reset` would,
    // until one shows the case this test is about.
    let demo: ReturnType<typeof CaseloadSchema.parse>['items'][number] | undefined;
    for (let seed = 2026; seed < 2056 && !demo; seed++) {
      const seeded = await seedDemo(e.f.server.store.db, e.f.server.practiceId, {
        now: new Date(),
        patients: 40,
        seed,
        reset: true,
      });
      if (seeded.crisisPatients === 0) continue;
      const caseload = CaseloadSchema.parse(await (await e.f.api('GET', '/v1/caseload?page=1')).json());
      demo = caseload.items.find((i) => i.crisis && i.email !== PATIENT);
    }
    expect(demo, 'a simulated patient with a crisis reply').toBeTruthy();
    const engagement = EngagementSchema.parse(
      await (
        await e.f.api('GET', `/v1/patients/by-email/${encodeURIComponent(demo!.email)}/engagement`)
      ).json(),
    );
    const crisis = engagement.alerts.find((a) => a.kind === 'crisis');
    expect(crisis?.sentence).toBeTruthy();

    const pane = await openPane(e, 'read.html', { mode: 'read', from: demo!.email }, { width: 320 });
    const { page } = pane;
    const banner = page.locator('.banner').first();
    await banner.waitFor();
    expect(await banner.getAttribute('class')).toContain('banner-crisis');
    expect((await banner.locator('blockquote').textContent())?.trim()).toBe(crisis!.sentence!.trim());
    await page.getByRole('heading', { name: 'Engagement' }).waitFor();
    // A simulated history long enough for a style and a best hour.
    expect(await page.locator('dl.metrics').textContent()).toMatch(/Best hour to write\s*\d{1,2} (am|pm)/);
    expect(await page.locator('figure svg').count()).toBeGreaterThan(0);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await page.screenshot({ path: join(ARTIFACTS, 'read-demo-crisis-320.png'), fullPage: true });
    expect(pane.cspViolations).toEqual([]);
    await pane.context.close();
  });
});
