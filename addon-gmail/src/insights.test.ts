import { afterEach, describe, expect, it, vi } from 'vitest';
import { EngagementSchema } from '@attune/shared/api';
import {
  createFakeEnv,
  findAll,
  installGlobals,
  json,
  textOf,
  treeOf,
  TEST_SERVER,
  TEST_TOKEN,
  type FakeEnv,
  type Transport,
} from '../fakes/index.ts';
import { engagementFixture } from '../fakes/fixtures.ts';
import { router, serverDown } from '../fakes/router.ts';
import { makeHandlers } from './handlers.ts';
import type { AddonEvent } from './events.ts';
import type { FakeComposeActionResponse, FakeDraft } from '../fakes/index.ts';

let uninstall: (() => void) | undefined;
afterEach(() => uninstall?.());

const ENGAGEMENT_PATH = '/v1/engagement/lookup';
const MESSAGE = {
  id: 'm-1',
  accessToken: 'per-message-token',
  from: 'River Stone <River.Stone@example.org>',
};

function setup(transport: Transport, opts: { token?: string | null } = {}): FakeEnv {
  const env = createFakeEnv({
    transport,
    messages: [MESSAGE],
    ...(opts.token !== undefined ? { token: opts.token } : {}),
  });
  uninstall = installGlobals(env);
  return env;
}

function openEvent(params: Record<string, string> = {}): AddonEvent {
  return {
    commonEventObject: { platform: 'WEB', hostApp: 'GMAIL', parameters: params, formInputs: {} },
    gmail: { accessToken: MESSAGE.accessToken, messageId: MESSAGE.id, threadId: 't-1' },
  } as unknown as AddonEvent;
}

const handlers = makeHandlers({
  scanner: () => {
    throw new Error('not used');
  },
});

