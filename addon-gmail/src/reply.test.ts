import { afterEach, describe, expect, it } from 'vitest';
import { ReplySchema } from '@attune/shared/api';
// The notice exactly as the server writes it: if its wording changes, these tests say so.
import { replyNotice } from '../../server/src/delivery/mime.ts';
import {
  createFakeEnv,
  installGlobals,
  json,
  textOf,
  treeOf,
  walk,
  TEST_SERVER,
  TEST_TOKEN,
  type FakeEnv,
  type FakeMessageSpec,
  type Transport,
} from '../fakes/index.ts';
import { engagementFixture, replyFixture } from '../fakes/fixtures.ts';
import { router, serverDown } from '../fakes/router.ts';
import type { AddonEvent } from './events.ts';
import { makeHandlers } from './handlers.ts';
import { replyReference, whenText } from './reply.ts';

let uninstall: (() => void) | undefined;
afterEach(() => uninstall?.());

const REF = replyFixture().id;
const REPLY_PATH = `/v1/replies/${REF}`;
const ENGAGEMENT_PATH = '/v1/engagement/lookup';
const METADATA = 'https://www.googleapis.com/auth/gmail.addons.current.message.metadata';
const READONLY = 'https://www.googleapis.com/auth/gmail.addons.current.message.readonly';
const CRISIS_TEXT =
  'Thank you for the message. Honestly I want to kill myself tonight. I do not know who else to tell.';

function noticeMessage(opts: { urgent?: boolean; otherSender?: boolean; reference?: string } = {}) {
  const n = replyNotice({
    practiceName: 'Lakeside Counseling',
    reference: opts.reference ?? REF,
    urgent: opts.urgent ?? false,
    ...(opts.otherSender !== undefined ? { otherSender: opts.otherSender } : {}),
  });
  return {
    id: 'n-1',
    accessToken: 'per-message-token',
    from: 'Lakeside Counseling <notices@lakeside.test>',
    subject: n.subject,
    body: n.text,
  } satisfies FakeMessageSpec;
}

function setup(
  transport: Transport,
  message: FakeMessageSpec = noticeMessage(),
  scopes: string[] = [METADATA, READONLY],
): FakeEnv {
  const env = createFakeEnv({ transport, messages: [message], scopes });
  uninstall = installGlobals(env);
  return env;
}

function openEvent(message: { id: string; accessToken: string } = noticeMessage()): AddonEvent {
  return {
    commonEventObject: {
      platform: 'WEB',
      hostApp: 'GMAIL',
      parameters: {},
      formInputs: {},
      timeZone: { id: 'America/New_York', offset: '-18000000' },
    },
    gmail: { accessToken: message.accessToken, messageId: message.id, threadId: 't-1' },
  } as unknown as AddonEvent;
}

function serverWith(reply: unknown, status = 200): Transport {
  return router(TEST_SERVER, {
    [`GET ${REPLY_PATH}`]: json(status, reply),
    [`POST ${ENGAGEMENT_PATH}`]: json(200, engagementFixture()),
  });
}

const handlers = makeHandlers({
  scanner: () => {
    throw new Error('not used');
  },
});

function open(message = noticeMessage()) {
  const cards = handlers.onGmailMessageOpen(openEvent(message));
  expect(cards).toHaveLength(1);
  return treeOf(cards[0]);
}

/** Every string a card hands to Gmail other than what it displays: action parameters and URLs. */
function nonDisplayedStrings(tree: unknown): string[] {
  const out: string[] = [];
  for (const n of walk(tree)) {
    if (n.kind === 'Action') {
      out.push(String(n.functionName));
      for (const [k, v] of Object.entries(n.parameters as Record<string, string>)) out.push(k, v);
    }
    for (const key of ['url', 'imageUrl']) if (typeof n[key] === 'string') out.push(n[key]);
  }
  return out;
}

describe("the notice's Reference", () => {
  it('is read as the server writes it, and as mail programs render, quote or re-case it', () => {
    const id = '0193a5b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b';
    expect(replyReference(replyNotice({ practiceName: 'P', reference: id, urgent: true }).text)).toBe(id);
    expect(replyReference(`Open Attune to read it.\r\nReference: ${id}\r\n`)).toBe(id);
    expect(replyReference(`<p>Reference: ${id}</p>`)).toBe(id);
    expect(replyReference(`> Open Attune in Outlook or Gmail to read it.\n> Reference: ${id}`)).toBe(id);
    expect(replyReference(`reference:\n> ${id}`)).toBe(id);
    expect(replyReference(`REFERENCE :\u00a0${id.toUpperCase()}.`)).toBe(id);
  });

  it('is nothing when the line is missing, cut short, or longer than an id', () => {
    const id = '0193a5b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b';
    expect(replyReference('A patient replied to your secure message.')).toBeNull();
    expect(replyReference(`Our ${id} order`)).toBeNull();
    expect(replyReference(`Reference: ${id.slice(0, 30)}`)).toBeNull();
    expect(replyReference(`Reference: ${id}0`)).toBeNull();
    expect(replyReference(`Reference: ${id}-2`)).toBeNull();
    expect(replyReference(`Cross-reference: see ${id}`)).toBeNull();
  });
});

