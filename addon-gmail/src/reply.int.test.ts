// A patient's secure reply, read in Gmail, against the real Attune server (in-process, ephemeral
// port; SQLite, or PostgreSQL when TEST_DATABASE_URL is set) with a real SMTP peer as its relay and
// its real SMTP gateway for replies by email. The patient replies on the real viewer page (and by
// email through the gateway); the clinician's notice is the email the server really sent, parsed as
// Gmail would show it (subject and plain text); the built add-on runs in a worker with the Apps Script
// fakes under exactly the manifest's scopes, and its UrlFetchApp makes real HTTP requests.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, testConfig } from '@attune/server';
import { ensurePractice } from '../../server/src/store/index.ts';
import { createTestSchema, TEST_DATABASE_URL } from '../../server/src/store/testing.ts';
import { bundle } from '../build.mjs';
import { startBundleHost, type BundleHost } from '../fakes/sync-bridge.ts';
import { textOf, walk, type FakeMessageSpec } from '../fakes/index.ts';

type RunningServer = Awaited<ReturnType<typeof startServer>>;

interface Received {
  to: string[];
  raw: Buffer;
}

const PRACTICE_DOMAIN = 'lakeside.test';
const CLINICIAN = `dr.hale@${PRACTICE_DOMAIN}`;
const PATIENT = 'river.stone@patients.test';
const OTHER_SENDER = 'someone.else@elsewhere.test';
// Invented: a first-person crisis sentence the shared detector flags, in a reply with other words.
const CRISIS_SENTENCE = 'Honestly I want to kill myself tonight.';
const CRISIS_REPLY = `Thank you for writing. ${CRISIS_SENTENCE} I do not know who else to tell.`;

let dir = '';
let pg: Awaited<ReturnType<typeof createTestSchema>> | undefined;
let smtp: SMTPServer;
const received: Received[] = [];
let server: RunningServer;
let code = '';
let scopes: string[] = [];
let token = '';
const hosts: BundleHost[] = [];

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: await res.json() };
}

