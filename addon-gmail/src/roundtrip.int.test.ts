// Round trip against the real Attune server, started in-process on an ephemeral port, with a real
// SMTP peer (smtp-server) as its outgoing relay. The built add-on runs in a worker thread inside
// node:vm with only the Apps Script fakes as globals; its UrlFetchApp makes real, blocking HTTP
// requests through the bridge (fakes/sync-bridge.ts). Identity: a token from the server's
// development issuer stands in for ScriptApp.getIdentityToken() (Google's issuer cannot be reached
// offline; the server verifies both the same way, per provider).
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, testConfig } from '@attune/server';
import { bundle } from '../build.mjs';
import { startBundleHost, type BundleHost } from '../fakes/sync-bridge.ts';
import { findAll, textOf } from '../fakes/index.ts';

type RunningServer = Awaited<ReturnType<typeof startServer>>;

interface Received {
  to: string[];
  raw: Buffer;
}

const PRACTICE_DOMAIN = 'lakeside.test';
const CLINICIAN = `dr.hale@${PRACTICE_DOMAIN}`;
const PATIENT = 'river.stone@patients.test';
// Invented PHI: a diagnosis, a medication and an SSN-shaped number.
const PHI_BODY =
  'Hi River, as we discussed, your major depressive disorder is improving. Keep taking sertraline 50 mg daily. ' +
  'For the insurer I noted your SSN 536-22-8741.';
const PHI_MARKERS = ['depressive', 'sertraline', '536-22-8741', 'River'];

let dir = '';
let smtp: SMTPServer;
const received: Received[] = [];
let server: RunningServer;
let code = '';
let token = '';
let host: BundleHost;
let patientId = '';

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: await res.json() };
}

async function createPatient(): Promise<string> {
  const res = await api('POST', '/v1/patients', {
    email: PATIENT,
    name: 'River Stone',
    timeZone: 'America/Chicago',
  });
  expect(res.status).toBe(201);
  return (res.json as { id: string }).id;
}

async function devToken(email: string): Promise<string> {
  // Signed by the server's own development issuer (the key POST /v1/dev/token uses), through the
  // authenticator the running server verifies with.
  const issuer = server.deps.authenticator.devIssuer;
  if (!issuer) throw new Error('development tokens are disabled in this configuration');
  return issuer.sign({ email, admin: false });
}

function composeEvent(body: string) {
  return {
    commonEventObject: {
      platform: 'WEB',
      hostApp: 'GMAIL',
      parameters: {},
      formInputs: {
        attune_subject: { stringInputs: { value: ['Follow-up'] } },
        attune_body: { stringInputs: { value: [body] } },
        attune_topics: { stringInputs: { value: ['check-in'] } },
      },
    },
    gmail: {
      accessToken: 'draft-token',
      messageId: 'draft-1',
      threadId: 't-1',
      toRecipients: [`River Stone <${PATIENT}>`],
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'attune-gmail-rt-'));
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    disableReverseLookup: true,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
        cb();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  server = await startServer(
    testConfig(dir, {
      HOST: '127.0.0.1',
      PRACTICE_DOMAINS: PRACTICE_DOMAIN,
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      // The in-process peer offers no STARTTLS; production keeps the default (required).
      SMTP_REQUIRE_TLS: 'false',
      MAIL_FROM: `notices@${PRACTICE_DOMAIN}`,
    }),
  );
  token = await devToken(CLINICIAN);
  ({ code } = await bundle({ serverUrl: server.url, write: false }));
  host = await startBundleHost({
    code,
    token,
    scriptProperties: { ATTUNE_SERVER_URL: server.url },
    messages: [{ id: 'm-1', accessToken: 'per-message', from: `River Stone <${PATIENT}>` }],
  });
  patientId = await createPatient();
});