describe('a secure-reply notice opened in Gmail', () => {
  it("fetches the reply by the notice's reference with the ID token, then the patient's insights with the address in the body", () => {
    const env = setup(serverWith(replyFixture()));
    open();
    expect(env.UrlFetchApp.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      `GET ${TEST_SERVER}${REPLY_PATH}`,
      `POST ${TEST_SERVER}${ENGAGEMENT_PATH}`,
    ]);
    for (const r of env.UrlFetchApp.requests)
      expect(r.headers).toMatchObject({ Authorization: `Bearer ${TEST_TOKEN}` });
    expect(env.UrlFetchApp.requests[1]?.url).not.toContain('river');
    expect(JSON.parse(env.UrlFetchApp.requests[1]?.payload ?? '')).toEqual({
      email: 'river.stone@example.org',
    });
    expect(env.GmailApp.bodiesRead).toEqual(['n-1']);
  });

  it('shows the reply: who, when in the clinician time zone, how it came, and the words with their line breaks', () => {
    setup(serverWith(replyFixture()));
    const tree = open();
    expect(tree.name).toBe('attune-reply');
    const sections = tree.sections as { header?: string }[];
    expect(sections[0]?.header).toBe('Reply');
    const reply = textOf(sections[0]);
    expect(reply).toContain('<b>River Stone</b> (river.stone@example.org)');
    // 03:15 UTC is 10:15 PM the evening before in New York.
    expect(reply).toContain('Nov 19, 2026, 10:15 PM EST');
    expect(reply).toContain('Written on the secure message page');
    expect(reply).toContain(
      'Thanks for checking in.<br>The new routine helps, and Thursday at 4 works for me.',
    );
    expect(textOf((tree.header as object) ?? {})).toContain('From River Stone');
    // Then the patient's insights, without a check-in button: a reply would go to the notice address.
    const text = textOf(tree);
    expect(text).toContain('Reply rate');
    expect(text.indexOf('Thursday at 4')).toBeLessThan(text.indexOf('Reply rate'));
    expect(walk(tree).filter((n) => n.kind === 'TextButton')).toHaveLength(0);
  });

  it('puts crisis language first, with the sentence the shared detector graded first person', () => {
    setup(serverWith(replyFixture({ text: CRISIS_TEXT, crisis: true })), noticeMessage({ urgent: true }));
    const tree = open();
    const sections = tree.sections as { header?: string }[];
    expect(sections[0]?.header).toContain('Crisis');
    const first = textOf(sections[0]);
    expect(first).toContain('Crisis language in this reply.');
    expect(first).toContain('“Honestly I want to kill myself tonight.”');
    expect(first).toContain("Follow your practice's crisis protocol");
    expect(sections[1]?.header).toBe('Reply');
  });

  it('says the notice was urgent even when the reply no longer reads as crisis', () => {
    setup(serverWith(replyFixture({ crisis: false })), noticeMessage({ urgent: true }));
    const sections = open().sections as { header?: string }[];
    expect(sections[0]?.header).toContain('Urgent');
    expect(textOf(sections[0])).toContain('may contain crisis language');
  });

  it('warns when an email reply came from a different address than the patient', () => {
    setup(
      serverWith(replyFixture({ source: 'email', otherSender: 'someone.else@elsewhere.test' })),
      noticeMessage({ otherSender: true }),
    );
    const tree = open();
    const sections = tree.sections as { header?: string }[];
    expect(sections[0]?.header).toBe('Check who wrote it');
    expect(textOf(sections[0])).toContain('Sent from a different address: someone.else@elsewhere.test');
    expect(textOf(sections[0])).toContain('not river.stone@example.org');
    expect(textOf(tree)).toContain('Answered by email');
  });

  it('escapes the reply as text: a patient cannot put markup or links in the card', () => {
    setup(serverWith(replyFixture({ text: '<a href="https://evil.test">click</a> & <b>bold</b>' })));
    const text = textOf(open());
    expect(text).toContain(
      '&lt;a href=&quot;https://evil.test&quot;&gt;click&lt;/a&gt; &amp; &lt;b&gt;bold&lt;/b&gt;',
    );
    expect(text).not.toContain('<a ');
  });

  it('puts no PHI and no reference in any action parameter or URL of the card', () => {
    const reply = replyFixture({ text: CRISIS_TEXT, crisis: true, otherSender: 'other@elsewhere.test' });
    setup(serverWith(reply), noticeMessage({ urgent: true }));
    const tree = open();
    const hidden = nonDisplayedStrings(tree).join('\n').toLowerCase();
    for (const phi of [REF, reply.from, 'river', 'stone', 'other@elsewhere.test', 'kill myself', 'routine'])
      expect(hidden).not.toContain(phi.toLowerCase());
  });

  it('shows the reply without insights when its writer is not a patient in Attune', () => {
    setup(
      router(TEST_SERVER, {
        [`GET ${REPLY_PATH}`]: json(200, replyFixture()),
        [`POST ${ENGAGEMENT_PATH}`]: json(404, {
          error: { code: 'patient_not_found', message: 'No patient with that email in your practice.' },
        }),
      }),
    );
    const text = textOf(open());
    expect(text).toContain('<b>river.stone@example.org</b>');
    expect(text).toContain('Thursday at 4');
    expect(text).not.toContain('Reply rate');
    expect(text).toContain('Decision support, not diagnosis');
  });
});