async function until<T>(
  f: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Mails to `to` that arrived after `seen` of them had. */
const mailsTo = (to: string) => received.filter((r) => r.to.includes(to));

interface Notice {
  subject: string;
  text: string;
  from: string;
  replyTo: string;
}

async function parse(raw: Buffer): Promise<Notice> {
  const m = await simpleParser(raw);
  return {
    subject: m.subject ?? '',
    text: m.text ?? '',
    from: m.from?.text ?? '',
    replyTo: m.replyTo?.value[0]?.address ?? '',
  };
}

/** Sends the patient a secure message through the API; returns the notice the patient got. */
async function secureMessageToPatient(): Promise<Notice & { link: string }> {
  const before = mailsTo(PATIENT).length;
  const sent = await api('POST', '/v1/messages', {
    to: [PATIENT],
    subject: 'Check-in',
    text: 'How did the week go with the new sleep routine?',
  });
  expect(sent.status).toBe(202);
  const mail = await until(() => mailsTo(PATIENT)[before], 'the patient notice');
  const notice = await parse(mail.raw);
  const link = /https?:\/\/\S+\/m\/[A-Za-z0-9_-]{43}/.exec(notice.text)?.[0];
  expect(link, 'the notice carries a secure link').toBeDefined();
  return { ...notice, link: link! };
}

/** The clinician's next reply notice, as Gmail shows it. */
async function nextReplyNotice(before: number): Promise<Notice & { reference: string }> {
  const mail = await until(() => mailsTo(CLINICIAN)[before], 'the reply notice');
  const notice = await parse(mail.raw);
  const reference = /Reference: (\S+)/.exec(notice.text)?.[1] ?? '';
  return { ...notice, reference };
}

/** The patient replies on the real secure page (form with its CSRF token), as a browser would. */
async function replyOnPage(link: string, text: string): Promise<void> {
  const page = await fetch(link, { signal: AbortSignal.timeout(10_000) });
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  expect(csrf).not.toBe('');
  const res = await fetch(`${link}/reply`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    redirect: 'manual',
    body: new URLSearchParams({ csrf, text }).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.status).toBe(303);
}

async function hostFor(idToken: string, notice: Notice, id: string): Promise<BundleHost> {
  const message: FakeMessageSpec = {
    id,
    accessToken: `token-${id}`,
    from: notice.from,
    subject: notice.subject,
    body: notice.text,
  };
  const host = await startBundleHost({
    code,
    token: idToken,
    scriptProperties: { ATTUNE_SERVER_URL: server.url },
    messages: [message],
    scopes,
  });
  hosts.push(host);
  return host;
}

function openEvent(id: string) {
  return {
    commonEventObject: {
      platform: 'WEB',
      hostApp: 'GMAIL',
      parameters: {},
      formInputs: {},
      timeZone: { id: 'America/Chicago', offset: '-21600000' },
    },
    gmail: { accessToken: `token-${id}`, messageId: id, threadId: `t-${id}` },
  };
}

/** Action parameters and URLs: what a card hands Gmail besides the text it shows. */
function nonDisplayedStrings(tree: unknown): string {
  const out: string[] = [];
  for (const n of walk(tree)) {
    if (n.kind === 'Action')
      out.push(
        ...Object.entries(n.parameters as object)
          .flat()
          .map(String),
      );
    for (const key of ['url', 'imageUrl']) if (typeof n[key] === 'string') out.push(n[key]);
  }
  return out.join('\n').toLowerCase();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'attune-gmail-reply-'));
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
  if (TEST_DATABASE_URL) pg = await createTestSchema();

  server = await startServer(
    testConfig(dir, {
      HOST: '127.0.0.1',
      PRACTICE_NAME: 'Lakeside Counseling',
      PRACTICE_DOMAINS: PRACTICE_DOMAIN,
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      // The in-process peer offers no STARTTLS; production keeps the default (required).
      SMTP_REQUIRE_TLS: 'false',
      MAIL_FROM: `notices@${PRACTICE_DOMAIN}`,
      // Notices' reply addresses (reply+<token>@) are in this domain, which the gateway receives.
      PRACTICE_REPLY_DOMAIN: `reply.${PRACTICE_DOMAIN}`,
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      ...(pg ? { DATABASE_URL: pg.databaseUrl, DATABASE_SCHEMA: pg.schema } : {}),
    }),
  );
  const issuer = server.deps.authenticator.devIssuer;
  if (!issuer) throw new Error('development tokens are disabled in this configuration');
  token = await issuer.sign({ email: CLINICIAN, admin: false });
  const built = await bundle({ serverUrl: server.url, write: false });
  code = built.code;
  scopes = built.manifest.oauthScopes;
  const patient = await api('POST', '/v1/patients', {
    email: PATIENT,
    name: 'River Stone',
    timeZone: 'America/Chicago',
  });
  expect(patient.status).toBe(201);
});

