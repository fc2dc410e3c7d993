import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiClient } from '../core/api-client.ts';
import { cachedTokenProvider, devTokenProvider } from '../core/auth.ts';
import { MAX_ALERT_CHARS } from '../core/alerts.ts';
import { createPolicySource } from '../core/policy-source.ts';
import { deadUrl, NOTICE_HTML, startFakeApi } from '../testing/fake-api.ts';
import type { FakeApi, FakeApiOptions } from '../testing/fake-api.ts';
import { fakeOffice } from '../testing/fake-office.ts';
import type { FakeDraftInit } from '../testing/fake-office.ts';
import { KEPT_NOTICE_ENTRY } from '../core/kept-notice.ts';
import { COMPOSE_COMMAND_ID, createOnMessageSend, NEUTRAL_SUBJECT, SECURED_HEADER } from './on-send.ts';

const PATIENT = 'pat.jones@gmail.com';
const COLLEAGUE = 'dr.lee@practice.example';
const PHI_HTML =
  '<p>Hi Jane,</p><p>Your sertraline 50 mg for major depressive disorder is ready at the pharmacy. DOB 03/14/1985.</p>';
const CLEAN_HTML = '<p>Shall we move our meeting to noon on the usual day?</p>';

let api: FakeApi | null = null;
afterEach(async () => {
  await api?.close();
  api = null;
  delete (globalThis as { Office?: unknown }).Office;
});

interface Run {
  completed: unknown[];
  writes: ReturnType<typeof fakeOffice>['writes'];
  calls: string[];
}

async function send(draft: FakeDraftInit, server: FakeApiOptions | 'down' = {}): Promise<Run> {
  let baseUrl: string;
  if (server === 'down') baseUrl = await deadUrl();
  else {
    api = await startFakeApi({ policy: { internalDomains: ['practice.example'] }, ...server });
    baseUrl = api.url;
  }
  return sendTo(baseUrl, draft);
}

/** One press of Send: a fresh handler context (as Office gives each event) against `baseUrl`. */
async function sendTo(baseUrl: string, draft: FakeDraftInit): Promise<Run> {
  const { office, writes, calls } = fakeOffice(draft);
  (globalThis as { Office?: unknown }).Office = office;
  const getToken = cachedTokenProvider(
    devTokenProvider({ baseUrl, email: () => 'clinician@practice.example' }),
    60_000,
  );
  const client = createApiClient({ baseUrl, getToken, timeoutMs: 5_000 });
  const handler = createOnMessageSend({
    api: client,
    policy: createPolicySource(client),
    item: () => (office as unknown as typeof Office).context.mailbox.item as Office.MessageCompose,
  });
  const completed: unknown[] = [];
  const event = { completed: (o?: unknown) => completed.push(o) };
  await handler(event);
  return { completed, writes, calls };
}

function only(run: Run): Office.SmartAlertsEventCompletedOptions {
  expect(run.completed).toHaveLength(1);
  return run.completed[0] as Office.SmartAlertsEventCompletedOptions;
}

function expectUntouched(run: Run): void {
  expect(run.writes.body).toEqual([]);
  expect(run.writes.subject).toEqual([]);
  expect(run.writes.removedAttachments).toEqual([]);
  expect(run.writes.headers).toEqual([]);
}

function expectPhiFree(text: string | undefined): void {
  expect(text).toBeTruthy();
  expect(text!.length).toBeLessThanOrEqual(MAX_ALERT_CHARS);
  for (const value of ['Jane', 'sertraline', 'depressive', '1985', 'PTSD', 'Jones', PATIENT])
    expect(text).not.toContain(value);
}