describe('when the reply cannot be shown', () => {
  it('404 (another practice, or gone): says so, PHI-free, without the reference', () => {
    setup(
      serverWith(
        { error: { code: 'reply_not_found', message: 'No reply with that reference in your practice.' } },
        404,
      ),
    );
    const tree = open();
    const text = textOf(tree);
    expect(text).toContain('Reply not found');
    expect(text).toContain("not in your practice's Attune, or that no longer exists");
    expect(text).not.toContain(REF);
  });

  it('500 content_unreadable: the reply is stored but cannot be read, and who can check', () => {
    setup(
      serverWith(
        {
          error: {
            code: 'content_unreadable',
            message:
              'This reply is stored but cannot be read. Your administrator can check the archive with attune verify.',
          },
        },
        500,
      ),
    );
    const text = textOf(open());
    expect(text).toContain('Reply cannot be read');
    expect(text).toContain('attune verify');
  });

  it('another 500: a server error, try again later', () => {
    setup(serverWith({ error: { code: 'internal', message: 'Internal error.' } }, 500));
    const text = textOf(open());
    expect(text).toContain('Attune server error');
    expect(text).toContain('HTTP 500');
  });

  it('network down: the server is unreachable, the reply is safe, open the notice again; urgency still first', () => {
    setup(serverDown, noticeMessage({ urgent: true }));
    const tree = open();
    const sections = tree.sections as { header?: string }[];
    expect(sections[0]?.header).toContain('Urgent');
    expect(textOf(sections[0])).toContain("Follow your practice's crisis protocol");
    const text = textOf(tree);
    expect(text).toContain('Attune server unreachable');
    expect(text).toContain('Open this notice again');
    expect(text).not.toContain(TEST_SERVER);
    expect(text).not.toContain(REF);
  });

  it('without the scope to read the open message, says so instead of reading the notice address as a patient', () => {
    const env = setup(serverWith(replyFixture()), noticeMessage({ urgent: true }), [METADATA]);
    const tree = open();
    const text = textOf(tree);
    expect(text).toContain('Cannot read this notice');
    expect(text).toContain('may contain crisis language');
    expect(env.UrlFetchApp.requests).toHaveLength(0);
  });
});

describe('other messages', () => {
  it("are not read: only a reply notice's text is, and any other message shows its sender's insights", () => {
    const message = {
      id: 'm-1',
      accessToken: 'tok',
      from: 'River Stone <river.stone@example.org>',
      subject: 'Question about Thursday',
      body: `Reference: ${REF}`,
    };
    const env = setup(serverWith(replyFixture()), message);
    const tree = open(message);
    expect(env.GmailApp.bodiesRead).toEqual([]);
    expect(env.UrlFetchApp.requests.map((r) => r.url)).toEqual([`${TEST_SERVER}${ENGAGEMENT_PATH}`]);
    expect(textOf(tree)).toContain('Attune: River Stone');
  });

  it('a subject that mentions a secure reply over a text without a reference gets the sender insights', () => {
    const message = {
      id: 'm-2',
      accessToken: 'tok',
      from: 'River Stone <river.stone@example.org>',
      subject: 'Re: my secure reply',
      body: 'Did you get my secure reply?',
    };
    const env = setup(serverWith(replyFixture()), message);
    expect(textOf(open(message))).toContain('Attune: River Stone');
    expect(env.UrlFetchApp.requests.map((r) => r.url)).toEqual([`${TEST_SERVER}${ENGAGEMENT_PATH}`]);
  });
});

describe('times', () => {
  it('falls back to UTC without a time zone or with an unknown one', () => {
    expect(whenText('2026-11-20T03:15:00.000Z', undefined)).toBe('2026-11-20 03:15 UTC');
    expect(whenText('2026-11-20T03:15:00.000Z', 'Not/AZone')).toBe('2026-11-20 03:15 UTC');
  });

  it('the reply fixture matches the contract', () => {
    expect(ReplySchema.safeParse(replyFixture()).success).toBe(true);
  });
});
