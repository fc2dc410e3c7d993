import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  MAX_FOLLOW_ON_KEYS,
  PolicySchema,
  SendMessageRequestSchema,
  SendMessageResponseSchema,
  type Policy,
} from '@attune/shared/api';
import {
  createFakeEnv,
  findAll,
  installGlobals,
  json,
  textOf,
  treeOf,
  TEST_SERVER,
  TEST_TOKEN,
  THROWS,
  type FakeEnv,
  type Transport,
} from '../fakes/index.ts';
import { messagesServer, router, serverDown } from '../fakes/router.ts';
import { sendResponseFixture } from '../fakes/fixtures.ts';
import { makeHandlers } from './handlers.ts';
import type { ComposeScan, ComposeScanInput } from './scanner-types.ts';
import type { AddonEvent } from './events.ts';

let uninstall: (() => void) | undefined;
afterEach(() => uninstall?.());

function setup(transport: Transport, token?: string | null | typeof THROWS): FakeEnv {
  const env = createFakeEnv(token === undefined ? { transport } : { transport, token });
  uninstall = installGlobals(env);
  return env;
}

/** Records what it was asked and answers with one finding per "depression" in the body. */
function recordingScanner() {
  const calls: { input: ComposeScanInput; policy: Policy }[] = [];
  const scanner = (input: ComposeScanInput, policy: Policy): ComposeScan => {
    calls.push({ input, policy });
    const at = input.body.indexOf('depression');
    const findings =
      at >= 0
        ? [
            {
              type: 'DIAGNOSIS' as const,
              start: at,
              end: at + 10,
              text: 'depression',
              confidence: 0.9,
              reason: 'Diagnosis term from the dictionary',
            },
          ]
        : [];
    return {
      fields: [{ field: 'body', findings }],
      decision: {
        decision: findings.length > 0 ? 'encrypt' : 'allow',
        reasons: findings.length > 0 ? ['Names a diagnosis to an external recipient'] : [],
        phi: findings.length > 0,
        externalRecipients: input.to,
      },
    };
  };
  return { calls, scanner };
}

function composeEvent(
  form: { subject?: string; body?: string; topics?: string[] } = {},
  to = ['River Stone <river.stone@example.org>'],
): AddonEvent {
  const formInputs: Record<string, { stringInputs: { value: string[] } }> = {};
  if (form.subject !== undefined) formInputs.attune_subject = { stringInputs: { value: [form.subject] } };
  if (form.body !== undefined) formInputs.attune_body = { stringInputs: { value: [form.body] } };
  if (form.topics !== undefined) formInputs.attune_topics = { stringInputs: { value: form.topics } };
  return {
    commonEventObject: { platform: 'WEB', hostApp: 'GMAIL', parameters: {}, formInputs },
    gmail: {
      accessToken: 'msg-token',
      messageId: 'draft-1',
      threadId: 't-1',
      toRecipients: to,
      ccRecipients: [],
    },
  } as unknown as AddonEvent;
}

const BODY = 'Hi River, following up on the depression screening we discussed.';
const policy: Policy = PolicySchema.parse({ allowList: ['Lakeside Counseling'] });

describe('secure compose card', () => {
  it('opens with a multi-line message input, topic checkboxes, the draft recipients and no server call', () => {
    const env = setup(router(TEST_SERVER, {}));
    const { scanner } = recordingScanner();
    const cards = makeHandlers({ scanner }).onGmailCompose(composeEvent());
    expect(cards).toHaveLength(1);
    const tree = treeOf(cards[0]);
    const inputs = findAll(tree, 'TextInput');
    expect(inputs.find((i) => i.fieldName === 'attune_body')?.multiline).toBe(true);
    expect(findAll(tree, 'SelectionInput')[0]).toMatchObject({
      fieldName: 'attune_topics',
      type: 'CHECK_BOX',
    });
    expect(textOf(tree)).toContain('To: river.stone@example.org');
    const actions = findAll(tree, 'TextButton').map(
      (b) => (b.onClickAction as { functionName: string }).functionName,
    );
    expect(actions).toEqual(['onComposeScan', 'onComposeSend', 'onComposeSchedule']);
    expect(textOf(tree)).toContain('Findings are decision support');
    expect(env.UrlFetchApp.requests).toHaveLength(0);
  });

  it('tells the clinician, before the click, that the draft must then be sent in Gmail', () => {
    // "Send securely" to one patient asks delivery "client": the server emails nothing, and the
    // draft's notice is the patient's only way to the message. A clinician who discards the draft
    // believing Attune delivered it leaves the patient with nothing; no card can say so after the
    // click (a draft update cannot also update the card), so the card says it up front.
    setup(router(TEST_SERVER, {}));
    const text = textOf(treeOf(makeHandlers(recordingScanner()).onGmailCompose(composeEvent())[0]));
    expect(text).toContain('then press Send in Gmail');
    expect(text).toContain('do not discard the draft');
  });

  it('asks the user to add a recipient when the draft has none', () => {
    setup(router(TEST_SERVER, {}));
    const cards = makeHandlers(recordingScanner()).onGmailCompose(composeEvent({}, []));
    expect(textOf(treeOf(cards[0]))).toContain("Add the patient in the draft's To field");
  });
});