describe('OnMessageSend with the practice on "review"', () => {
  it('lets a message without PHI go out untouched', async () => {
    const run = await send({ subject: 'Meeting time', html: CLEAN_HTML, to: [PATIENT] });
    expect(only(run)).toEqual({ allowEvent: true });
    expectUntouched(run);
  });

  it('blocks PHI in the subject only and offers "Send securely" with the compose pane', async () => {
    const run = await send({ subject: 'Jane Doe depression follow-up', html: CLEAN_HTML, to: [PATIENT] });
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.cancelLabel).toBe('Send securely');
    expect(o.commandId).toBe(COMPOSE_COMMAND_ID);
    const ctx = JSON.parse(o.contextData as string);
    expect(ctx).toMatchObject({ v: 1, reason: 'review' });
    expect(ctx.types).toEqual(expect.arrayContaining(['NAME', 'DIAGNOSIS']));
    expect(o.errorMessageMarkdown).toContain('the subject');
    expect(o.errorMessageMarkdown).toContain('a diagnosis');
    expectPhiFree(o.errorMessageMarkdown);
    expectPhiFree(o.errorMessage);
    expectUntouched(run);
    expect(api!.requests.some((r) => r.path === '/v1/messages')).toBe(false);
  });

  it('blocks PHI in the HTML body and names the kinds of PHI, not the values', async () => {
    const o = only(await send({ subject: 'Follow-up', html: PHI_HTML, to: [PATIENT] }));
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toMatch(/a medication/);
    expect(o.errorMessageMarkdown).toContain('the body');
    expectPhiFree(o.errorMessageMarkdown);
  });

  it('blocks PHI in an attachment name without repeating the name', async () => {
    const run = await send({
      subject: 'Documents',
      html: '<p>Attached.</p>',
      to: [PATIENT],
      attachments: [{ id: 'a1', name: 'Jane_Doe_PTSD_assessment.pdf', content: 'JVBERi0=' }],
    });
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('an attachment name');
    expectPhiFree(o.errorMessageMarkdown);
    expectUntouched(run);
  });

  it('lets PHI to internal recipients only go out as is', async () => {
    const run = await send({ subject: 'Follow-up', html: PHI_HTML, to: [COLLEAGUE] });
    expect(only(run)).toEqual({ allowEvent: true });
    expectUntouched(run);
  });

  it('treats a Bcc to an external address like any external recipient', async () => {
    const o = only(await send({ subject: 'Follow-up', html: PHI_HTML, to: [COLLEAGUE], bcc: [PATIENT] }));
    expect(o.allowEvent).toBe(false);
  });
});