afterAll(async () => {
  for (const h of hosts) await h.close();
  await Promise.race([server?.close(), new Promise((r) => setTimeout(r, 10_000))]);
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  await pg?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe(`Gmail: a patient's secure reply beside its notice (real server, ${TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let crisisNotice: Notice & { reference: string };

  it('shows a crisis reply written on the secure page: urgency and the sentence first, then the words, the patient and when', async () => {
    const { link } = await secureMessageToPatient();
    const before = mailsTo(CLINICIAN).length;
    await replyOnPage(link, CRISIS_REPLY);
    crisisNotice = await nextReplyNotice(before);
    expect(crisisNotice.subject).toMatch(/^\[Urgent\]/);
    // What travels by email is PHI-free: the notice has the reference, not the words.
    expect(crisisNotice.text).not.toContain('kill myself');

    const host = await hostFor(token, crisisNotice, 'n-crisis');
    const r = await host.call('onGmailMessageOpen', openEvent('n-crisis'));
    expect(r.error).toBeUndefined();
    expect(r.requests.map((q) => `${q.method} ${q.url.slice(server.url.length)}`)).toEqual([
      `GET /v1/replies/${crisisNotice.reference}`,
      'POST /v1/engagement/lookup',
    ]);
    const card = (r.result as unknown[])[0] as { name: string; sections: { header?: string }[] };
    expect(card.name).toBe('attune-reply');
    expect(card.sections[0]?.header).toContain('Crisis');
    expect(textOf(card.sections[0])).toContain(`“${CRISIS_SENTENCE}”`);
    const reply = card.sections.find((s) => s.header === 'Reply');
    expect(textOf(reply)).toContain('River Stone');
    expect(textOf(reply)).toContain(PATIENT);
    expect(textOf(reply)).toContain('Written on the secure message page');
    expect(textOf(reply)).toMatch(/\d{4}, \d{1,2}:\d{2} (AM|PM) C[SD]T/);
    expect(textOf(reply)).toContain('I do not know who else to tell.');
    // No PHI and no reference anywhere but the displayed text and the API path.
    const hidden = nonDisplayedStrings(card);
    for (const s of [crisisNotice.reference, PATIENT, 'river', 'kill myself'])
      expect(hidden).not.toContain(s);
    expect(r.requests.filter((q) => q.url.includes(crisisNotice.reference))).toHaveLength(1);
  });

  it('warns when an email reply to the notice came from a different address', async () => {
    const { replyTo } = await secureMessageToPatient();
    expect(replyTo.startsWith('reply+')).toBe(true);
    expect(replyTo.endsWith(`@reply.${PRACTICE_DOMAIN}`)).toBe(true);
    const gatewayPort = Number(/SMTP gateway listening on port (\d+)/.exec(server.notices.join('\n'))?.[1]);
    const before = mailsTo(CLINICIAN).length;
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: gatewayPort,
      secure: false,
      ignoreTLS: true,
    });
    await transport.sendMail({
      envelope: { from: OTHER_SENDER, to: [replyTo] },
      from: OTHER_SENDER,
      to: replyTo,
      subject: 'Re: You have a secure message',
      text: 'Who is this? Please stop writing to this address.',
    });
    transport.close();
    const notice = await nextReplyNotice(before);
    expect(notice.text).toContain('different email address');

    const host = await hostFor(token, notice, 'n-other');
    const r = await host.call('onGmailMessageOpen', openEvent('n-other'));
    expect(r.error).toBeUndefined();
    const card = (r.result as unknown[])[0] as { sections: { header?: string }[] };
    expect(card.sections[0]?.header).toBe('Check who wrote it');
    expect(textOf(card.sections[0])).toContain(`Sent from a different address: ${OTHER_SENDER}`);
    const text = textOf(card);
    expect(text).toContain('Answered by email');
    expect(text).toContain('Please stop writing to this address.');
    expect(nonDisplayedStrings(card)).not.toContain(OTHER_SENDER);
  });

  it("answers a clinician of another practice with 'Reply not found', and shows nothing of the reply", async () => {
    await ensurePractice(server.store.db, { name: 'Hillside', domains: ['hillside.test'] });
    const issuer = server.deps.authenticator.devIssuer!;
    const outsider = await issuer.sign({ email: 'dr.vale@hillside.test', admin: false });
    const host = await hostFor(outsider, crisisNotice, 'n-outsider');
    const r = await host.call('onGmailMessageOpen', openEvent('n-outsider'));
    expect(r.error).toBeUndefined();
    expect(r.requests.map((q) => q.url.slice(server.url.length))).toEqual([
      `/v1/replies/${crisisNotice.reference}`,
    ]);
    const text = textOf(r.result);
    expect(text).toContain('Reply not found');
    // The notice's urgency is still said first; nothing of the reply is.
    expect(((r.result as unknown[])[0] as { sections: { header?: string }[] }).sections[0]?.header).toContain(
      'Urgent',
    );
    expect(text).not.toContain('kill myself');
    expect(text).not.toContain(PATIENT);
  });

  it('says a reply that is stored but cannot be read (content_unreadable) cannot be read, and who can check', async () => {
    await server.store.db
      .updateTable('replies')
      .set({ body_mac: 'AAAA' })
      .where('id', '=', crisisNotice.reference)
      .execute();
    const host = await hostFor(token, crisisNotice, 'n-unreadable');
    const r = await host.call('onGmailMessageOpen', openEvent('n-unreadable'));
    expect(r.error).toBeUndefined();
    const text = textOf(r.result);
    expect(text).toContain('Reply cannot be read');
    expect(text).toContain('attune verify');
    expect(text).not.toContain('kill myself');
  });
});