describe('Scan', () => {
  it("scans the card's text under the practice policy and shows each finding with its reason", () => {
    const env = setup(router(TEST_SERVER, { 'GET /v1/policy': json(200, policy) }));
    const rec = recordingScanner();
    const res = makeHandlers({ scanner: rec.scanner }).onComposeScan(
      composeEvent({ subject: 'Follow-up', body: BODY, topics: ['check-in'] }),
    );
    const tree = treeOf(res);
    const card = (tree.navigation as { ops: { kind: string; card: unknown }[] }).ops[0];
    expect(card?.kind).toBe('updateCard');
    const text = textOf(card?.card);
    expect(text).toContain('Contains PHI');
    expect(text).toContain('Names a diagnosis to an external recipient');
    expect(text).toContain('DIAGNOSIS');
    expect(text).toContain('Diagnosis term from the dictionary');
    // The typed text and topic survive the card refresh.
    const body = findAll(card?.card, 'TextInput').find((i) => i.fieldName === 'attune_body');
    expect(body?.value).toBe(BODY);
    const items = findAll(card?.card, 'SelectionInput')[0]?.items as { value: string; selected: boolean }[];
    expect(items.find((i) => i.value === 'check-in')?.selected).toBe(true);

    expect(rec.calls[0]?.policy.allowList).toEqual(['Lakeside Counseling']);
    expect(rec.calls[0]?.input).toMatchObject({
      subject: 'Follow-up',
      body: BODY,
      to: ['river.stone@example.org'],
    });
    expect(env.UrlFetchApp.requests[0]).toMatchObject({
      method: 'GET',
      url: `${TEST_SERVER}/v1/policy`,
      headers: { Authorization: `Bearer ${TEST_TOKEN}` },
      muteHttpExceptions: true,
    });
  });

  it('still scans with the strict default policy when the server is down, and says so', () => {
    setup(serverDown);
    const rec = recordingScanner();
    const res = makeHandlers({ scanner: rec.scanner }).onComposeScan(composeEvent({ body: BODY }));
    const text = textOf(treeOf(res));
    expect(rec.calls[0]?.policy).toEqual(DEFAULT_POLICY);
    expect(text).toContain('DIAGNOSIS');
    expect(text).toContain('could not be loaded (Attune server unreachable); the default policy was used');
  });

  it('does not scan an empty card', () => {
    const env = setup(router(TEST_SERVER, {}));
    const rec = recordingScanner();
    const res = makeHandlers({ scanner: rec.scanner }).onComposeScan(composeEvent({ body: '  ' }));
    expect(textOf(treeOf(res))).toContain('Nothing to scan');
    expect(rec.calls).toHaveLength(0);
    expect(env.UrlFetchApp.requests).toHaveLength(0);
  });
});

