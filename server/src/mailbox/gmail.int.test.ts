import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auth as googleAuth, gmail as gmailApi } from '@googleapis/gmail';
import { SendMessageRequestSchema } from '@attune/shared/api';
import { testConfig } from '../config.ts';
import { sendSecureMessage } from '../delivery/send.ts';
import { createDeliveryFixture, type DeliveryFixture } from '../delivery/testing.ts';
import { fileTransport } from '../delivery/transport.ts';
import { edb } from '../engagement/db.ts';
import { loadPatientEvents } from '../engagement/events-store.ts';
import { patientEngagement } from '../engagement/service.ts';
import { ensurePractice, newId, nowIso } from '../store/index.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { addressOf, syncGmailMailbox } from './gmail.ts';
import { crisisNotifier } from './notify.ts';

// A local HTTP server answering the Gmail API calls the connector makes (users.getProfile,
// users.history.list, users.messages.get, users.threads.get), with the googleapis client's rootUrl
// pointed at it. It checks the bearer token, records every request (so tests can assert that only
// metadata was asked for) and answers 404 for a history id older than it keeps.

const MAILBOX = 'dr@calm.example';
const HOUR = 3_600_000;
const T0 = Date.parse('2026-05-04T13:00:00Z');

interface FakeMessage {
  id: string;
  threadId: string;
  labelIds: string[];
  internalDate: number;
  headers: Record<string, string>;
  body?: string;
}

class FakeGmail {
  server!: Server;
  url = '';
  requests: Array<{ path: string; query: URLSearchParams }> = [];
  messages = new Map<string, FakeMessage>();
  /** History records: [historyId, messageId]. */
  history: Array<[number, string]> = [];
  historyId = 1000;
  oldestHistoryId = 900;

  add(m: FakeMessage): void {
    this.messages.set(m.id, m);
    this.historyId += 1;
    this.history.push([this.historyId, m.id]);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ path: u.pathname, query: u.searchParams });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== 'Bearer test-access-token')
      return send(401, { error: { code: 401, message: 'no' } });
    const m = /^\/gmail\/v1\/users\/([^/]+)\/(profile|history|messages\/([^/]+)|threads\/([^/]+))$/.exec(
      u.pathname,
    );
    if (!m || decodeURIComponent(m[1] ?? '') !== MAILBOX)
      return send(404, { error: { code: 404, message: 'not found' } });
    if (m[2] === 'profile') return send(200, { emailAddress: MAILBOX, historyId: String(this.historyId) });
    if (m[2] === 'history') {
      const start = Number(u.searchParams.get('startHistoryId'));
      if (start < this.oldestHistoryId)
        return send(404, { error: { code: 404, message: 'Requested entity was not found.' } });
      const all = this.history.filter(([h]) => h > start);
      // Pages of two records, to exercise nextPageToken.
      const offset = Number(u.searchParams.get('pageToken') ?? 0);
      const page = all.slice(offset, offset + 2);
      return send(200, {
        history: page.map(([h, id]) => ({
          id: String(h),
          messagesAdded: [{ message: { id, threadId: this.messages.get(id)?.threadId } }],
        })),
        historyId: String(this.historyId),
        ...(offset + 2 < all.length ? { nextPageToken: String(offset + 2) } : {}),
      });
    }
    if (m[3]) {
      const msg = this.messages.get(decodeURIComponent(m[3]));
      if (!msg) return send(404, { error: { code: 404, message: 'not found' } });
      return send(200, this.render(msg, u.searchParams));
    }
    const threadId = decodeURIComponent(m[4] ?? '');
    const msgs = [...this.messages.values()].filter((x) => x.threadId === threadId);
    if (msgs.length === 0) return send(404, { error: { code: 404, message: 'not found' } });
    return send(200, { id: threadId, messages: msgs.map((x) => this.render(x, u.searchParams)) });
  }

  private render(msg: FakeMessage, q: URLSearchParams): unknown {
    const format = q.get('format') ?? 'full';
    const wanted = q.getAll('metadataHeaders').map((h) => h.toLowerCase());
    const headers = Object.entries(msg.headers)
      .filter(([k]) => format !== 'metadata' || wanted.includes(k.toLowerCase()))
      .map(([name, value]) => ({ name, value }));
    const payload: Record<string, unknown> = { mimeType: 'multipart/alternative', headers };
    if (format === 'full' && msg.body !== undefined) {
      payload['parts'] = [
        { mimeType: 'text/plain', body: { data: Buffer.from(msg.body).toString('base64url') } },
        { mimeType: 'text/html', body: { data: Buffer.from(`<p>${msg.body}</p>`).toString('base64url') } },
      ];
    }
    return {
      id: msg.id,
      threadId: msg.threadId,
      labelIds: msg.labelIds,
      internalDate: String(msg.internalDate),
      payload,
    };
  }
}