afterAll(async () => {
  await host?.close();
  // Bounded: a request the server never answered must not hold the suite open.
  await Promise.race([server?.close(), new Promise((r) => setTimeout(r, 10_000))]);
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitForMail(to: string, timeoutMs: number): Promise<Received | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const m = received.find((r) => r.to.includes(to));
    if (m) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

describe('Gmail add-on against the real server', () => {
  it("scans under the practice's policy fetched with the clinician's token", async () => {
    const r = await host.call('onComposeScan', composeEvent(PHI_BODY));
    expect(r.error).toBeUndefined();
    expect(r.requests.map((q) => `${q.method} ${q.url.slice(server.url.length)}`)).toEqual([
      'GET /v1/policy',
    ]);
    const text = textOf(r.result);
    expect(text).toContain('Scan results');
    expect(text).not.toContain('could not be loaded');
    expect(text).toMatch(/DIAGNOSIS|MEDICATION/);
  });

  it('home lists the caseload the server ranks, with its reasons', async () => {
    const r = await host.call('onHomepage', {
      commonEventObject: { platform: 'WEB', hostApp: 'GMAIL', parameters: {}, formInputs: {} },
    });
    expect(r.error).toBeUndefined();
    const rows = findAll(r.result, 'DecoratedText');
    expect(rows[0]?.topLabel).toMatch(/^#1 · /);
    expect(rows[0]?.text).toContain('River Stone');
    expect(textOf(r.result)).toContain('Decision support, not diagnosis');
    expect(r.requests.map((q) => q.url.slice(server.url.length))).toEqual([
      '/v1/caseload?page=1&pageSize=10',
    ]);
  });

  it("shows the patient's insights beside a message from them, computed from events sent to the API", async () => {
    const at = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
    const seeded = await api('POST', '/v1/events', {
      events: [
        { id: 'apt-1-s', patientId, type: 'appointment_scheduled', at: at(30), appointmentId: 'apt-1' },
        { id: 'apt-1-a', patientId, type: 'appointment_attended', at: at(28), appointmentId: 'apt-1' },
        { id: 'apt-2-s', patientId, type: 'appointment_scheduled', at: at(20), appointmentId: 'apt-2' },
        { id: 'apt-2-m', patientId, type: 'appointment_missed', at: at(14), appointmentId: 'apt-2' },
      ],
    });
    expect(seeded.status).toBeLessThan(300);
    const r = await host.call('onGmailMessageOpen', {
      commonEventObject: { platform: 'WEB', hostApp: 'GMAIL', parameters: {}, formInputs: {} },
      gmail: { accessToken: 'per-message', messageId: 'm-1', threadId: 't-1' },
    });
    expect(r.error).toBeUndefined();
    const text = textOf(r.result);
    expect(text).toContain('Attune: River Stone');
    expect(text).toContain('1 attended, 1 missed');
    expect(text).toContain('Reply rate');
    expect(text).toContain('Best hour to write');
    expect(r.requests.map((q) => q.url.slice(server.url.length))).toEqual(['/v1/engagement/lookup']);
  });

  it('sends securely: the draft gets the PHI-free notice with a working secure link, and the server emails no second notice', async () => {
    const r = await host.call('onComposeSend', composeEvent(PHI_BODY));
    expect(r.error).toBeUndefined();
    expect(r.requests.at(-1)).toMatchObject({ method: 'POST', url: `${server.url}/v1/messages` });
    const result = r.result as { kind: string };
    expect(result.kind).toBe('UpdateDraftActionResponse');
    const inserted = findAll(result, 'UpdateDraftBodyAction')[0]?.contents as { content: string }[];
    const noticeHtml = inserted[0]?.content ?? '';
    expect(noticeHtml).not.toBe('');
    for (const marker of PHI_MARKERS.slice(0, 3)) expect(noticeHtml).not.toContain(marker);

    // The notice carries the secure link: a 256-bit token (43 base64url characters) in a URL on the
    // server's real address, and the viewer answers it.
    const link = /https?:\/\/[^\s"<>]*\/m\/[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/.exec(noticeHtml)?.[0];
    expect(link, 'the draft notice carries the secure link').toBeDefined();
    expect(link!.startsWith(`${server.url}/m/`)).toBe(true);
    expect((await fetch(link!, { signal: AbortSignal.timeout(10_000) })).status).toBe(200);

    // The clinician sends the draft, which is the notice: the server must not email a second one.
    const mail = await waitForMail(PATIENT, 2_000);
    expect(mail, 'the server emailed no notice of its own').toBeUndefined();
  });

  it('two clicks of Send securely on one card make one message on the server (same Idempotency-Key)', async () => {
    const body = `${PHI_BODY} See you Thursday.`;
    const opened = await host.call('onGmailCompose', composeEvent(body));
    expect(opened.error).toBeUndefined();
    const send = findAll(opened.result, 'TextButton').find(
      (b) => (b.onClickAction as { functionName: string }).functionName === 'onComposeSend',
    );
    const params = (send?.onClickAction as { parameters: Record<string, string> }).parameters;
    const click = () => {
      const e = composeEvent(body);
      e.commonEventObject.parameters = { ...params };
      return host.call('onComposeSend', e);
    };
    const links: string[] = [];
    const keys: (string | undefined)[] = [];
    for (const r of [await click(), await click()]) {
      expect(r.error).toBeUndefined();
      keys.push(r.requests.at(-1)?.headers['Idempotency-Key']);
      const html = (findAll(r.result, 'UpdateDraftBodyAction')[0]?.contents as { content: string }[])[0]
        ?.content;
      links.push(/\/m\/[A-Za-z0-9_-]{43}/.exec(html ?? '')?.[0] ?? '');
    }
    expect(keys[0]).toMatch(/^gmail-compose-/);
    expect(keys[1]).toBe(keys[0]);
    // A second message would carry a new 256-bit link: the same link is the server's replay.
    expect(links[0]).not.toBe('');
    expect(links[1]).toBe(links[0]);
  });

  it('asks before sending an edit under a used key, and "Revoke it and send this version" revokes the earlier one', async () => {
    const first = `${PHI_BODY} See you Friday.`;
    const edited = `${PHI_BODY} See you Monday instead.`;
    const opened = await host.call('onGmailCompose', composeEvent(first));
    const buttonOf = (card: unknown, fn: string) =>
      findAll(card, 'TextButton').find(
        (b) => (b.onClickAction as { functionName: string }).functionName === fn,
      )?.onClickAction as { parameters: Record<string, string> } | undefined;
    const click = (fn: string, params: Record<string, string>, body: string) => {
      const e = composeEvent(body);
      e.commonEventObject.parameters = { ...params };
      return host.call(fn, e);
    };
    const params = buttonOf(opened.result, 'onComposeSend')!.parameters;
    // The first send's answer is taken as lost: the clinician edits and presses Send again.
    expect((await click('onComposeSend', params, first)).error).toBeUndefined();
    const asked = await click('onComposeSend', params, edited);
    expect(asked.error).toBeUndefined();
    expect(asked.requests).toHaveLength(1);
    const card = (asked.result as { navigation: { ops: { card: unknown }[] } }).navigation.ops[0]?.card;
    expect(textOf(card)).toContain('An earlier version of this message was already sent securely');
    const revoke = buttonOf(card, 'onComposeRevokeAndSend');
    const earlierId = revoke?.parameters.earlierId ?? '';
    expect(earlierId).not.toBe('');
    expect(
      ((await api('GET', `/v1/messages/${earlierId}`)).json as { revokedAt: unknown }).revokedAt,
    ).toBeNull();

    const sent = await click('onComposeRevokeAndSend', revoke!.parameters, edited);
    expect(sent.error).toBeUndefined();
    expect(findAll(sent.result, 'UpdateDraftBodyAction')).toHaveLength(1);
    const status = (await api('GET', `/v1/messages/${earlierId}`)).json as { revokedAt: unknown };
    expect(status.revokedAt).not.toBeNull();
  });

  /** Helpers for the earlier-version tests: a card's button, and a click of it with a body. */
  const buttonOf = (card: unknown, fn: string) =>
    findAll(card, 'TextButton').find((b) => (b.onClickAction as { functionName: string }).functionName === fn)
      ?.onClickAction as { parameters: Record<string, string> } | undefined;
  const clickWith = (fn: string, params: Record<string, string>, body: string) => {
    const e = composeEvent(body);
    e.commonEventObject.parameters = { ...params };
    return host.call(fn, e);
  };
  const cardOf = (result: unknown) =>
    (result as { navigation: { ops: { card: unknown }[] } }).navigation.ops[0]?.card;
  const draftHtml = (result: unknown) =>
    (findAll(result, 'UpdateDraftBodyAction')[0]?.contents as { content: string }[] | undefined)?.[0]
      ?.content ?? '';
  /** The newest message on the server (ids are time-ordered UUIDv7). */
  const latestMessageId = async () =>
    (
      await server.deps.store.db
        .selectFrom('messages')
        .select('id')
        .orderBy('id', 'desc')
        .executeTakeFirstOrThrow()
    ).id;
  const SECURE_LINK = /https?:\/\/[^\s"<>]*\/m\/([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/;

  it('"Keep it" after a lost answer puts the earlier version\'s notice, with its one working link, in the draft', async () => {
    const first = `${PHI_BODY} See you on the 3rd.`;
    const edited = `${PHI_BODY} See you on the 4th instead.`;
    const opened = await host.call('onGmailCompose', composeEvent(first));
    const params = buttonOf(opened.result, 'onComposeSend')!.parameters;
    // The first click's answer is lost: its notice (the patient's only link) never reaches the draft.
    const lost = await clickWith('onComposeSend', params, first);
    const lostLink = SECURE_LINK.exec(draftHtml(lost.result))?.[1];
    expect(lostLink).toBeDefined();
    const asked = await clickWith('onComposeSend', params, edited);
    const keep = buttonOf(cardOf(asked.result), 'onComposeKeepEarlier');
    expect(keep?.parameters.earlierId).toBeDefined();
    const mailsBefore = received.length;

    const kept = await clickWith('onComposeKeepEarlier', keep!.parameters, edited);
    expect(kept.error).toBeUndefined();
    expect(kept.requests.map((q) => `${q.method} ${q.url.slice(server.url.length)}`)).toEqual([
      `POST /v1/messages/${keep!.parameters.earlierId}/notice`,
    ]);
    expect((kept.result as { kind: string }).kind).toBe('UpdateDraftActionResponse');
    const html = draftHtml(kept.result);
    for (const marker of PHI_MARKERS.slice(0, 3)) expect(html).not.toContain(marker);
    // The same link the lost answer carried: one link for the patient, and it opens the message.
    const link = SECURE_LINK.exec(html);
    expect(link?.[1]).toBe(lostLink);
    expect((await fetch(link![0], { signal: AbortSignal.timeout(10_000) })).status).toBe(200);
    const links = await server.deps.store.db
      .selectFrom('viewer_links')
      .select('id')
      .where('message_id', '=', keep!.parameters.earlierId!)
      .execute();
    expect(links).toHaveLength(1);
    // Nothing new was stored or emailed: the draft is how the patient gets it.
    expect(await latestMessageId()).toBe(keep!.parameters.earlierId);
    expect(received.length).toBe(mailsBefore);
  });

  it('after a confirmed second version, a third edit names the second, and "Revoke it" revokes the one that is live', async () => {
    const v = (n: number) => `${PHI_BODY} Version ${n}.`;
    const opened = await host.call('onGmailCompose', composeEvent(v(1)));
    const params = buttonOf(opened.result, 'onComposeSend')!.parameters;
    const revokedAt = async (id: string) =>
      (
        await server.deps.store.db
          .selectFrom('messages')
          .select('revoked_at')
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
      ).revoked_at;

    await clickWith('onComposeSend', params, v(1)); // answer lost
    const asked2 = await clickWith('onComposeSend', params, v(2));
    const revoke2 = buttonOf(cardOf(asked2.result), 'onComposeRevokeAndSend')!;
    const v1 = await latestMessageId();
    expect(revoke2.parameters.earlierId).toBe(v1);
    const sent2 = await clickWith('onComposeRevokeAndSend', revoke2.parameters, v(2));
    expect(findAll(sent2.result, 'UpdateDraftBodyAction')).toHaveLength(1);
    const v2 = await latestMessageId();
    expect(v2).not.toBe(v1);

    // The card still carries the card's key (a draft update cannot replace it): edit once more.
    const asked3 = await clickWith('onComposeSend', params, v(3));
    const revoke3 = buttonOf(cardOf(asked3.result), 'onComposeRevokeAndSend')!;
    expect(revoke3.parameters.earlierId).toBe(v2);
    const sent3 = await clickWith('onComposeRevokeAndSend', revoke3.parameters, v(3));
    expect(sent3.error).toBeUndefined();
    expect(findAll(sent3.result, 'UpdateDraftBodyAction')).toHaveLength(1);
    const v3 = await latestMessageId();
    expect([v1, v2]).not.toContain(v3);
    expect(await revokedAt(v1)).not.toBeNull();
    expect(await revokedAt(v2)).not.toBeNull();
    expect(await revokedAt(v3)).toBeNull();
  });

  // Last, so a server stuck on the (audited) refusal path cannot take the other tests down with it.
  it('shows "Sign-in refused" when the server refuses the token', async () => {
    // A token from the right issuer with a broken signature. UrlFetchApp gives up after a while; the
    // bridge after 15 s, so a hanging server shows up as "unreachable" in the assertion below.
    const bad = await startBundleHost({
      code,
      token: `${token.slice(0, -4)}AAAA`,
      scriptProperties: { ATTUNE_SERVER_URL: server.url },
      timeoutMs: 15_000,
    });
    try {
      const r = await bad.call('onComposeScan', composeEvent(PHI_BODY));
      expect(textOf(r.result)).toContain('could not be loaded (Sign-in refused)');
    } finally {
      await bad.close();
    }
  });
});