describe('Send securely', () => {
  it('POSTs the message and inserts only the PHI-free notice into the draft', () => {
    const env = setup(router(TEST_SERVER, { 'POST /v1/messages': json(201, sendResponseFixture()) }));
    const res = makeHandlers(recordingScanner()).onComposeSend(
      composeEvent({ subject: 'Follow-up', body: BODY, topics: ['check-in', 'not-a-topic'] }),
    );
    const req = env.UrlFetchApp.requests[0];
    expect(req).toMatchObject({
      method: 'POST',
      url: `${TEST_SERVER}/v1/messages`,
      contentType: 'application/json',
      followRedirects: false,
    });
    expect(req?.headers.Authorization).toBe(`Bearer ${TEST_TOKEN}`);
    const sent = SendMessageRequestSchema.parse(JSON.parse(req?.payload ?? ''));
    expect(sent).toMatchObject({
      to: ['river.stone@example.org'],
      subject: 'Follow-up',
      text: BODY,
      topics: ['check-in'],
      // The clinician sends the draft, which is the notice: the server must not email another.
      delivery: 'client',
    });
    expect(sent.sendAt).toBeUndefined();

    const tree = treeOf(res);
    expect(tree.kind).toBe('UpdateDraftActionResponse');
    expect(tree.body).toMatchObject({
      updateType: 'IN_PLACE_INSERT',
      contents: [{ content: sendResponseFixture().notice.html, contentType: 'IMMUTABLE_HTML' }],
    });
    expect(JSON.stringify(tree)).not.toContain('depression');
    expect(tree.subject).toMatchObject({ subject: 'Secure message from your care team' });
  });

  it('sends to the Bcc recipients too: they receive the draft, so they must get the message, each their own link', () => {
    const env = setup(router(TEST_SERVER, { 'POST /v1/messages': json(201, sendResponseFixture()) }));
    const e = composeEvent({ subject: 'Follow-up', body: BODY });
    (e.gmail as { bccRecipients?: string[] }).bccRecipients = ['Sam Reed <sam.reed@example.net>'];
    makeHandlers(recordingScanner()).onComposeSend(e);
    const sent = SendMessageRequestSchema.parse(JSON.parse(env.UrlFetchApp.requests[0]?.payload ?? ''));
    expect(sent.to).toEqual(['river.stone@example.org']);
    // Two recipients: the server emails each a personal link, and the notice in the draft holds none.
    expect(sent.cc).toEqual(['sam.reed@example.net']);
  });

  it('sends only to the recipients the draft has now, never to ones removed since the card was built', () => {
    const env = setup(router(TEST_SERVER, { 'POST /v1/messages': json(201, sendResponseFixture()) }));
    const h = makeHandlers(recordingScanner());
    const opened = composeEvent({}, ['River Stone <river.stone@example.org>']);
    (opened.gmail as { ccRecipients?: string[] }).ccRecipients = ['Pat Stone <pat.stone@example.net>'];
    (opened.gmail as { bccRecipients?: string[] }).bccRecipients = ['sam.reed@example.net'];
    const card = h.onGmailCompose(opened)[0];
    const params = (
      findAll(card, 'TextButton').find(
        (b) => (b.onClickAction as { functionName: string }).functionName === 'onComposeSend',
      )?.onClickAction as { parameters: Record<string, string> }
    ).parameters;
    // The clinician then removes the Cc and Bcc from the draft: Gmail omits an empty list.
    const click = composeEvent({ body: BODY }, ['river.stone@example.org']);
    delete (click.gmail as { ccRecipients?: string[] }).ccRecipients;
    click.commonEventObject.parameters = { ...params };
    h.onComposeSend(click);
    const sent = SendMessageRequestSchema.parse(JSON.parse(env.UrlFetchApp.requests[0]?.payload ?? ''));
    expect(sent.to).toEqual(['river.stone@example.org']);
    expect(sent.cc).toEqual([]);

    // ... or removes the patient too (a wrong autocomplete): nothing goes to the old address.
    const none = composeEvent({ body: BODY }, []);
    delete (none.gmail as { toRecipients?: string[] }).toRecipients;
    delete (none.gmail as { ccRecipients?: string[] }).ccRecipients;
    none.commonEventObject.parameters = { ...params };
    expect(textOf(treeOf(h.onComposeSend(none)))).toContain('No recipient');
    expect(env.UrlFetchApp.requests).toHaveLength(1);
  });

  it('schedules for the patient\'s best hour with sendAt "best"', () => {
    const env = setup(
      router(TEST_SERVER, {
        'POST /v1/messages': json(201, sendResponseFixture({ sendAt: '2026-11-23T01:00:00.000Z' })),
      }),
    );
    const res = makeHandlers(recordingScanner()).onComposeSchedule(composeEvent({ body: BODY }));
    expect(JSON.parse(env.UrlFetchApp.requests[0]?.payload ?? '')).toMatchObject({
      sendAt: 'best',
      delivery: 'server',
    });
    expect(treeOf(res).kind).toBe('UpdateDraftActionResponse');
  });

  it('shows a clear card when the server is down, never the exception (which names the URL)', () => {
    setup(serverDown);
    const res = makeHandlers(recordingScanner()).onComposeSend(composeEvent({ body: BODY }));
    const tree = treeOf(res);
    expect(tree.kind).toBe('ActionResponse');
    const text = textOf(tree);
    expect(text).toContain('Attune server unreachable');
    // A timeout can follow the server's commit: no claim that nothing was sent, and a safe retry.
    expect(text).toContain('may or may not have been stored');
    expect(text).toContain('it will not be sent twice');
    expect(text).not.toContain('Nothing was sent');
    expect(text).not.toContain('Address unavailable');
    expect(text).not.toContain(TEST_SERVER);
  });

  it('explains a refused token (401) and keeps what the clinician wrote', () => {
    setup(
      router(TEST_SERVER, {
        'POST /v1/messages': json(401, {
          error: { code: 'unauthenticated', message: 'Token audience not accepted.' },
        }),
      }),
    );
    const res = makeHandlers(recordingScanner()).onComposeSend(composeEvent({ body: BODY }));
    const tree = treeOf(res);
    expect(textOf(tree)).toContain('Sign-in refused');
    expect(textOf(tree)).toContain('Token audience not accepted.');
    expect(findAll(tree, 'TextInput').find((i) => i.fieldName === 'attune_body')?.value).toBe(BODY);
  });

  it('makes no request when there is no identity token', () => {
    const env = setup(router(TEST_SERVER, {}), THROWS);
    const res = makeHandlers(recordingScanner()).onComposeSend(composeEvent({ body: BODY }));
    expect(env.UrlFetchApp.requests).toHaveLength(0);
    expect(textOf(treeOf(res))).toContain('Sign-in needed');
  });

  it('refuses to send without a recipient or without a message', () => {
    const env = setup(router(TEST_SERVER, {}));
    const h = makeHandlers(recordingScanner());
    expect(textOf(treeOf(h.onComposeSend(composeEvent({ body: BODY }, []))))).toContain('No recipient');
    expect(textOf(treeOf(h.onComposeSend(composeEvent({ body: '' }))))).toContain('Empty message');
    expect(env.UrlFetchApp.requests).toHaveLength(0);
  });

  it('says how long to wait after a 429, from its Retry-After, and that nothing was sent', () => {
    setup(
      router(TEST_SERVER, {
        'POST /v1/messages': {
          ...json(429, {
            error: { code: 'rate_limited', message: 'Too many requests. Try again in 42 seconds.' },
          }),
          headers: {
            'content-type': 'application/json',
            'retry-after': '42',
            ratelimit: '"default";r=0;t=42',
          },
        },
      }),
    );
    const res = makeHandlers(recordingScanner()).onComposeSend(composeEvent({ body: BODY }));
    const text = textOf(treeOf(res));
    expect(text).toContain('Too many requests');
    expect(text).toContain('nothing was done');
    expect(text).toContain('Wait 42 seconds');
    expect(findAll(treeOf(res), 'TextInput').find((i) => i.fieldName === 'attune_body')?.value).toBe(BODY);
  });

  it("shows the server's policy refusal and inserts nothing", () => {
    setup(
      router(TEST_SERVER, {
        'POST /v1/messages': json(422, {
          error: { code: 'blocked_by_policy', message: 'Social Security numbers may not be emailed.' },
        }),
      }),
    );
    const tree = treeOf(makeHandlers(recordingScanner()).onComposeSend(composeEvent({ body: BODY })));
    expect(tree.kind).toBe('ActionResponse');
    expect(textOf(tree)).toContain('Social Security numbers may not be emailed.');
  });

  it('inserts nothing when a 2xx answer still says block', () => {
    setup(
      router(TEST_SERVER, {
        'POST /v1/messages': json(200, sendResponseFixture({ decision: 'block', reasons: ['SSN present'] })),
      }),
    );
    const tree = treeOf(makeHandlers(recordingScanner()).onComposeSend(composeEvent({ body: BODY })));
    expect(tree.kind).toBe('ActionResponse');
    expect(textOf(tree)).toContain('SSN present');
  });

  it('reports a 500 without echoing the body, and an unparseable 2xx as an unexpected answer', () => {
    setup(
      router(TEST_SERVER, {
        'POST /v1/messages': { status: 500, body: 'stack trace at /srv/app.js with river.stone@example.org' },
      }),
    );
    const text = textOf(treeOf(makeHandlers(recordingScanner()).onComposeSend(composeEvent({ body: BODY }))));
    expect(text).toContain('HTTP 500');
    expect(text).not.toContain('stack trace');
    uninstall?.();
    setup(router(TEST_SERVER, { 'POST /v1/messages': { status: 200, body: '<html>captive portal</html>' } }));
    expect(
      textOf(treeOf(makeHandlers(recordingScanner()).onComposeSend(composeEvent({ body: BODY })))),
    ).toContain('Unexpected answer');
  });

  it('accepts the fixture the tests use as a valid server response', () => {
    expect(SendMessageResponseSchema.safeParse(sendResponseFixture()).success).toBe(true);
  });
});