function client(rootUrl: string) {
  const oauth = new googleAuth.OAuth2();
  oauth.setCredentials({ access_token: 'test-access-token', expiry_date: Date.now() + HOUR });
  return gmailApi({ version: 'v1', auth: oauth, rootUrl });
}

describe('addressOf', () => {
  it('takes the address out of a display-name From header', () => {
    expect(addressOf('"Rivera, Alex" <Alex.Rivera@Patients.Example>')).toBe('alex.rivera@patients.example');
    expect(addressOf('alex@patients.example')).toBe('alex@patients.example');
    expect(addressOf('no address here')).toBeNull();
  });
});

describe.each(dialectsUnderTest())('Gmail mailbox sync on %s', (dialect) => {
  let fake: FakeGmail;
  let store: TestStore;
  let practiceId: string;
  let alex: string;
  let sam: string;

  beforeAll(async () => {
    fake = new FakeGmail();
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
  });
  beforeEach(async () => {
    fake.messages.clear();
    fake.history = [];
    fake.requests = [];
    fake.historyId = 1000;
    store = await createTestStore(dialect);
    practiceId = (await ensurePractice(store.db, { name: 'Calm Waters', domains: ['calm.example'] }))
      .practiceId;
    const t = nowIso();
    [alex, sam] = [newId(), newId()];
    for (const [id, email] of [
      [alex, 'alex@patients.example'],
      [sam, 'sam@patients.example'],
    ] as const) {
      await store.db
        .insertInto('patients')
        .values({
          id,
          practice_id: practiceId,
          email,
          name: 'Alex Rivera',
          time_zone: null,
          public_key: null,
          fingerprint: null,
          created_at: t,
          updated_at: t,
        })
        .execute();
    }
  });
  afterEach(async () => {
    await store.cleanup();
  });

  const sync = (extra: Partial<Parameters<typeof syncGmailMailbox>[0]> = {}) =>
    syncGmailMailbox({
      db: store.db,
      practiceId,
      mailbox: MAILBOX,
      client: client(fake.url),
      now: () => new Date(T0 + 48 * HOUR),
      ...extra,
    });

  it('starts from the current history id on first run and records nothing before it', async () => {
    fake.add({
      id: 'old',
      threadId: 't0',
      labelIds: ['INBOX'],
      internalDate: T0 - HOUR,
      headers: { From: 'alex@patients.example' },
    });
    const r = await sync();
    expect(r).toMatchObject({ status: 'initialized', historyId: '1001' });
    const state = await edb(store.db).selectFrom('mailbox_sync').selectAll().executeTakeFirstOrThrow();
    expect(state.history_id).toBe('1001');
    expect(await loadPatientEvents(store.db, practiceId, alex, new Date(T0 + 99 * HOUR))).toEqual([]);
  });

  it('records patient replies with their latency, by thread and by an Attune Message-ID, from metadata only', async () => {
    await sync();
    // An Attune secure message to Sam, delivered with a known Message-ID.
    const clinicianId = newId();
    const messageId = newId();
    const t = nowIso(new Date(T0));
    await store.db
      .insertInto('clinicians')
      .values({
        id: clinicianId,
        practice_id: practiceId,
        email: MAILBOX,
        name: null,
        role: 'clinician',
        external_subject: null,
        disabled: 0,
        created_at: t,
        updated_at: t,
        last_login_at: null,
      })
      .execute();
    await store.db
      .insertInto('messages')
      .values({
        id: messageId,
        practice_id: practiceId,
        clinician_id: clinicianId,
        subject_ct: null,
        body_ct: Buffer.from('x'),
        decision: 'encrypt',
        reasons: '[]',
        topics: '[]',
        check_in: 0,
        send_at: t,
        expires_at: null,
        revoked_at: null,
        in_reply_to: null,
        created_at: t,
      })
      .execute();
    await store.db
      .insertInto('deliveries')
      .values({
        id: newId(),
        message_id: messageId,
        practice_id: practiceId,
        email: 'sam@patients.example',
        kind: 'to',
        patient_id: sam,
        method: 'link',
        status: 'sent',
        attempts: 1,
        last_error: null,
        sent_at: t,
        opened_at: null,
        replied_at: null,
        smtp_message_id: '<d1@calm.example>',
        created_at: t,
        updated_at: t,
        send_generation: 0,
      })
      .execute();

    fake.add({
      id: 'c1',
      threadId: 'th1',
      labelIds: ['SENT'],
      internalDate: T0,
      headers: {
        From: MAILBOX,
        To: 'alex@patients.example',
        'Message-ID': '<c1@mail.gmail.com>',
        Subject: 'Your worksheet',
      },
    });
    fake.add({
      id: 'p1',
      threadId: 'th1',
      labelIds: ['INBOX'],
      internalDate: T0 + 5 * HOUR,
      headers: {
        From: 'Alex Rivera <ALEX@patients.example>',
        'In-Reply-To': '<c1@mail.gmail.com>',
        Subject: 'Re: Your worksheet',
      },
    });
    fake.add({
      id: 'p2',
      threadId: 'th9',
      labelIds: ['INBOX'],
      internalDate: T0 + 2 * HOUR,
      headers: { From: 'sam@patients.example', References: '<x@y> <d1@calm.example>' },
    });
    fake.add({
      id: 'p3',
      threadId: 'th3',
      labelIds: ['INBOX'],
      internalDate: T0 + 3 * HOUR,
      headers: { From: 'sam@patients.example' },
    });
    fake.add({
      id: 'n1',
      threadId: 'th4',
      labelIds: ['INBOX'],
      internalDate: T0 + 3 * HOUR,
      headers: { From: 'stranger@else.example', 'In-Reply-To': '<c1@mail.gmail.com>' },
    });

    const r = await sync();
    expect(r).toMatchObject({
      status: 'synced',
      historyId: '1005',
      examined: 5,
      replies: 2,
      sent: 1,
      unmatched: 1,
      duplicates: 0,
    });
    const a = await loadPatientEvents(store.db, practiceId, alex, new Date(T0 + 99 * HOUR));
    expect(a.map((e) => [e.type, e.messageId, e.latencyMs ?? null])).toEqual([
      ['sent', 'gmail:c1', null],
      ['replied', 'gmail:c1', 5 * HOUR],
    ]);
    expect(a[1]?.inReplyTo).toBe('gmail:c1');
    const s = await loadPatientEvents(store.db, practiceId, sam, new Date(T0 + 99 * HOUR));
    expect(s.map((e) => [e.type, e.inReplyTo, e.latencyMs])).toEqual([['replied', messageId, 2 * HOUR]]);

    // Metadata only: every message fetch asked for format=metadata and never for the Subject.
    const gets = fake.requests.filter((q) => /\/(messages|threads)\//.test(q.path));
    expect(gets.length).toBeGreaterThan(0);
    for (const g of gets) {
      expect(g.query.get('format')).toBe('metadata');
      expect(g.query.getAll('metadataHeaders').map((h) => h.toLowerCase())).not.toContain('subject');
    }
    // Two pages of history were read.
    expect(fake.requests.filter((q) => q.path.endsWith('/history')).length).toBe(3);
    expect(JSON.stringify(a)).not.toContain('worksheet');
  });

  it('is idempotent: replaying the same history adds nothing', async () => {
    await sync();
    fake.add({ id: 'c1', threadId: 'th1', labelIds: ['SENT'], internalDate: T0, headers: { From: MAILBOX } });
    fake.add({
      id: 'p1',
      threadId: 'th1',
      labelIds: ['INBOX'],
      internalDate: T0 + HOUR,
      headers: { From: 'alex@patients.example' },
    });
    const first = await sync();
    expect(first.replies).toBe(1);
    await edb(store.db).updateTable('mailbox_sync').set({ history_id: '1000' }).execute();
    const again = await sync();
    expect(again).toMatchObject({ replies: 1, duplicates: 2 });
    const events = await loadPatientEvents(store.db, practiceId, alex, new Date(T0 + 99 * HOUR));
    expect(events).toHaveLength(2);
  });

  it("puts the mailbox's clinician in the care team of each patient it records mail with, audited, once", async () => {
    await sync();
    // Alex answers the clinician's Gmail message; Sam writes out of the blue (nothing recorded).
    fake.add({ id: 'c1', threadId: 'th1', labelIds: ['SENT'], internalDate: T0, headers: { From: MAILBOX } });
    fake.add({
      id: 'p1',
      threadId: 'th1',
      labelIds: ['INBOX'],
      internalDate: T0 + HOUR,
      headers: { From: 'alex@patients.example' },
    });
    fake.add({
      id: 'p2',
      threadId: 'th2',
      labelIds: ['INBOX'],
      internalDate: T0 + HOUR,
      headers: { From: 'sam@patients.example' },
    });
    const team = () =>
      store.db
        .selectFrom('care_relations as r')
        .innerJoin('clinicians as c', 'c.id', 'r.clinician_id')
        .select(['r.patient_id', 'c.email', 'r.source'])
        .where('r.practice_id', '=', practiceId)
        .execute();
    expect(await team()).toEqual([]);
    const r = await sync();
    expect(r).toMatchObject({ replies: 1, unmatched: 1, careJoins: 1 });
    // The clinician had never signed in: the account is made (as the gateway makes a sender's).
    expect(await team()).toEqual([{ patient_id: alex, email: MAILBOX, source: 'imported' }]);
    const audit = await store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', 'in', ['care.change', 'clinician.provisioned'])
      .orderBy('seq')
      .execute();
    const clinicianId = (
      await store.db
        .selectFrom('clinicians')
        .select('id')
        .where('email', '=', MAILBOX)
        .executeTakeFirstOrThrow()
    ).id;
    expect(
      audit.map((e) => [e.action, e.actor_type, e.actor_id, e.target_id, JSON.parse(e.details)]),
    ).toEqual([
      [
        'clinician.provisioned',
        'system',
        'gmail-sync',
        clinicianId,
        { role: 'clinician', source: 'gmail_sync' },
      ],
      [
        'care.change',
        'system',
        'gmail-sync',
        alex,
        { operation: 'add', clinicianId, changed: true, source: 'imported' },
      ],
    ]);
    expect(JSON.stringify(audit)).not.toContain('@');

    // A replay joins no one twice and audits nothing more.
    await edb(store.db).updateTable('mailbox_sync').set({ history_id: '1000' }).execute();
    expect(await sync()).toMatchObject({ careJoins: 0, duplicates: 2 });
    expect(await team()).toHaveLength(1);
    expect(
      await store.db.selectFrom('audit_events').select('id').where('action', '=', 'care.change').execute(),
    ).toHaveLength(1);

    // A disabled clinician's mailbox records the mail but joins no care team.
    await store.db.deleteFrom('care_relations').execute();
    await store.db.updateTable('clinicians').set({ disabled: 1 }).where('id', '=', clinicianId).execute();
    await edb(store.db).updateTable('mailbox_sync').set({ history_id: '1000' }).execute();
    expect(await sync()).toMatchObject({ replies: 1, careJoins: 0 });
    expect(await team()).toEqual([]);
  });

  it("refuses a mailbox outside the practice's domains before any call to Google, making no account", async () => {
    // Another practice of the same deployment names Calm Waters' clinician's mailbox (a typo in
    // --practice, say): syncing it there would make an account that could never sign in there.
    const other = (await ensurePractice(store.db, { name: 'Other Clinic', domains: ['other.example'] }))
      .practiceId;
    fake.add({
      id: 'c1',
      threadId: 'th1',
      labelIds: ['SENT'],
      internalDate: T0,
      headers: { From: MAILBOX, To: 'alex@patients.example' },
    });
    for (const mailbox of [MAILBOX, 'dr@calm.example.evil.test', 'no-domain']) {
      const r = await sync({ practiceId: other, mailbox });
      expect(r).toMatchObject({ status: 'outside_practice', examined: 0, careJoins: 0 });
    }
    expect(fake.requests).toEqual([]);
    expect(await store.db.selectFrom('clinicians').select('id').execute()).toEqual([]);
    expect(await edb(store.db).selectFrom('mailbox_sync').select('mailbox').execute()).toEqual([]);
    // Its own practice syncs it, whatever the case of its domain.
    expect(await sync({ mailbox: 'DR@Calm.Example' })).toMatchObject({ status: 'initialized' });
  });

  it('restarts from now when the stored history id has expired', async () => {
    await sync();
    await edb(store.db).updateTable('mailbox_sync').set({ history_id: '10' }).execute();
    const r = await sync();
    expect(r).toMatchObject({ status: 'history_expired', historyId: '1000' });
    const state = await edb(store.db).selectFrom('mailbox_sync').selectAll().executeTakeFirstOrThrow();
    expect(state).toMatchObject({ history_id: '1000', last_error: 'history_expired' });
  });

  it('with bodies enabled, flags a crisis reply and sends one PHI-free urgent notice to the clinician', async () => {
    await sync();
    fake.add({ id: 'c1', threadId: 'th1', labelIds: ['SENT'], internalDate: T0, headers: { From: MAILBOX } });
    fake.add({
      id: 'p1',
      threadId: 'th1',
      labelIds: ['INBOX'],
      internalDate: T0 + HOUR,
      headers: { From: 'alex@patients.example' },
      body: 'Thanks. Honestly I want to kill myself some nights.',
    });
    const mailDir = join(store.dataDir, 'mail');
    const config = testConfig(store.dataDir, { PRACTICE_DOMAINS: 'calm.example' });
    const notify = crisisNotifier({ db: store.db, config, transport: fileTransport(mailDir) });
    const r = await sync({ readBodies: true, notifyCrisis: notify });
    expect(r.crisis).toBe(1);
    const [reply] = (await loadPatientEvents(store.db, practiceId, alex, new Date(T0 + 99 * HOUR))).filter(
      (e) => e.type === 'replied',
    );
    expect(reply?.crisis?.grade).toBe('first_person');
    const files = readdirSync(mailDir).filter((f) => f.endsWith('.eml'));
    expect(files).toHaveLength(1);
    const eml = readFileSync(join(mailDir, files[0] as string), 'utf8');
    expect(eml).toMatch(/Subject: \[Urgent\]/);
    expect(eml).toContain(`To: ${MAILBOX}`);
    expect(eml).not.toMatch(/alex|Rivera|kill/i);
    // Bodies were fetched in full only because the practice enabled it.
    expect(
      fake.requests.some((q) => q.path.endsWith('/messages/p1') && q.query.get('format') === 'full'),
    ).toBe(true);
    // A second run over the same history sends no second notice.
    await edb(store.db).updateTable('mailbox_sync').set({ history_id: '1000' }).execute();
    expect((await sync({ readBodies: true, notifyCrisis: notify })).crisis).toBe(0);
    expect(readdirSync(mailDir).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  });
});

// A notice an add-in delivers from the clinician's own mailbox (delivery "client": Gmail's "Send
// securely") leaves with Gmail's Message-ID, not the one Attune stored for the delivery, and with no
// Reply-To (an add-on cannot set one): the patient's plain "Reply" lands in the clinician's inbox,
// in the notice's thread. It answers Attune's message, so it must be counted once, against it.
describe.each(dialectsUnderTest())(
  'Gmail mailbox sync of replies to client-delivered notices on %s',
  (dialect) => {
    let fake: FakeGmail;
    let f: DeliveryFixture | undefined;
    const ALEX = 'alex@patients.example';

    beforeAll(async () => {
      fake = new FakeGmail();
      await fake.start();
    });
    afterAll(async () => {
      await fake.stop();
    });
    beforeEach(() => {
      fake.messages.clear();
      fake.history = [];
      fake.requests = [];
      fake.historyId = 1000;
    });
    afterEach(async () => {
      await f?.cleanup();
      f = undefined;
    });

    async function setup() {
      // The fixture's practice (calm.example) and clinician (dr@calm.example, the synced mailbox).
      const fx = (f = await createDeliveryFixture(dialect));
      const alex = await fx.addPatient(ALEX);
      const now = () => new Date(fx.delivery.services.now().getTime() + 48 * HOUR);
      const sync = () =>
        syncGmailMailbox({
          db: fx.store.db,
          practiceId: fx.practiceId,
          mailbox: MAILBOX,
          client: client(fake.url),
          now,
        });
      /** "Send securely" in Gmail: the server stores the message, the draft becomes the notice. */
      const sendSecurely = async () => {
        const at = fx.delivery.services.now().getTime();
        const r = await sendSecureMessage(
          fx.delivery.services,
          { practiceId: fx.practiceId, clinicianId: fx.clinicianId },
          SendMessageRequestSchema.parse({
            to: [ALEX],
            subject: 'Worksheet',
            text: 'Continue sertraline 50 mg.',
            topics: ['homework'],
            delivery: 'client',
          }),
        );
        if (!r.ok) throw new Error(r.code);
        expect(r.response.recipients[0]).toMatchObject({ delivery: 'client', status: 'sent' });
        return { id: r.response.id, at };
      };
      /** The clinician presses Send on the draft: Gmail's Message-ID, no Reply-To, no Attune header. */
      const gmailSends = (id: string, thread: string, at: number) =>
        fake.add({
          id,
          threadId: thread,
          labelIds: ['SENT'],
          internalDate: at,
          headers: { From: MAILBOX, To: ALEX, 'Message-ID': `<${id}@mail.gmail.com>` },
        });
      const patientReplies = (id: string, thread: string, to: string, at: number) =>
        fake.add({
          id,
          threadId: thread,
          labelIds: ['INBOX'],
          internalDate: at,
          headers: {
            From: `Alex Rivera <${ALEX}>`,
            'In-Reply-To': `<${to}@mail.gmail.com>`,
            References: `<${to}@mail.gmail.com>`,
          },
        });
      const events = () => loadPatientEvents(fx.store.db, fx.practiceId, alex, now());
      const engagement = async () =>
        patientEngagement(
          fx.store.db,
          fx.practiceId,
          { id: alex, email: ALEX, name: null, time_zone: null },
          now(),
        );
      return { fx, sync, sendSecurely, gmailSends, patientReplies, events, engagement };
    }

    it('counts a plain-email reply to the notice once, as the answer to Attune’s message', async () => {
      const t = await setup();
      await t.sync();
      const sent = await t.sendSecurely();
      t.gmailSends('notice1', 'th1', sent.at + 30_000);
      t.patientReplies('reply1', 'th1', 'notice1', sent.at + 5 * HOUR);
      const r = await t.sync();
      expect(r).toMatchObject({ replies: 1, sent: 0, unmatched: 0 });

      const ev = await t.events();
      expect(ev.map((e) => [e.type, e.messageId])).toEqual([
        ['sent', sent.id],
        ['replied', sent.id],
      ]);
      expect(ev[1]?.inReplyTo).toBe(sent.id);
      expect(ev[1]?.latencyMs).toBeGreaterThanOrEqual(5 * HOUR - 5_000);
      expect(ev[1]?.latencyMs).toBeLessThanOrEqual(5 * HOUR);
      const e = await t.engagement();
      expect(e.data.messagesSent).toBe(1);
      expect(e.replyRate).toMatchObject({ value: 1, n: 1 });

      // A second reply in the thread, in a later run, goes to the same message (by the Message-ID
      // now stored for the delivery), and a replayed history adds nothing.
      t.patientReplies('reply2', 'th1', 'notice1', sent.at + 6 * HOUR);
      expect(await t.sync()).toMatchObject({ replies: 1, sent: 0 });
      await edb(t.fx.store.db).updateTable('mailbox_sync').set({ history_id: '1000' }).execute();
      expect(await t.sync()).toMatchObject({ replies: 2, sent: 0, duplicates: 2 });
      expect((await t.events()).map((e) => [e.type, e.messageId])).toEqual([
        ['sent', sent.id],
        ['replied', sent.id],
        ['replied', sent.id],
      ]);
    });

    it('recognizes the notice from its thread when it was sent before the mailbox was first synced', async () => {
      const t = await setup();
      const sent = await t.sendSecurely();
      t.gmailSends('notice1', 'th1', sent.at + 30_000);
      await t.sync(); // starts after the notice
      t.patientReplies('reply1', 'th1', 'notice1', sent.at + 2 * HOUR);
      expect(await t.sync()).toMatchObject({ replies: 1, sent: 0, unmatched: 0 });
      expect((await t.events()).map((e) => [e.type, e.messageId])).toEqual([
        ['sent', sent.id],
        ['replied', sent.id],
      ]);
    });

    it('still records an ordinary Gmail message sent after the notice as a message of its own', async () => {
      const t = await setup();
      await t.sync();
      const sent = await t.sendSecurely();
      t.gmailSends('notice1', 'th1', sent.at + 30_000);
      t.gmailSends('plain1', 'th2', sent.at + 120_000);
      t.patientReplies('reply1', 'th2', 'plain1', sent.at + 3 * HOUR);
      expect(await t.sync()).toMatchObject({ replies: 1, sent: 1 });
      expect((await t.events()).map((e) => [e.type, e.messageId])).toEqual([
        ['sent', sent.id],
        ['sent', 'gmail:plain1'],
        ['replied', 'gmail:plain1'],
      ]);
    });
  },
);