describe('OnMessageSend with the practice on "automatic"', () => {
  const automatic: FakeApiOptions = {
    policy: { internalDomains: ['practice.example'], outlookAction: 'automatic' },
  };

  it('stores the content on the server, replaces the body with the notice, removes attachments and stamps the header', async () => {
    const run = await send(
      {
        subject: 'Follow-up',
        html: PHI_HTML,
        to: [PATIENT],
        cc: [COLLEAGUE],
        bcc: ['other@example.net'],
        attachments: [
          { id: 'a1', name: 'plan.pdf', content: 'JVBERi0xLjQK' },
          {
            id: 'a2',
            name: 'note.eml',
            attachmentType: 'item',
            format: 'eml',
            content: 'Subject: x\r\n\r\nbody',
          },
        ],
      },
      automatic,
    );
    expect(only(run)).toEqual({ allowEvent: true });
    const posted = api!.requests.filter((r) => r.path === '/v1/messages');
    expect(posted).toHaveLength(1);
    expect(posted[0]!.auth).toBe('Bearer dev-token-1');
    expect(posted[0]!.body).toMatchObject({
      to: [PATIENT],
      cc: [COLLEAGUE, 'other@example.net'],
      subject: 'Follow-up',
      html: PHI_HTML,
      // The draft itself leaves Exchange as the notice: the server must not email another.
      delivery: 'client',
      attachments: [
        { filename: 'plan.pdf', contentType: 'application/pdf', contentBase64: 'JVBERi0xLjQK' },
        {
          filename: 'note.eml',
          contentType: 'message/rfc822',
          contentBase64: Buffer.from('Subject: x\r\n\r\nbody').toString('base64'),
        },
      ],
    });
    expect(run.writes.body).toEqual([{ value: NOTICE_HTML, coercionType: 'html' }]);
    expect(run.writes.removedAttachments).toEqual(['a1', 'a2']);
    expect(run.writes.headers).toEqual([{ [SECURED_HEADER]: 'msg_1' }]);
    // The subject had no PHI: it stays.
    expect(run.writes.subject).toEqual([]);
  });

  it('replaces a subject that contains PHI, so the notice does not carry it', async () => {
    const run = await send(
      { subject: 'Jane Doe depression follow-up', html: CLEAN_HTML, to: [PATIENT] },
      automatic,
    );
    expect(only(run)).toEqual({ allowEvent: true });
    expect(run.writes.subject).toEqual([NEUTRAL_SUBJECT]);
    expect(run.writes.body).toEqual([{ value: NOTICE_HTML, coercionType: 'html' }]);
  });

  it('still lets a message without PHI go out without calling the server to send', async () => {
    const run = await send({ subject: 'Meeting time', html: CLEAN_HTML, to: [PATIENT] }, automatic);
    expect(only(run)).toEqual({ allowEvent: true });
    expect(api!.requests.filter((r) => r.path === '/v1/messages')).toEqual([]);
    expectUntouched(run);
  });

  it('blocks with the reason when the server refuses the message (4xx), leaving the draft as it was', async () => {
    const run = await send(
      { subject: 'Follow-up', html: PHI_HTML, to: [PATIENT] },
      { ...automatic, messages: [413, 'payload_too_large'] },
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('larger than secure delivery allows');
    expect(JSON.parse(o.contextData as string).reason).toBe('rejected');
    expectPhiFree(o.errorMessageMarkdown);
    expectUntouched(run);
  });

  it('blocks when the server fails (5xx) on the send, without claiming nothing was sent', async () => {
    // A 5xx can come after the server committed the message: only Send again, with the same key,
    // can tell, so the alert says that much and no more.
    const run = await send(
      { subject: 'Follow-up', html: PHI_HTML, to: [PATIENT] },
      { ...automatic, messages: [503, 'internal_error'] },
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain("couldn't confirm the secure send");
    expect(o.errorMessageMarkdown).toContain(
      "choose Send again: if the server already has this message, it won't be sent twice",
    );
    expect(o.errorMessageMarkdown).not.toContain('Nothing was sent');
    expectPhiFree(o.errorMessageMarkdown);
    expectUntouched(run);
  });

  it('blocks a cloud attachment it cannot secure, before sending anything', async () => {
    const run = await send(
      {
        subject: 'Follow-up',
        html: PHI_HTML,
        to: [PATIENT],
        attachments: [{ id: 'c1', name: 'x.docx', attachmentType: 'cloud', format: 'url' }],
      },
      automatic,
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('shared-link');
    expect(api!.requests.filter((r) => r.path === '/v1/messages')).toEqual([]);
  });

  it('blocks, rather than sending in clear, when Outlook refuses to replace the body', async () => {
    const run = await send(
      { subject: 'Follow-up', html: PHI_HTML, to: [PATIENT], failing: ['body.setAsync'] },
      automatic,
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain("couldn't finish securing");
    expect(run.writes.headers).toEqual([]);
  });
});

describe('OnMessageSend pressed again after a secure send whose answer was lost', () => {
  const automatic: FakeApiOptions = {
    policy: { internalDomains: ['practice.example'], outlookAction: 'automatic' },
  };
  // Several recipients: the server emails each their own link, so a second message would reach
  // the patient twice.
  const DRAFT: FakeDraftInit = { subject: 'Follow-up', html: PHI_HTML, to: [PATIENT], cc: [COLLEAGUE] };
  const posts = () => api!.requests.filter((r) => r.path === '/v1/messages');

  it.each([
    ['the connection drops', 'drop' as const],
    ['a 502 comes back', 502],
  ])(
    'sends the same Idempotency-Key again, so the server keeps one message, when %s after the commit',
    async (_what, lost) => {
      const sessionData = new Map<string, string>();
      const first = await send({ ...DRAFT, sessionData }, { ...automatic, lostAnswers: [lost] });
      const blocked = only(first);
      expect(blocked.allowEvent).toBe(false);
      // The server may hold it: the alert must not claim that nothing was sent.
      expect(blocked.errorMessageMarkdown).toContain("won't be sent twice");
      expect(blocked.errorMessageMarkdown).not.toContain('Nothing was sent');
      expectPhiFree(blocked.errorMessageMarkdown);
      expectUntouched(first);
      expect(api!.created).toHaveLength(1);

      const second = await sendTo(api!.url, { ...DRAFT, sessionData });
      expect(only(second)).toEqual({ allowEvent: true });
      const keys = posts().map((r) => r.idempotencyKey);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^outlook-send-[0-9a-f-]{36}$/);
      expect(keys[1]).toBe(keys[0]);
      expect(api!.created).toHaveLength(1);
      // The draft becomes the notice of the message the server already had.
      expect(second.writes.body).toEqual([{ value: NOTICE_HTML, coercionType: 'html' }]);
      expect(second.writes.headers).toEqual([{ [SECURED_HEADER]: api!.created[0]!.id }]);
    },
  );

  it('blocks a draft edited after the lost answer, says an earlier version went, and offers Review with its id (never a silent second message)', async () => {
    const sessionData = new Map<string, string>();
    only(await send({ ...DRAFT, sessionData }, { ...automatic, lostAnswers: ['drop'] }));
    const edited = { ...DRAFT, html: `${PHI_HTML}<p>Take it with food.</p>`, sessionData };

    const run = await sendTo(api!.url, edited);
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('An earlier version of this message was already sent securely');
    expect(o.errorMessageMarkdown).toContain('**Review**');
    expectPhiFree(o.errorMessageMarkdown);
    expectPhiFree(o.errorMessage);
    // Review opens the pane, which can revoke the earlier message: its id travels in contextData.
    expect(o.cancelLabel).toBe('Review');
    expect(o.commandId).toBe(COMPOSE_COMMAND_ID);
    expect(JSON.parse(o.contextData)).toEqual({
      v: 1,
      reason: 'earlier_sent',
      types: expect.any(Array),
      messageId: api!.created[0]!.id,
    });
    expectUntouched(run);
    // One message only; the old key was refused for the new content and no other key was tried.
    const [k1, conflicted] = posts().map((r) => r.idempotencyKey);
    expect(conflicted).toBe(k1);
    expect(posts()).toHaveLength(2);
    expect(api!.created).toHaveLength(1);
    // Pressing Send again gives the same answer: still no second message.
    expect(only(await sendTo(api!.url, edited)).allowEvent).toBe(false);
    expect(api!.created).toHaveLength(1);
    expect([...sessionData.values()]).toEqual([k1]);
  });

  it('blocks too when the 409 names no message (an older server), offering Review without an id', async () => {
    const sessionData = new Map<string, string>();
    only(await send({ ...DRAFT, sessionData }, { ...automatic, lostAnswers: ['drop'] }));
    api!.options.messages = [409, 'conflict'];
    const o = only(await sendTo(api!.url, { ...DRAFT, html: `${PHI_HTML}<p>Edited.</p>`, sessionData }));
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('may already have been sent securely');
    expectPhiFree(o.errorMessageMarkdown);
    expect(o.cancelLabel).toBe('Review');
    expect(JSON.parse(o.contextData)).toEqual({ v: 1, reason: 'earlier_sent', types: expect.any(Array) });
    expect(api!.created).toHaveLength(1);
  });

  it('still secures and sends the message on a host without sessionData, with a fresh key each press', async () => {
    const first = await send({ ...DRAFT, sessionData: null }, automatic);
    expect(only(first)).toEqual({ allowEvent: true });
    expect(first.writes.body).toEqual([{ value: NOTICE_HTML, coercionType: 'html' }]);
    const second = await sendTo(api!.url, { ...DRAFT, sessionData: null });
    expect(only(second)).toEqual({ allowEvent: true });
    const [k1, k2] = posts().map((r) => r.idempotencyKey);
    expect(k1).toMatch(/^outlook-send-/);
    expect(k2).toMatch(/^outlook-send-/);
    expect(k2).not.toBe(k1);
  });

  it('still sends when Outlook refuses to keep the key, and does not promise a safe retry', async () => {
    const run = await send(
      { ...DRAFT, failing: ['sessionData.setAsync'] },
      { ...automatic, lostAnswers: ['drop'] },
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('choose Send again');
    expect(o.errorMessageMarkdown).not.toContain("won't be sent twice");
    expect(posts()).toHaveLength(1);
    expect(posts()[0]!.idempotencyKey).toMatch(/^outlook-send-/);
  });
});

describe('OnMessageSend after "Keep it" in the pane (the earlier version was client-delivered)', () => {
  const automatic: FakeApiOptions = {
    policy: { internalDomains: ['practice.example'], outlookAction: 'automatic' },
  };
  const ONE: FakeDraftInit = {
    subject: 'Jane: sertraline',
    html: PHI_HTML,
    to: [PATIENT],
    attachments: [{ id: 'att-1', name: 'plan.txt', content: 'cGxhbg==' }],
  };
  const EDITED: FakeDraftInit = { ...ONE, html: `${PHI_HTML}<p>Take it with food.</p>` };

  /** A Send whose answer is lost, an edit that meets 409, and the pane's "Keep it" note. */
  async function keptAfterLostAnswer(sessionData: Map<string, string>): Promise<string> {
    only(await send({ ...ONE, sessionData }, { ...automatic, lostAnswers: ['drop'] }));
    const asked = only(await sendTo(api!.url, { ...EDITED, sessionData }));
    const id = (JSON.parse(asked.contextData) as { messageId: string }).messageId;
    expect(id).toBe(api!.created[0]!.id);
    // What the pane's Keep it leaves on the item (core/kept-notice.ts rememberKept).
    sessionData.set(KEPT_NOTICE_ENTRY, id);
    return id;
  }

  it("makes the draft the kept version's notice (the same link) and lets it go, sending nothing new", async () => {
    const sessionData = new Map<string, string>();
    const id = await keptAfterLostAnswer(sessionData);
    const postsBefore = api!.requests.filter((r) => r.path === '/v1/messages').length;

    const run = await sendTo(api!.url, { ...EDITED, sessionData });
    expect(only(run)).toEqual({ allowEvent: true });
    expect(api!.requests.at(-1)).toMatchObject({ method: 'POST', path: `/v1/messages/${id}/notice` });
    expect(api!.requests.filter((r) => r.path === '/v1/messages')).toHaveLength(postsBefore);
    expect(api!.created).toHaveLength(1);
    // Only the notice leaves Exchange: body replaced, PHI subject neutral, attachment gone, stamped.
    expect(run.writes.body).toEqual([{ value: NOTICE_HTML, coercionType: 'html' }]);
    expect(run.writes.subject).toEqual([NEUTRAL_SUBJECT]);
    expect(run.writes.removedAttachments).toEqual(['att-1']);
    expect(run.writes.headers).toEqual([{ [SECURED_HEADER]: id }]);
  });

  it('blocks, writing nothing, when the draft no longer goes to that one recipient (the link is personal)', async () => {
    const sessionData = new Map<string, string>();
    await keptAfterLostAnswer(sessionData);
    const run = await sendTo(api!.url, { ...EDITED, cc: [COLLEAGUE], sessionData });
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('recipients changed');
    expectPhiFree(o.errorMessageMarkdown);
    expectUntouched(run);
  });

  it('blocks and forgets the note when the kept version was revoked; says so when the server is down', async () => {
    const sessionData = new Map<string, string>();
    const id = await keptAfterLostAnswer(sessionData);
    await fetch(`${api!.url}/v1/messages/${id}/revoke`, {
      method: 'POST',
      headers: { authorization: 'Bearer dev-token-1' },
    });
    const run = await sendTo(api!.url, { ...EDITED, sessionData });
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('revoked or has expired');
    expectUntouched(run);
    expect(sessionData.has(KEPT_NOTICE_ENTRY)).toBe(false);

    sessionData.set(KEPT_NOTICE_ENTRY, id);
    const down = await sendTo(await deadUrl(), { ...EDITED, sessionData });
    expect(only(down).errorMessageMarkdown).toContain('could not be reached');
    expectUntouched(down);
    expect(sessionData.get(KEPT_NOTICE_ENTRY)).toBe(id);
  });
});

describe('OnMessageSend when the server stored the message but the draft could not be made its notice', () => {
  const automatic: FakeApiOptions = {
    policy: { internalDomains: ['practice.example'], outlookAction: 'automatic' },
  };
  const ONE: FakeDraftInit = { subject: 'Follow-up', html: PHI_HTML, to: [PATIENT] };
  // Several recipients: the server emails each their own link, so a second message would reach
  // each of them twice.
  const SEVERAL: FakeDraftInit = { ...ONE, cc: [COLLEAGUE] };
  const posts = () => api!.requests.filter((r) => r.path === '/v1/messages');

  it.each([
    ['one recipient', ONE],
    ['several recipients', SEVERAL],
  ])(
    'with %s, says Send again finishes it, and Send again replays the stored message and rewrites the draft',
    async (_who, draft) => {
      const sessionData = new Map<string, string>();
      const first = await send({ ...draft, sessionData, failing: ['body.setAsync'] }, automatic);
      const blocked = only(first);
      expect(blocked.allowEvent).toBe(false);
      expect(blocked.errorMessageMarkdown).toContain("couldn't finish securing");
      expect(blocked.errorMessageMarkdown).toContain(
        "Choose Send again to finish: Attune's server already has this message, so it won't be sent twice.",
      );
      // Not the pane: it posts under its own key with delivery "server", a second message.
      expect(blocked.errorMessageMarkdown).not.toContain('Send securely');
      expect(blocked.commandId).toBeUndefined();
      expect(blocked.cancelLabel).toBeUndefined();
      expectPhiFree(blocked.errorMessageMarkdown);
      expectPhiFree(blocked.errorMessage);
      expectUntouched(first);
      expect(api!.created).toHaveLength(1);

      const second = await sendTo(api!.url, { ...draft, sessionData });
      expect(only(second)).toEqual({ allowEvent: true });
      const keys = posts().map((r) => r.idempotencyKey);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^outlook-send-/);
      expect(keys[1]).toBe(keys[0]);
      expect(posts()[1]!.body).toEqual(posts()[0]!.body);
      // Exactly one message on the server, and the draft is now its notice.
      expect(api!.created).toHaveLength(1);
      expect(second.writes.body).toEqual([{ value: NOTICE_HTML, coercionType: 'html' }]);
      expect(second.writes.headers).toEqual([{ [SECURED_HEADER]: api!.created[0]!.id }]);
    },
  );

  it('without a kept key and several recipients, says the server sent the links and to discard the draft', async () => {
    const run = await send({ ...SEVERAL, failing: ['sessionData.setAsync', 'body.setAsync'] }, automatic);
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('has sent each recipient their own secure link');
    expect(o.errorMessageMarkdown).toContain("Discard this draft: don't send it again");
    expect(o.errorMessageMarkdown).not.toContain('Send again');
    expect(o.errorMessageMarkdown).not.toContain('Send securely');
    expect(o.commandId).toBeUndefined();
    expectPhiFree(o.errorMessageMarkdown);
    expect(api!.created).toHaveLength(1);
  });

  it('without a kept key and one recipient (the draft was to carry the link), offers the pane', async () => {
    const run = await send({ ...ONE, failing: ['sessionData.setAsync', 'body.setAsync'] }, automatic);
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('The recipient has not been sent anything yet.');
    expect(o.errorMessageMarkdown).toContain('Choose **Send securely**');
    expect(o.errorMessageMarkdown).not.toContain('Send again');
    expect(o.cancelLabel).toBe('Send securely');
    expect(o.commandId).toBe(COMPOSE_COMMAND_ID);
    expect(JSON.parse(o.contextData as string).reason).toBe('rewrite_failed');
    expectPhiFree(o.errorMessageMarkdown);
  });

  it('does not promise Send again once part of the draft was rewritten (the next request would differ)', async () => {
    // The body became the notice, then Outlook refused the subject: Send again would read another
    // draft, get 409 for the kept key and post a second message.
    const run = await send(
      { ...SEVERAL, subject: 'Jane Doe depression follow-up', failing: ['subject.setAsync'] },
      automatic,
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(run.writes.body).toEqual([{ value: NOTICE_HTML, coercionType: 'html' }]);
    expect(o.errorMessageMarkdown).toContain("couldn't finish securing");
    expect(o.errorMessageMarkdown).not.toContain('Send again');
    expect(o.errorMessageMarkdown).toContain("Discard this draft: don't send it again");
  });
});

describe('OnMessageSend when the server or sign-in fails', () => {
  it('blocks PHI when the server is down, saying why and what to do', async () => {
    const run = await send({ subject: 'Follow-up', html: PHI_HTML, to: [PATIENT] }, 'down');
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain("can't reach its server");
    expect(o.errorMessageMarkdown).toContain('Check your connection');
    expectPhiFree(o.errorMessageMarkdown);
    expectUntouched(run);
  });

  it('blocks what the default policy would let through when the server is down: the practice may forbid it', async () => {
    // An identifier without health content: the default policy allows it; this practice blocks SSNs.
    const html = '<p>The SSN we have on file for the claim is 536-22-1234.</p>';
    const up = only(
      await send({ subject: 'Claim', html, to: [PATIENT] }, { policy: { blockTypes: ['SSN'] } }),
    );
    expect(up.allowEvent).toBe(false);
    await api?.close();
    api = null;
    const run = await send({ subject: 'Claim', html, to: [PATIENT] }, 'down');
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain("can't reach its server");
    expect(o.errorMessageMarkdown).not.toContain('536-22-1234');
    expectUntouched(run);
  });

  it('still lets a message without PHI go out when the server is down (default policy decides)', async () => {
    const run = await send({ subject: 'Meeting time', html: CLEAN_HTML, to: [PATIENT] }, 'down');
    expect(only(run)).toEqual({ allowEvent: true });
  });

  it('blocks PHI with a sign-in message when sign-in is refused, and offers the pane to sign in', async () => {
    const run = await send({ subject: 'Follow-up', html: PHI_HTML, to: [PATIENT] }, { devToken: 403 });
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain("couldn't sign you in");
    expect(o.cancelLabel).toBe('Sign in');
    expect(o.commandId).toBe(COMPOSE_COMMAND_ID);
    expect(JSON.parse(o.contextData as string).reason).toBe('sign_in');
    expectUntouched(run);
  });

  it('fails closed with exactly one completion when reading the item throws', async () => {
    const run = await send({
      subject: 'Follow-up',
      html: PHI_HTML,
      to: [PATIENT],
      failing: ['body.getAsync'],
    });
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain("couldn't check this message");
  });
});

describe('OnMessageSend and the known-patient rule', () => {
  // Health content with no identifier: the default rule lets it go to a stranger, but to a patient
  // of the practice it is PHI (and which recipients are patients only the server knows).
  const HEALTH_ONLY = '<p>The lithium level came back in range, so no change for now.</p>';
  // (An address without a name in it: a name there would be an identifier of its own.)
  const CLIENT = 'client.4471@mail.example';
  const patientLookups = () => api!.requests.filter((r) => r.path === '/v1/recipients/patients');

  it('holds health content for a patient the server names, as PHI', async () => {
    const run = await send({ subject: 'Labs', html: HEALTH_ONLY, to: [CLIENT] }, { patients: [CLIENT] });
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(JSON.parse(o.contextData as string).reason).toBe('review');
    expect(patientLookups().map((r) => r.body)).toEqual([{ emails: [CLIENT] }]);
    expectUntouched(run);
  });

  it('lets the same content go to someone who is not a patient', async () => {
    const run = await send({ subject: 'Labs', html: HEALTH_ONLY, to: ['pharmacist@pharmacy.example'] });
    expect(only(run)).toEqual({ allowEvent: true });
    expect(patientLookups()).toHaveLength(1);
  });

  it('does not ask about recipients when the content has no findings', async () => {
    const run = await send(
      { subject: 'Meeting time', html: CLEAN_HTML, to: [PATIENT] },
      { patients: [PATIENT] },
    );
    expect(only(run)).toEqual({ allowEvent: true });
    expect(patientLookups()).toEqual([]);
  });

  it('holds the send when the server cannot say whether a recipient is a patient', async () => {
    const run = await send(
      { subject: 'Labs', html: HEALTH_ONLY, to: [CLIENT] },
      {
        routes: {
          'POST /v1/recipients/patients': () => [503, { error: { code: 'unavailable', message: 'x' } }],
        },
      },
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain("can't reach its server");
    expectUntouched(run);
  });
});

describe('OnMessageSend policy switches', () => {
  it('offers Send Anyway (PromptUser) when an opt-in practice only warns', async () => {
    const o = only(
      await send({ subject: 'Follow-up', html: PHI_HTML, to: [PATIENT] }, { policy: { mode: 'opt_in' } }),
    );
    if (o.allowEvent) return expect.unreachable('opt-in PHI must not pass silently');
    expect(o.sendModeOverride).toBe('promptUser');
    expect(o.commandId).toBe(COMPOSE_COMMAND_ID);
  });

  it('blocks a type the practice never allows in email, even for automatic practices', async () => {
    const run = await send(
      { subject: 'Records', html: '<p>Her SSN is 219-09-9999 for the insurance form.</p>', to: [PATIENT] },
      { policy: { outlookAction: 'automatic', blockTypes: ['SSN'] } },
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessageMarkdown).toContain('Social Security number');
    expect(o.errorMessageMarkdown).not.toContain('219-09-9999');
    expect(api!.requests.filter((r) => r.path === '/v1/messages')).toEqual([]);
  });
});

beforeEach(() => {
  delete (globalThis as { Office?: unknown }).Office;
});

describe('OnMessageSend with PDF and Office attachments (the server reads their contents)', () => {
  const PDF = { id: 'a1', name: 'document.pdf', content: 'JVBERi0xLjQKJSBpbnRha2UgZm9ybQ==' };
  const scanAnswer = (decision: 'allow' | 'encrypt', types: string[]) => () =>
    [
      200,
      {
        decision,
        reasons: decision === 'allow' ? ['No PHI found.'] : ['Names a patient and mentions a diagnosis.'],
        phi: decision !== 'allow',
        types,
        fields: types.length > 0 ? [{ field: 'attachment:0', types }] : [],
        attachments: [{ kind: 'pdf', read: 'full' }],
      },
    ] as [number, unknown];

  it('asks the server about a clean draft with a PDF to an outside address, and holds it when the contents hold PHI', async () => {
    const run = await send(
      { subject: 'Paperwork', html: CLEAN_HTML, to: ['billing@vendor.example'], attachments: [PDF] },
      { routes: { 'POST /v1/scan': scanAnswer('encrypt', ['NAME', 'DIAGNOSIS']) } },
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.cancelLabel).toBe('Send securely');
    expect(o.errorMessageMarkdown).toContain('an attachment');
    expect(o.errorMessageMarkdown).toContain('a diagnosis');
    expect(JSON.parse(o.contextData as string)).toMatchObject({
      reason: 'review',
      types: ['NAME', 'DIAGNOSIS'],
    });
    const asked = api!.requests.filter((r) => r.path === '/v1/scan');
    expect(asked).toHaveLength(1);
    expect(asked[0]!.body).toMatchObject({
      to: ['billing@vendor.example'],
      attachments: [{ filename: 'document.pdf', contentType: 'application/pdf', contentBase64: PDF.content }],
    });
    expectUntouched(run);
  });

  it('secures the draft in place (automatic mode) when the server finds PHI in the attachment', async () => {
    const run = await send(
      { subject: 'Paperwork', html: CLEAN_HTML, to: ['billing@vendor.example'], attachments: [PDF] },
      {
        policy: { internalDomains: ['practice.example'], outlookAction: 'automatic' },
        routes: { 'POST /v1/scan': scanAnswer('encrypt', ['NAME', 'DIAGNOSIS']) },
      },
    );
    expect(only(run)).toEqual({ allowEvent: true });
    expect(run.writes.body.map((b) => b.value)).toEqual([NOTICE_HTML]);
    expect(run.writes.removedAttachments).toEqual(['a1']);
    expect(api!.created).toHaveLength(1);
  });

  it('lets the draft go when the server finds nothing in the contents', async () => {
    const run = await send(
      { subject: 'Flyer', html: CLEAN_HTML, to: ['billing@vendor.example'], attachments: [PDF] },
      { routes: { 'POST /v1/scan': scanAnswer('allow', []) } },
    );
    expect(only(run)).toEqual({ allowEvent: true });
    expectUntouched(run);
  });

  it('holds the draft when the server cannot scan the attachment (fails safe, says why)', async () => {
    const run = await send(
      { subject: 'Paperwork', html: CLEAN_HTML, to: ['billing@vendor.example'], attachments: [PDF] },
      { routes: { 'POST /v1/scan': () => [503, { error: { code: 'unavailable', message: 'Down.' } }] } },
    );
    const o = only(run);
    expect(o.allowEvent).toBe(false);
    expect(o.errorMessage).toContain("can't reach its server");
    expectUntouched(run);
  });

  it('asks nothing for an image, or when every recipient is inside the practice', async () => {
    const image = await send({
      subject: 'Photo',
      html: CLEAN_HTML,
      to: ['billing@vendor.example'],
      attachments: [{ id: 'i1', name: 'team.png', content: 'iVBORw0KGgo=' }],
    });
    expect(only(image)).toEqual({ allowEvent: true });
    expect(api!.requests.some((r) => r.path === '/v1/scan')).toBe(false);
    await api!.close();
    const internal = await send({ subject: 'Form', html: CLEAN_HTML, to: [COLLEAGUE], attachments: [PDF] });
    expect(only(internal)).toEqual({ allowEvent: true });
    expect(api!.requests.some((r) => r.path === '/v1/scan')).toBe(false);
  });
});