describe('the Idempotency-Key of a compose card', () => {
  const KEY = /^gmail-compose-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  function server() {
    const messages = messagesServer((n) =>
      sendResponseFixture({
        id: `msg_${n}`,
        notice: { text: `Open message ${n}`, html: `<p>Secure message ${n}</p>` },
      }),
    );
    const env = setup(router(TEST_SERVER, { 'POST /v1/messages': messages.route }));
    const keys = () =>
      env.UrlFetchApp.requests
        .filter((r) => r.url.endsWith('/v1/messages'))
        .map((r) => r.headers['Idempotency-Key']);
    return { messages, keys };
  }

  /** The card a response shows: a built card, or the one an ActionResponse puts in its place. */
  function cardOf(res: unknown): unknown {
    const tree = treeOf(res);
    if (tree.kind !== 'ActionResponse') return tree;
    return (tree.navigation as { ops: { card: unknown }[] }).ops[0]?.card;
  }

  /**
   * A click on the card's button, as Gmail reports it: the action's parameters come back in
   * commonEventObject.parameters, with what the card's inputs hold now and the draft's metadata.
   */
  function click(card: unknown, functionName: string, form: { subject?: string; body?: string }): AddonEvent {
    const b = findAll(card, 'TextButton').find(
      (x) => (x.onClickAction as { functionName: string }).functionName === functionName,
    );
    if (b === undefined) throw new Error(`no ${functionName} button on the card`);
    const e = composeEvent(form);
    e.commonEventObject.parameters = {
      ...(b.onClickAction as { parameters: Record<string, string> }).parameters,
    };
    return e;
  }

  function inserted(res: unknown): string | undefined {
    const tree = treeOf(res);
    return (tree.body as { contents: { content: string }[] } | undefined)?.contents[0]?.content;
  }

  it('sends the same key for two clicks of the same card, so a double click makes one message', () => {
    const { messages, keys } = server();
    const h = makeHandlers(recordingScanner());
    const card = h.onGmailCompose(composeEvent())[0];
    const first = h.onComposeSend(click(card, 'onComposeSend', { body: BODY }));
    const second = h.onComposeSend(click(card, 'onComposeSend', { body: BODY }));
    expect(keys()).toHaveLength(2);
    expect(keys()[0]).toMatch(KEY);
    expect(keys()[1]).toBe(keys()[0]);
    expect(messages.created).toHaveLength(1);
    expect(inserted(first)).toBe('<p>Secure message 1</p>');
    expect(inserted(second)).toBe('<p>Secure message 1</p>');
  });

  it('keeps the key on the card rebuilt after a lost answer, so Send securely again makes one message', () => {
    const { messages, keys } = server();
    const h = makeHandlers(recordingScanner());
    const card = h.onGmailCompose(composeEvent())[0];
    // Scan rebuilds the card: the key goes with it.
    const scanned = cardOf(h.onComposeScan(click(card, 'onComposeScan', { body: BODY })));
    messages.loseNext.push('timeout');
    const failed = h.onComposeSend(click(scanned, 'onComposeSend', { body: BODY }));
    expect(textOf(treeOf(failed))).toContain('it will not be sent twice');
    expect(messages.created).toHaveLength(1);

    const retried = h.onComposeSend(click(cardOf(failed), 'onComposeSend', { body: BODY }));
    expect(inserted(retried)).toBe('<p>Secure message 1</p>');
    expect(keys()).toHaveLength(2);
    expect(keys()[1]).toBe(keys()[0]);
    expect(messages.created).toHaveLength(1);
  });

  it('gives a fresh compose card a new key', () => {
    const { messages, keys } = server();
    const h = makeHandlers(recordingScanner());
    const one = h.onGmailCompose(composeEvent())[0];
    const two = h.onGmailCompose(composeEvent())[0];
    h.onComposeSend(click(one, 'onComposeSend', { body: BODY }));
    h.onComposeSend(click(two, 'onComposeSend', { body: BODY }));
    expect(keys()[0]).toMatch(KEY);
    expect(keys()[1]).toMatch(KEY);
    expect(keys()[1]).not.toBe(keys()[0]);
    expect(messages.created).toHaveLength(2);
  });

  /** Messages as the server keeps them, with a 409 that names the earlier message, and revoke. */
  function namingServer(
    opts: {
      namesEarlier?: boolean;
      revoke?: 'ok' | 'down' | number;
      notice?: 'client' | 'server' | 'down' | 'revoked';
    } = {},
  ) {
    const messages = messagesServer((n) =>
      sendResponseFixture({
        id: `msg_${n}`,
        notice: { text: `Open message ${n}`, html: `<p>Secure message ${n}</p>` },
      }),
    );
    const revoked: string[] = [];
    const routes = router(TEST_SERVER, {
      'POST /v1/messages': (req) => {
        const reply = messages.route(req);
        if (reply.status !== 409 || opts.namesEarlier === false) return reply;
        const earlier = messages.created.find((m) => m.key === req.headers['Idempotency-Key']);
        const body = JSON.parse(reply.body ?? '{}') as { error: Record<string, string> };
        return json(409, { error: { ...body.error, messageId: `msg_${earlier?.id}` } });
      },
    });
    const noticed: string[] = [];
    const env = setup((req) => {
      const n = /\/v1\/messages\/msg_(\d+)\/notice$/.exec(req.url);
      if (n !== null && req.method === 'POST') {
        const how = opts.notice ?? 'client';
        if (how === 'down') return serverDown(req);
        if (how === 'revoked')
          return json(409, { error: { code: 'message_revoked', message: 'This message was revoked.' } });
        noticed.push(`msg_${n[1]}`);
        // The earlier message's own notice, as its lost 202 carried it.
        return json(200, {
          id: `msg_${n[1]}`,
          recipients: [{ email: 'river.stone@example.org', method: 'link', status: 'sent', delivery: how }],
          notice: { text: `Open message ${n[1]}`, html: `<p>Secure message ${n[1]}</p>` },
        });
      }
      const m = /\/v1\/messages\/([^/]+)\/revoke$/.exec(req.url);
      if (m === null || req.method !== 'POST') return routes(req);
      const how = opts.revoke ?? 'ok';
      if (how === 'down') return serverDown(req);
      if (how !== 'ok')
        return json(how, { error: { code: 'message_not_found', message: 'No such message.' } });
      revoked.push(m[1]!);
      return json(200, {
        id: m[1],
        createdAt: '2026-11-23T01:00:00.000Z',
        sendAt: null,
        expiresAt: null,
        revokedAt: '2026-11-23T01:05:00.000Z',
        recipients: [],
      });
    });
    const keys = () =>
      env.UrlFetchApp.requests
        .filter((r) => r.url.endsWith('/v1/messages'))
        .map((r) => r.headers['Idempotency-Key']);
    return { env, messages, keys, revoked, noticed };
  }

  function buttonsOf(card: unknown): string[] {
    return findAll(card, 'TextButton').map((b) => b.text as string);
  }

  /** A first send whose answer is lost after the commit; returns the card shown after it. */
  function lostFirstSend(h: ReturnType<typeof makeHandlers>, messages: { loseNext: (number | 'timeout')[] }) {
    const card = h.onGmailCompose(composeEvent())[0];
    messages.loseNext.push(502);
    return cardOf(h.onComposeSend(click(card, 'onComposeSend', { body: BODY })));
  }

  const EDITED = `${BODY} Bring the sleep diary.`;

  it('does not send a version edited after a lost answer: it says an earlier version was sent and asks', () => {
    const { env, messages, keys } = namingServer();
    const h = makeHandlers(recordingScanner());
    const failed = lostFirstSend(h, messages);

    const res = h.onComposeSend(click(failed, 'onComposeSend', { body: EDITED }));
    expect(treeOf(res).kind).toBe('ActionResponse');
    const asked = cardOf(res);
    // One POST for the edit, refused with 409; nothing posted again, nothing revoked.
    expect(keys()).toEqual([keys()[0], keys()[0]]);
    expect(env.UrlFetchApp.requests).toHaveLength(2);
    expect(messages.created).toHaveLength(1);
    const text = textOf(asked);
    expect(text).toContain('An earlier version of this message was already sent securely');
    expect(text).toContain('This version was not sent.');
    // While the choice is pending, only the choice may send.
    expect(buttonsOf(asked)).toEqual([
      'Revoke it and send this version',
      "Keep it; don't send this version",
      'Scan',
    ]);
    // The notice is PHI-free: the edited text is only in the card's own input.
    const section = findAll(asked, 'TextParagraph').map((p) => p.text as string);
    expect(section.join(' ')).not.toContain('sleep diary');
    expect(findAll(asked, 'TextInput').find((i) => i.fieldName === 'attune_body')?.value).toBe(EDITED);
  });

  it('"Revoke it and send this version" revokes the earlier message, then sends the edit once, even clicked twice', () => {
    const { env, messages, keys, revoked } = namingServer();
    const h = makeHandlers(recordingScanner());
    const failed = lostFirstSend(h, messages);
    const asked = cardOf(h.onComposeSend(click(failed, 'onComposeSend', { body: EDITED })));

    const sent = h.onComposeRevokeAndSend(click(asked, 'onComposeRevokeAndSend', { body: EDITED }));
    expect(revoked).toEqual(['msg_1']);
    const revokeReq = env.UrlFetchApp.requests.find((r) => r.url.endsWith('/revoke'));
    expect(revokeReq?.url).toBe(`${TEST_SERVER}/v1/messages/msg_1/revoke`);
    expect(inserted(sent)).toBe('<p>Secure message 2</p>');
    const [k1] = keys();
    expect(keys().at(-1)).toBe(`${k1}.2`);
    expect(messages.created.map((m) => JSON.parse(m.payload).text)).toEqual([BODY, EDITED]);

    // The card still shows (a draft update cannot replace it): a second click lands on message 2.
    const again = h.onComposeRevokeAndSend(click(asked, 'onComposeRevokeAndSend', { body: EDITED }));
    expect(inserted(again)).toBe('<p>Secure message 2</p>');
    expect(messages.created).toHaveLength(2);
  });

  it('sends nothing when the revoke fails, and says so', () => {
    for (const how of ['down', 404] as const) {
      const { messages } = namingServer({ revoke: how });
      const h = makeHandlers(recordingScanner());
      const failed = lostFirstSend(h, messages);
      const asked = cardOf(h.onComposeSend(click(failed, 'onComposeSend', { body: EDITED })));
      const res = h.onComposeRevokeAndSend(click(asked, 'onComposeRevokeAndSend', { body: EDITED }));
      expect(treeOf(res).kind).toBe('ActionResponse');
      const text = textOf(cardOf(res));
      expect(text).toContain('could not revoke the earlier version');
      expect(text).toContain('Nothing new was sent.');
      expect(buttonsOf(cardOf(res))).toContain('Revoke it and send this version');
      expect(messages.created).toHaveLength(1);
      uninstall?.();
    }
  });

  it('"Keep it; don\'t send this version" sends nothing new and puts the earlier version\'s notice in the draft', () => {
    const { env, messages, noticed } = namingServer();
    const h = makeHandlers(recordingScanner());
    const failed = lostFirstSend(h, messages);
    const asked = cardOf(h.onComposeSend(click(failed, 'onComposeSend', { body: EDITED })));
    const before = env.UrlFetchApp.requests.length;
    const res = h.onComposeKeepEarlier(click(asked, 'onComposeKeepEarlier', { body: EDITED }));
    // One request: the earlier message's notice; nothing posted to /v1/messages.
    expect(env.UrlFetchApp.requests.slice(before).map((r) => r.url)).toEqual([
      `${TEST_SERVER}/v1/messages/msg_1/notice`,
    ]);
    expect(noticed).toEqual(['msg_1']);
    expect(messages.created).toHaveLength(1);
    // The lost answer's notice (its secure link) goes into the draft, which the clinician sends.
    expect(treeOf(res).kind).toBe('UpdateDraftActionResponse');
    expect(inserted(res)).toBe('<p>Secure message 1</p>');
  });

  it('"Keep it" refuses to put a personal link in a draft whose recipients changed', () => {
    const { messages } = namingServer();
    const h = makeHandlers(recordingScanner());
    const failed = lostFirstSend(h, messages);
    const asked = cardOf(h.onComposeSend(click(failed, 'onComposeSend', { body: EDITED })));
    const e = click(asked, 'onComposeKeepEarlier', { body: EDITED });
    (e.gmail as { toRecipients?: string[] }).toRecipients = ['someone.else@example.com'];
    const res = h.onComposeKeepEarlier(e);
    expect(treeOf(res).kind).toBe('ActionResponse');
    expect(textOf(cardOf(res))).toContain("The draft's recipients changed");
    expect(buttonsOf(cardOf(res))).toContain("Keep it; don't send this version");
  });

  it('"Keep it" says what happened when the notice cannot be fetched or the earlier version was revoked', () => {
    for (const how of ['down', 'revoked'] as const) {
      const { messages } = namingServer({ notice: how });
      const h = makeHandlers(recordingScanner());
      const failed = lostFirstSend(h, messages);
      const asked = cardOf(h.onComposeSend(click(failed, 'onComposeSend', { body: EDITED })));
      const res = h.onComposeKeepEarlier(click(asked, 'onComposeKeepEarlier', { body: EDITED }));
      expect(treeOf(res).kind).toBe('ActionResponse');
      const text = textOf(cardOf(res));
      expect(text).toContain(how === 'down' ? 'press Keep it again' : 'The earlier version was revoked');
      // The choice is still offered; nothing new was sent.
      expect(buttonsOf(cardOf(res))).toContain('Revoke it and send this version');
      expect(messages.created).toHaveLength(1);
      uninstall?.();
    }
  });

  it('without a named earlier message offers "Send this version as well", which keeps Schedule', () => {
    const { messages, keys, revoked } = namingServer({ namesEarlier: false });
    const h = makeHandlers(recordingScanner());
    const card = h.onGmailCompose(composeEvent())[0];
    messages.loseNext.push('timeout');
    const failed = cardOf(h.onComposeSchedule(click(card, 'onComposeSchedule', { body: BODY })));
    const asked = cardOf(h.onComposeSchedule(click(failed, 'onComposeSchedule', { body: EDITED })));
    expect(messages.created).toHaveLength(1);
    expect(textOf(asked)).toContain('An earlier version of this message may already have been sent securely');
    expect(buttonsOf(asked)).toEqual(['Send this version as well', "Don't send this version", 'Scan']);

    const dont = h.onComposeKeepEarlier(click(asked, 'onComposeKeepEarlier', { body: EDITED }));
    expect(textOf(cardOf(dont))).toContain('This version was not sent');
    expect(messages.created).toHaveLength(1);

    const sent = h.onComposeSendAlso(click(asked, 'onComposeSendAlso', { body: EDITED }));
    expect(treeOf(sent).kind).toBe('UpdateDraftActionResponse');
    expect(revoked).toEqual([]);
    expect(keys().at(-1)).toBe(`${keys()[0]}.2`);
    expect(JSON.parse(messages.created[1]!.payload)).toMatchObject({ text: EDITED, sendAt: 'best' });
  });

  it('after many edits of one card, each confirmed, still sends the latest, under a random key', () => {
    const { messages, keys } = namingServer({ namesEarlier: false });
    const h = makeHandlers(recordingScanner());
    const card = h.onGmailCompose(composeEvent())[0];
    h.onComposeSend(click(card, 'onComposeSend', { body: `${BODY} (0)` }));
    for (let i = 1; i < MAX_FOLLOW_ON_KEYS + 2; i++) {
      const asked = cardOf(h.onComposeSend(click(card, 'onComposeSend', { body: `${BODY} (${i})` })));
      h.onComposeSendAlso(click(asked, 'onComposeSendAlso', { body: `${BODY} (${i})` }));
    }
    expect(messages.created).toHaveLength(MAX_FOLLOW_ON_KEYS + 2);
    expect(messages.created.map((m) => JSON.parse(m.payload).text).at(-1)).toBe(
      `${BODY} (${MAX_FOLLOW_ON_KEYS + 1})`,
    );
    const last = messages.created.at(-1)!.key;
    expect(last).toMatch(KEY);
    expect(last).not.toBe(keys()[0]);
  });
});
