import { afterEach, describe, expect, it } from 'vitest';
import { createApiClient } from '../core/api-client.ts';
import { cachedTokenProvider, devTokenProvider } from '../core/auth.ts';
import { startFakeApi } from '../testing/fake-api.ts';
import type { FakeApi, FakeApiOptions } from '../testing/fake-api.ts';
import { fakeOffice } from '../testing/fake-office.ts';
import { PANE_KEY_SLOT, paneSendKey, revokeThenSend, sendUnderPaneKey } from './secure-send.ts';

let api: FakeApi | null = null;
afterEach(async () => {
  await api?.close();
  api = null;
});

async function server(opts: FakeApiOptions = {}) {
  api = await startFakeApi(opts);
  const baseUrl = api.url;
  const client = createApiClient({
    baseUrl,
    getToken: cachedTokenProvider(
      devTokenProvider({ baseUrl, email: () => 'clinician@practice.example' }),
      60_000,
    ),
    timeoutMs: 5_000,
  });
  const posts = () => api!.requests.filter((r) => r.path === '/v1/messages');
  return { api, client, posts };
}

// What the pane posts (compose.ts): delivery "server", the draft is discarded afterwards.
const DRAFT = {
  to: ['pat.jones@gmail.com'],
  cc: ['dr.lee@practice.example'],
  subject: 'Follow-up',
  html: '<p>Your sertraline 50 mg is ready.</p>',
  delivery: 'server' as const,
};
const EDITED = { ...DRAFT, html: '<p>Your sertraline 50 mg is ready. Take it with food.</p>' };

describe("the compose pane's secure send", () => {
  it('sends the same request twice under one key, so the server keeps one message', async () => {
    const { api, client, posts } = await server({ lostAnswers: ['drop'] });
    const key = paneSendKey();
    const lost = await sendUnderPaneKey(client, DRAFT, key);
    expect(lost).toMatchObject({ ok: false, reason: 'unreachable' });
    const again = await sendUnderPaneKey(client, DRAFT, key);
    expect(again.ok).toBe(true);
    expect(posts().map((r) => r.idempotencyKey)).toEqual([key.current, key.current]);
    expect(api.created).toHaveLength(1);
  });

  it('returns the 409 naming the earlier message for a draft edited after a lost answer, and sends nothing more on its own', async () => {
    const { api, client, posts } = await server({ lostAnswers: ['drop'] });
    const key = paneSendKey();
    const k1 = await key.get();
    expect(await sendUnderPaneKey(client, DRAFT, key)).toMatchObject({ ok: false, reason: 'unreachable' });

    const edited = await sendUnderPaneKey(client, EDITED, key);
    expect(edited).toMatchObject({ ok: false, status: 409, code: 'conflict', messageId: api.created[0]!.id });
    expect(posts().map((r) => r.idempotencyKey)).toEqual([k1, k1]);
    expect(api.created).toHaveLength(1);
    expect(key.current).toBe(k1);
  });

  it('"Schedule" after a lost "Send securely" is refused as another message, not sent as a second one', async () => {
    const { api, client, posts } = await server({ lostAnswers: ['drop'] });
    const key = paneSendKey();
    expect(await sendUnderPaneKey(client, DRAFT, key)).toMatchObject({ ok: false, reason: 'unreachable' });
    const scheduled = await sendUnderPaneKey(client, { ...DRAFT, sendAt: 'best' }, key);
    expect(scheduled).toMatchObject({ ok: false, status: 409, messageId: api.created[0]!.id });
    expect(posts()).toHaveLength(2);
    expect(api.created).toHaveLength(1);
  });

  it("on the clinician's choice, revokes the earlier message and then sends the edit under a new key, kept for its retries", async () => {
    const { api, client, posts } = await server({ lostAnswers: ['drop', 503] });
    const key = paneSendKey();
    const k1 = await key.get();
    await sendUnderPaneKey(client, DRAFT, key);
    const conflict = await sendUnderPaneKey(client, EDITED, key);
    const earlier = !conflict.ok ? conflict.messageId : undefined;
    expect(earlier).toBe(api.created[0]!.id);

    // The edit's own answer is lost too (a 503 after the commit).
    const r = await revokeThenSend(client, earlier!, EDITED, key);
    expect(r).toMatchObject({ ok: true, stillDelivered: 0, sent: { ok: false, reason: 'server_error' } });
    expect(api.revoked).toEqual([earlier]);
    const k2 = key.current;
    expect(k2).toMatch(/^outlook-compose-/);
    expect(k2).not.toBe(k1);
    expect(api.created.map((m) => m.idempotencyKey)).toEqual([k1, k2]);
    expect((api.created[1]!.body as { html: string }).html).toBe(EDITED.html);

    // A click again on the edited draft finds the edited message: no third one.
    const retried = await sendUnderPaneKey(client, EDITED, key);
    expect(retried.ok && retried.value.id).toBe(api.created[1]!.id);
    expect(posts().map((r) => r.idempotencyKey)).toEqual([k1, k1, k2, k2]);
    expect(api.created).toHaveLength(2);
  });

  it('sends nothing new when the revoke fails', async () => {
    const { api, client } = await server();
    const key = paneSendKey();
    const r = await revokeThenSend(client, 'msg_unknown', EDITED, key);
    expect(r).toMatchObject({ ok: false, step: 'revoke', failure: { status: 404 } });
    expect(api.created).toHaveLength(0);
  });

  it('keeps the key with the draft: a pane closed after a lost answer and opened again replays the message', async () => {
    const { api, client, posts } = await server({ lostAnswers: ['drop'] });
    // One draft's sessionData, seen by two pane sessions (the pane's page is gone in between).
    const sessionData = new Map<string, string>();
    const itemOf = () => {
      const { office } = fakeOffice({ sessionData });
      return () => (office as unknown as typeof Office).context.mailbox.item as Office.MessageCompose;
    };
    const first = paneSendKey(itemOf());
    expect(await sendUnderPaneKey(client, DRAFT, first)).toMatchObject({ ok: false, reason: 'unreachable' });
    expect(sessionData.get(PANE_KEY_SLOT.entry)).toBe(first.current);

    const reopened = paneSendKey(itemOf());
    const again = await sendUnderPaneKey(client, DRAFT, reopened);
    expect(again.ok && again.value.id).toBe(api.created[0]!.id);
    expect(reopened.current).toBe(first.current);
    expect(posts()).toHaveLength(2);
    expect(api.created).toHaveLength(1);
    // The send handler's key is another entry: the pane never overwrites it.
    expect([...sessionData.keys()]).toEqual([PANE_KEY_SLOT.entry]);
  });

  it('gives up on any other refusal without posting again or changing the key', async () => {
    const { client, posts } = await server({ messages: [409, 'patient_opted_out'] });
    const key = paneSendKey();
    const k1 = await key.get();
    expect(await sendUnderPaneKey(client, DRAFT, key)).toMatchObject({
      ok: false,
      status: 409,
      code: 'patient_opted_out',
    });
    expect(posts()).toHaveLength(1);
    expect(key.current).toBe(k1);
  });
});