describe('patient insights on an opened message', () => {
  it('reads the sender with the per-message token and asks the server for their engagement, address in the body', () => {
    const env = setup(router(TEST_SERVER, { [`POST ${ENGAGEMENT_PATH}`]: json(200, engagementFixture()) }));
    handlers.onGmailMessageOpen(openEvent());
    expect(env.UrlFetchApp.requests).toHaveLength(1);
    expect(env.UrlFetchApp.requests[0]).toMatchObject({
      method: 'POST',
      url: `${TEST_SERVER}${ENGAGEMENT_PATH}`,
      headers: { Authorization: `Bearer ${TEST_TOKEN}` },
    });
    // The address travels in the body, never in the URL (proxy and server logs keep URLs).
    expect(env.UrlFetchApp.requests[0]?.url).not.toContain('river.stone');
    expect(JSON.parse(env.UrlFetchApp.requests[0]?.payload ?? '')).toEqual({
      email: 'river.stone@example.org',
    });
  });

  it('puts the crisis banner first, with the sentence, then the engagement figures and their reasons', () => {
    setup(router(TEST_SERVER, { [`POST ${ENGAGEMENT_PATH}`]: json(200, engagementFixture()) }));
    const [card] = handlers.onGmailMessageOpen(openEvent());
    const tree = treeOf(card);
    const sections = tree.sections as { header?: string }[];
    expect(sections[0]?.header).toContain('Crisis');
    const first = textOf(sections[0]);
    expect(first).toContain('Some nights I feel like giving up on everything.');
    expect(first).toContain('first person');
    expect(first).toContain('First-person statement matched the crisis lexicon');
    expect(textOf(sections[1])).toContain('Responsiveness dropped');

    const text = textOf(tree);
    expect(text).toContain('River Stone');
    expect(text).toContain('Declining');
    expect(text).toContain('Reply rate fell from 80% to 35% over 6 weeks');
    expect(text).toContain('60% of 20 messages');
    expect(text).toContain('median 5.5 h');
    expect(text).toContain('getting slower');
    expect(text).toContain('recent 30 h vs baseline 4 h');
    expect(text).toContain('7 pm');
    expect(text).toContain('America/Chicago');
    expect(text).toContain('6 of 9 replies between 6 and 8 pm');
    expect(text).toContain('homework');
    expect(text).toContain('7 attended, 2 missed');
    expect(text).toContain('No-show rate 20%');
    expect(text).toContain('Keep messages short with one question.');
    expect(text).toContain('Decision support, not diagnosis.');
    expect(findAll(tree, 'Image')[0]?.imageUrl).toBe(engagementFixture().charts.pngUrl);
  });

  it('offers "Send a check-in" as a reply-draft compose action carrying the template', () => {
    setup(router(TEST_SERVER, { [`POST ${ENGAGEMENT_PATH}`]: json(200, engagementFixture()) }));
    const [card] = handlers.onGmailMessageOpen(openEvent());
    const btn = findAll(treeOf(card), 'TextButton').find((b) => b.text === 'Send a check-in');
    expect(btn?.composeAction).toMatchObject({
      functionName: 'onCheckInDraft',
      composedEmailType: 'REPLY_AS_DRAFT',
      parameters: { patient: engagementFixture().patient.id },
    });
    // The button carries the patient's id, not the greeting with their name.
    expect(JSON.stringify(btn?.composeAction)).not.toContain('template');
  });

  it('creates the reply draft with the template, fetched by the patient id, when the check-in action runs', () => {
    const eng = engagementFixture();
    const env = setup(
      router(TEST_SERVER, { [`GET /v1/patients/${eng.patient.id}/engagement`]: json(200, eng) }),
    );
    const res = handlers.onCheckInDraft(
      openEvent({ patient: eng.patient.id }),
    ) as unknown as FakeComposeActionResponse;
    const draft = res.draft as FakeDraft;
    expect(draft).toBe(env.GmailApp.drafts[0]);
    expect(draft).toMatchObject({
      replyTo: MESSAGE.id,
      body: eng.recommendations.checkIn?.template,
      options: { subject: eng.recommendations.checkIn?.subject },
    });
  });

  it('still creates the draft from a card an earlier version built with the template in it', () => {
    const env = setup(router(TEST_SERVER, {}));
    const template = 'Hi, I wanted to check in.';
    const res = handlers.onCheckInDraft(
      openEvent({ subject: 'Checking in', template }),
    ) as unknown as FakeComposeActionResponse;
    expect(res.draft).toBe(env.GmailApp.drafts[0]);
    expect(res.draft).toMatchObject({ body: template, options: { subject: 'Checking in' } });
  });

  it('fails with a fixed PHI-free message when the patient is no longer reachable at press time', () => {
    setup(
      router(TEST_SERVER, {
        'GET /v1/patients/p-gone/engagement': json(404, {
          error: { code: 'patient_not_found', message: 'No patient with that id in your practice.' },
        }),
      }),
    );
    expect(() => handlers.onCheckInDraft(openEvent({ patient: 'p-gone' }))).toThrow(
      'Attune could not create the check-in draft. Open the message and try again.',
    );
  });

  it('escapes HTML from the server in rich-text widgets and omits the chart and check-in when absent', () => {
    const eng = engagementFixture({
      style: { style: 'new', label: '<img src=x onerror=alert(1)>', confidence: 0.5, reasons: ['a < b & c'] },
      charts: { responseTimeSvg: '', replyHoursSvg: '', pngUrl: null },
    });
    eng.recommendations = { ...eng.recommendations, checkIn: null };
    setup(router(TEST_SERVER, { [`POST ${ENGAGEMENT_PATH}`]: json(200, eng) }));
    const tree = treeOf(handlers.onGmailMessageOpen(openEvent())[0]);
    expect(textOf(tree)).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(textOf(tree)).not.toContain('<img');
    expect(findAll(tree, 'Image')).toHaveLength(0);
    expect(findAll(tree, 'TextButton')).toHaveLength(0);
  });

  it('says the sender is not a patient on 404', () => {
    setup(
      router(TEST_SERVER, {
        [`POST ${ENGAGEMENT_PATH}`]: json(404, {
          error: { code: 'patient_not_found', message: 'No patient with that email in your practice.' },
        }),
      }),
    );
    expect(textOf(treeOf(handlers.onGmailMessageOpen(openEvent())[0]))).toContain(
      'not a patient of your practice',
    );
  });

  it('shows a clear card when the server is down or refuses the token', () => {
    setup(serverDown);
    const down = textOf(treeOf(handlers.onGmailMessageOpen(openEvent())[0]));
    expect(down).toContain('Attune server unreachable');
    expect(down).not.toContain('example.org');
    uninstall?.();
    setup(
      router(TEST_SERVER, {
        [`POST ${ENGAGEMENT_PATH}`]: json(401, {
          error: { code: 'unauthenticated', message: 'Token is not from your practice domain.' },
        }),
      }),
    );
    const refused = textOf(treeOf(handlers.onGmailMessageOpen(openEvent())[0]));
    expect(refused).toContain('Sign-in refused');
    expect(refused).toContain('Token is not from your practice domain.');
  });

  it('turns a Gmail failure into a plain error card and logs only the handler and error class', () => {
    setup(router(TEST_SERVER, {}));
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const e = openEvent();
      (e.gmail as { accessToken: string }).accessToken = 'a-token-for-another-message';
      const cards = handlers.onGmailMessageOpen(e);
      expect(textOf(treeOf(cards[0]))).toContain('Something went wrong');
      expect(textOf(treeOf(cards[0]))).not.toContain('Access denied');
      expect(logged.mock.calls).toEqual([['attune: Patient insights failed (Error)']]);
    } finally {
      logged.mockRestore();
    }
  });

  it('matches the engagement contract with its fixture', () => {
    expect(EngagementSchema.safeParse(engagementFixture()).success).toBe(true);
  });
});
