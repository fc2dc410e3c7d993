import { simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanAndDecide, DEFAULT_POLICY } from '@attune/shared/policy';
import { testConfig } from '../config.ts';
import { generateMasterKey, parseMasterKey } from '../crypto/index.ts';
import { createDelivery, ensurePracticeKeys, readReply, type Delivery } from '../delivery/index.ts';
import { MAX_REPLIES_PER_LINK_PER_DAY } from '../delivery/reply.ts';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { silentLogger } from '../log.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { addPractice, ensurePractice, updatePractice } from '../store/practices.ts';
import { insertTestClinician, insertTestPatient } from '../store/test-rows.ts';
import { startGateway, type RunningGateway } from './index.ts';
import { client, rawMessage, startSink, type Sink, type SinkMessage } from './testing.ts';

// The gateway over the real pipeline: SQLite store, practice keys, the same secure send as
// POST /v1/messages, the outbox worker and the same reply capture as the viewer. nodemailer sends
// through the gateway; a downstream smtp-server receives what leaves.

const CLINICIAN = 'dr.lee@clinic.test';
const PATIENT = 'jane.roe@example.com';
const PHI_TEXT =
  'Hi Jane Roe, your sertraline dose for major depressive disorder goes up to 100 mg from Monday. Call 555-201-3344 with questions.';

let sink: Sink;
let store: TestStore;
let delivery: Delivery;
let gw: RunningGateway;
let practiceId: string;

describe.each(dialectsUnderTest())('gateway over the delivery pipeline (%s)', (dialect) => {
  beforeEach(async () => {
    store = await createTestStore(dialect);
    // The next hop has no mailbox for nobody@: it refuses that recipient for good at RCPT TO. It
    // refuses later@ for now when the gateway relays the clinician's mail (the outbox's copy comes
    // from its own return path, bounce+…@).
    sink = await startSink({
      refuse: (a, from) =>
        a.startsWith('nobody@') ? 550 : a.startsWith('later@') && from === CLINICIAN ? 451 : null,
    });
    const config = testConfig(store.dataDir, {
      SMTP_URL: sink.url,
      SMTP_REQUIRE_TLS: 'false',
      ATTUNE_MASTER_KEY: generateMasterKey(),
      PRACTICE_DOMAINS: 'clinic.test',
      PRACTICE_REPLY_DOMAIN: 'reply.clinic.test',
    });
    practiceId = (
      await ensurePractice(store.db, {
        name: 'Lakeside Counseling',
        domains: ['clinic.test'],
        replyDomain: 'reply.clinic.test',
      })
    ).practiceId;
    const mk = parseMasterKey(config.masterKey);
    if (!mk.ok) throw new Error('master key');
    await ensurePracticeKeys(store.db, mk.masterKey, practiceId);
    await insertTestClinician(store.db, practiceId, { email: CLINICIAN, name: 'Dr Lee' });
    await insertTestPatient(store.db, practiceId, { email: PATIENT, name: 'Jane Roe' });
    delivery = createDelivery({
      config,
      store,
      logger: silentLogger,
      worker: { pollMs: 50, backoffBaseMs: 100 },
    });
    delivery.start();
    gw = await startGateway({
      config,
      store,
      pipeline: delivery.pipeline,
      env: {
        GATEWAY_PORT: '0',
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_ALLOWED_SOURCES: '127.0.0.1',
        GATEWAY_REPLY_DOMAIN: 'reply.clinic.test',
      },
    });
  });

  afterEach(async () => {
    await gw.close();
    await delivery.stop();
    await store.cleanup();
    await sink.close();
  });

  async function until<T>(f: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const to = (addr: string) => (m: SinkMessage) => m.to.includes(addr);

  it('delivers PHI mail to the patient as a PHI-free notice, never in clear', async () => {
    const raw = rawMessage({
      from: `Dr Lee <${CLINICIAN}>`,
      to: PATIENT,
      subject: 'Medication change',
      text: PHI_TEXT,
    });
    const info = await client(gw.port).sendMail({ envelope: { from: CLINICIAN, to: [PATIENT] }, raw });
    expect(info.response).toMatch(/^250 .*secure delivery/);
    // Durable before the 250: the message row exists already.
    expect(
      await store.db.selectFrom('messages').select('id').where('practice_id', '=', practiceId).execute(),
    ).toHaveLength(1);

    const notice = await until(() => sink.messages.find(to(PATIENT)));
    const text = notice.raw.toString('utf8');
    expect(text).not.toContain('sertraline');
    expect(text).not.toContain('depressive');
    expect(text).not.toContain('555-201-3344');
    const parsed = await simpleParser(notice.raw);
    const verdict = scanAndDecide(
      DEFAULT_POLICY,
      { subject: parsed.subject ?? '', body: parsed.text ?? '' },
      [{ email: PATIENT }],
    );
    expect(verdict.decision.phi).toBe(false);
    expect(String(parsed.replyTo?.text ?? '')).toMatch(/^reply\+[A-Za-z0-9_-]{43}@reply\.clinic\.test$/);
    // The archive holds the message, encrypted; the audit chain records the send.
    expect(
      await store.db
        .selectFrom('archive_entries')
        .select('id')
        .where('practice_id', '=', practiceId)
        .execute(),
    ).not.toHaveLength(0);
  });

  it('secures PHI from a practice address with no account yet (never signed in) by creating one, audited', async () => {
    const NEWCOMER = 'dr.new@clinic.test';
    const raw = rawMessage({ from: `Dr New <${NEWCOMER}>`, to: PATIENT, subject: 'Dose', text: PHI_TEXT });
    const info = await client(gw.port).sendMail({ envelope: { from: NEWCOMER, to: [PATIENT] }, raw });
    expect(info.response).toMatch(/^250 .*secure delivery/);
    const account = await store.db
      .selectFrom('clinicians')
      .select(['id', 'role', 'disabled'])
      .where('practice_id', '=', practiceId)
      .where('email', '=', NEWCOMER)
      .executeTakeFirstOrThrow();
    expect(account).toMatchObject({ role: 'clinician', disabled: 0 });
    const sent = await store.db
      .selectFrom('messages')
      .select('clinician_id')
      .where('practice_id', '=', practiceId)
      .execute();
    expect(sent).toEqual([{ clinician_id: account.id }]);
    const provisioned = await store.db
      .selectFrom('audit_events')
      .select(['actor_type', 'target_id', 'details'])
      .where('action', '=', 'clinician.provisioned')
      .execute();
    expect(provisioned).toHaveLength(1);
    expect(provisioned[0]).toMatchObject({ actor_type: 'system', target_id: account.id });
    const notice = await until(() => sink.messages.find(to(PATIENT)));
    expect(notice.raw.toString('utf8')).not.toContain('sertraline');
    // A second message from the same address reuses the account.
    await client(gw.port).sendMail({ envelope: { from: NEWCOMER, to: [PATIENT] }, raw });
    expect(
      await store.db.selectFrom('clinicians').select('id').where('email', '=', NEWCOMER).execute(),
    ).toHaveLength(1);
  });

  it('still refuses PHI from a disabled account, and from an unknown address when accounts are not created automatically', async () => {
    await insertTestClinician(store.db, practiceId, { email: 'gone@clinic.test', name: 'Gone' });
    await store.db
      .updateTable('clinicians')
      .set({ disabled: 1 })
      .where('email', '=', 'gone@clinic.test')
      .execute();
    const send = (from: string, port = gw.port) =>
      client(port).sendMail({
        envelope: { from, to: [PATIENT] },
        raw: rawMessage({ from, to: PATIENT, subject: 'Dose', text: PHI_TEXT }),
      });
    await expect(send('gone@clinic.test')).rejects.toThrow(/554 5\.7\.1 .*not registered/);
    // Attune's own and role addresses get no account: PHI-looking mail from them is refused.
    await expect(send('notices@clinic.test')).rejects.toThrow(/554 5\.7\.1 .*not registered/);
    await expect(send('postmaster@clinic.test')).rejects.toThrow(/554 5\.7\.1 .*not registered/);

    const config = testConfig(store.dataDir, {
      SMTP_URL: sink.url,
      SMTP_REQUIRE_TLS: 'false',
      ATTUNE_MASTER_KEY: generateMasterKey(),
      PRACTICE_DOMAINS: 'clinic.test',
      AUTO_PROVISION_CLINICIANS: 'false',
    });
    const strict = await startGateway({
      config,
      store,
      pipeline: delivery.pipeline,
      env: { GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_ALLOWED_SOURCES: '127.0.0.1' },
    });
    try {
      await expect(send('dr.other@clinic.test', strict.port)).rejects.toThrow(/554 5\.7\.1 .*not registered/);
    } finally {
      await strict.close();
    }
    expect(
      await store.db
        .selectFrom('clinicians')
        .select('id')
        .where('email', 'in', ['dr.other@clinic.test', 'notices@clinic.test', 'postmaster@clinic.test'])
        .execute(),
    ).toHaveLength(0);
    expect(await store.db.selectFrom('messages').select('id').execute()).toHaveLength(0);
  });

  it('makes the clinician the From address names a care-team member of the patients the captured mail went to', async () => {
    const NEW_PATIENT = 'ola.fenn@example.org';
    const raw = rawMessage({
      from: `Dr Lee <${CLINICIAN}>`,
      to: `${PATIENT}, ${NEW_PATIENT}`,
      subject: 'Medication change',
      text: PHI_TEXT,
    });
    const info = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT, NEW_PATIENT] },
      raw,
    });
    expect(info.response).toMatch(/^250 .*secure delivery/);
    // In the send's own transaction: there before the 250, for the known patient and the new one.
    const rows = await store.db
      .selectFrom('care_relations')
      .innerJoin('clinicians', 'clinicians.id', 'care_relations.clinician_id')
      .innerJoin('patients', 'patients.id', 'care_relations.patient_id')
      .select(['clinicians.email as clinician', 'patients.email as patient', 'care_relations.source'])
      .where('care_relations.practice_id', '=', practiceId)
      .orderBy('patients.email')
      .execute();
    expect(rows).toEqual([
      { clinician: CLINICIAN, patient: PATIENT, source: 'sent' },
      { clinician: CLINICIAN, patient: NEW_PATIENT, source: 'sent' },
    ]);
  });

  it('secures each part of a message its sender split into several transactions, and a retried part once', async () => {
    // One message, one Message-ID, sent as two SMTP transactions to different recipients (as MTAs
    // do per destination or past a recipient limit); the first one is then retried (its 250 lost).
    const OTHER = 'sam.poe@example.org';
    const raw = rawMessage({
      from: `Dr Lee <${CLINICIAN}>`,
      to: `${PATIENT}, ${OTHER}`,
      subject: 'Medication change',
      text: PHI_TEXT,
      messageId: '<split-1@clinic.test>',
    });
    const part = async (rcpt: string) =>
      /secure delivery (\S+)/.exec(
        (await client(gw.port).sendMail({ envelope: { from: CLINICIAN, to: [rcpt] }, raw })).response,
      )?.[1];
    const first = await part(PATIENT);
    const second = await part(OTHER);
    const retried = await part(PATIENT);
    expect(first).toBeTruthy();
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);
    expect(retried).toBe(first);
    const rows = await store.db
      .selectFrom('messages')
      .select('id')
      .where('practice_id', '=', practiceId)
      .execute();
    expect(rows.map((r) => r.id).sort()).toEqual([first, second].sort());
    await until(() => sink.messages.find(to(PATIENT)));
    await until(() => sink.messages.find(to(OTHER)));
    // The retry sent nothing more.
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.messages.filter(to(PATIENT))).toHaveLength(1);
  });

  it('relays mail without PHI with its body unchanged', async () => {
    const raw = rawMessage({
      from: CLINICIAN,
      to: 'vendor@example.com',
      subject: 'Toner',
      text: 'Please send two toner cartridges for the front office printer.',
    });
    await client(gw.port).sendMail({ envelope: { from: CLINICIAN, to: ['vendor@example.com'] }, raw });
    const got = await until(() => sink.messages.find(to('vendor@example.com')));
    expect(got.raw.subarray(got.raw.length - raw.length).equals(raw)).toBe(true);
    expect(await store.db.selectFrom('messages').select('id').execute()).toHaveLength(0);
  });

  it('answers 250 when the next hop refused one recipient for good, and reports it to the sender through the outbox', async () => {
    const raw = rawMessage({
      from: `Dr Lee <${CLINICIAN}>`,
      to: 'vendor@example.com, nobody@example.com',
      subject: 'Order for Jane Roe',
      text: 'Please send two toner cartridges.',
      messageId: '<order-7@clinic.test>',
    });
    const info = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: ['vendor@example.com', 'nobody@example.com'] },
      raw,
    });
    expect(info.response).toMatch(/^250 .*Relayed to 1 of 2 recipients/);
    // Durable before the 250: the report is in the outbox already.
    const rows = await store.db
      .selectFrom('outbox')
      .select(['kind', 'practice_id'])
      .where('kind', '=', 'gateway_mail')
      .execute();
    expect(rows).toEqual([{ kind: 'gateway_mail', practice_id: practiceId }]);
    expect(sink.messages.filter(to('vendor@example.com'))).toHaveLength(1);

    const dsn = await until(() => sink.messages.find(to(CLINICIAN)));
    // A report goes out with a null reverse path (never bounced) and the outbox's marker.
    expect(dsn.from).toBe('');
    const text = dsn.raw.toString('utf8');
    expect(text).toMatch(/^X-Attune-Gateway: v1 [\w-]{32}\r$/m);
    expect(text).toMatch(/^Auto-Submitted: auto-replied\r$/m);
    const parsed = await simpleParser(dsn.raw);
    expect(parsed.from?.value[0]?.address).toBe('MAILER-DAEMON@clinic.test');
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value[0]?.address : null).toBe(CLINICIAN);
    expect(text).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status;/m);
    const status = /Content-Type: message\/delivery-status\r\n[^]*?\r\n--/.exec(text)?.[0] ?? '';
    expect(status).toMatch(/^Reporting-MTA: dns; \S+\r$/m);
    expect(status).toMatch(/^Final-Recipient: rfc822; nobody@example\.com\r$/m);
    expect(status).toMatch(/^Action: failed\r$/m);
    expect(status).toMatch(/^Status: 5\.\d+\.\d+\r$/m);
    expect(status).toMatch(/^Diagnostic-Code: smtp; 550 /m);
    expect(status).not.toContain('vendor@example.com');
    expect(text).toMatch(/Content-Type: text\/rfc822-headers\r\n[^]*Message-ID: <order-7@clinic\.test>/);
    expect(parsed.text).toMatch(/<nobody@example\.com>: /);
    // Nothing of the original's subject or body.
    expect(text).not.toContain('Jane Roe');
    expect(text).not.toContain('toner');
    // Routed through the gateway again (all outbound mail is), the report passes as processed.
    sink.messages.length = 0;
    const again = await client(gw.port).sendMail({ envelope: { from: '', to: [CLINICIAN] }, raw: dsn.raw });
    expect(again.response).toMatch(/^250 .*Relayed/);
    // Nothing was converted to secure delivery along the way.
    expect(await store.db.selectFrom('messages').select('id').execute()).toHaveLength(0);
  });

  it('answers 250 when the next hop refused one recipient for good and one for now: the outbox reports the first and retries the second, once however often the sender retries', async () => {
    const recipients = ['vendor@example.com', 'nobody@example.com', 'later@example.com'];
    const raw = rawMessage({
      from: `Dr Lee <${CLINICIAN}>`,
      to: recipients.join(', '),
      subject: 'Order',
      text: 'Please send two toner cartridges.',
      messageId: '<order-8@clinic.test>',
    });
    const sendIt = () => client(gw.port).sendMail({ envelope: { from: CLINICIAN, to: recipients }, raw });
    const info = await sendIt();
    expect(info.response).toMatch(
      /^250 .*Relayed to 1 of 3 recipients; 1 refused for now will be retried; 1 refused/,
    );
    const queued = async () =>
      (await store.db.selectFrom('outbox').select('id').where('kind', '=', 'gateway_mail').execute()).length;
    // Durable before the 250: the report and the copy are in the outbox already.
    expect(await queued()).toBe(2);
    const relayed = sink.messages.find(to('vendor@example.com'))!;
    expect(relayed.to).toEqual(['vendor@example.com']);
    const copy = await until(() => sink.messages.find(to('later@example.com')));
    expect(copy.to).toEqual(['later@example.com']);
    expect(copy.from).toMatch(/^bounce\+[0-9a-f]{32}-[0-9a-f]{20}@reply\.clinic\.test$/);
    // Exactly the bytes the next hop took for the others (the outbox prepends its own marker line).
    expect(copy.raw.subarray(copy.raw.length - relayed.raw.length).equals(relayed.raw)).toBe(true);
    const dsn = await until(() => sink.messages.find(to(CLINICIAN)));
    const status =
      /Content-Type: message\/delivery-status\r\n[^]*?\r\n--/.exec(dsn.raw.toString('utf8'))?.[0] ?? '';
    expect(status).toMatch(/^Final-Recipient: rfc822; nobody@example\.com\r$/m);
    expect(status).not.toContain('later@');

    // Our 250 lost on the way: the sender's server retries the transaction. The next hop gets it
    // again (we cannot know it was lost), but neither the report nor the copy is queued again.
    expect((await sendIt()).response).toMatch(/^250 /);
    expect(await queued()).toBe(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.messages.filter(to('later@example.com'))).toHaveLength(1);
    expect(sink.messages.filter(to(CLINICIAN))).toHaveLength(1);
  });

  it('sends a report for a sender of another practice under that practice: its id, its domain', async () => {
    const second = await ensurePractice(store.db, {
      name: 'Hillside Therapy',
      domains: ['hillside.test'],
    });
    await insertTestClinician(store.db, second.practiceId, { email: 'dr.kim@hillside.test', name: 'Dr Kim' });
    // GATEWAY_DSN_FROM names the first practice's domain: right for its senders, not for Hillside's.
    await gw.close();
    gw = await startGateway({
      config: delivery.services.config,
      store,
      pipeline: delivery.pipeline,
      env: {
        GATEWAY_PORT: '0',
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_ALLOWED_SOURCES: '127.0.0.1',
        GATEWAY_REPLY_DOMAIN: 'reply.clinic.test',
        GATEWAY_PRACTICE_ID: practiceId,
        GATEWAY_DSN_FROM: 'postmaster@clinic.test',
      },
    });
    const order = (from: string, n: number) =>
      client(gw.port).sendMail({
        envelope: { from, to: ['vendor@example.com', 'nobody@example.com'] },
        raw: rawMessage({
          from,
          to: 'vendor@example.com, nobody@example.com',
          subject: 'Order',
          text: 'Toner.',
          messageId: `<order-${n}@x.test>`,
        }),
      });
    expect((await order('dr.kim@hillside.test', 1)).response).toMatch(/^250 .*a delivery report follows/);
    expect((await order(CLINICIAN, 2)).response).toMatch(/^250 .*a delivery report follows/);
    const rows = await store.db
      .selectFrom('outbox')
      .select('practice_id')
      .where('kind', '=', 'gateway_mail')
      .orderBy('created_at')
      .execute();
    expect(rows.map((r) => r.practice_id).sort()).toEqual([practiceId, second.practiceId].sort());
    const kim = await until(() => sink.messages.find(to('dr.kim@hillside.test')));
    const lee = await until(() => sink.messages.find(to(CLINICIAN)));
    expect((await simpleParser(kim.raw)).from?.value[0]?.address).toBe('MAILER-DAEMON@hillside.test');
    expect(kim.raw.toString('utf8')).toMatch(/^Message-ID: <dsn-[0-9a-f]+@hillside\.test>\r$/m);
    expect((await simpleParser(lee.raw)).from?.value[0]?.address).toBe('postmaster@clinic.test');
  });

  it('sends no report for a bounce (null sender) refused in part, and answers 5xx when every recipient is refused', async () => {
    const raw = rawMessage({
      from: 'MAILER-DAEMON@clinic.test',
      to: 'vendor@example.com, nobody@example.com',
      subject: 'Undelivered mail',
      text: 'A report.',
    });
    // A bounce goes to one address: the gateway refuses a second recipient at RCPT, so the next hop
    // never takes it in part.
    const info = await client(gw.port).sendMail({
      envelope: { from: '', to: ['vendor@example.com', 'nobody@example.com'] },
      raw,
    });
    expect(info.response).toMatch(/^250 /);
    expect(info.rejected).toEqual(['nobody@example.com']);
    expect(sink.messages.map((m) => m.to)).toEqual([['vendor@example.com']]);
    const err = await client(gw.port)
      .sendMail({
        envelope: { from: CLINICIAN, to: ['nobody@example.com'] },
        raw: rawMessage({ from: CLINICIAN, to: 'nobody@example.com', subject: 'Toner', text: 'Toner.' }),
      })
      .catch((e: unknown) => e as { responseCode?: number });
    expect((err as { responseCode?: number }).responseCode).toBe(554);
    expect(
      await store.db.selectFrom('outbox').select('id').where('kind', '=', 'gateway_mail').execute(),
    ).toHaveLength(0);
  });

  it('relays a clinician’s own PGP/MIME message to a patient as it is, and secures what only looks like one', async () => {
    const gpg = await GpgHome.create();
    try {
      const key = await gpg.generateKey(PATIENT);
      const enc = await gpg.run(
        ['--armor', '--trust-model', 'always', '--encrypt', '-r', key.fingerprint],
        PHI_TEXT,
      );
      expect(enc.code).toBe(0);
      const armored = enc.stdout.toString('latin1');
      // As an OpenPGP mail client (Thunderbird, Mailvelope, GpgOL) writes it (RFC 3156 section 4).
      const pgpMime = (
        o: { subject?: string; protocol?: string; ciphertext?: string; extra?: string } = {},
      ) =>
        Buffer.from(
          `From: Dr Lee <${CLINICIAN}>\r\nTo: Jane Roe <${PATIENT}>\r\nSubject: ${o.subject ?? 'Our next session'}\r\n` +
            `Date: Sun, 22 Nov 2026 07:00:00 +0000\r\nMessage-ID: <pgp-${Math.random().toString(36).slice(2)}@clinic.test>\r\n` +
            `MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol="${o.protocol ?? 'application/pgp-encrypted'}"; boundary="enc"\r\n\r\n` +
            'This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n' +
            '--enc\r\nContent-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n' +
            '--enc\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n' +
            'Content-Description: OpenPGP encrypted message\r\nContent-Disposition: inline; filename="encrypted.asc"\r\n\r\n' +
            `${(o.ciphertext ?? armored).replace(/\r?\n/g, '\r\n')}\r\n${o.extra ?? ''}--enc--\r\n`,
          'latin1',
        );
      const send = (raw: Buffer) =>
        client(gw.port).sendMail({ envelope: { from: CLINICIAN, to: [PATIENT] }, raw });
      const count = async () => (await store.db.selectFrom('messages').select('id').execute()).length;

      const raw = pgpMime();
      expect((await send(raw)).response).toMatch(/^250 .*Relayed/);
      const got = await until(() => sink.messages.find(to(PATIENT)));
      expect(got.raw.subarray(got.raw.length - raw.length).equals(raw)).toBe(true);
      expect(await count()).toBe(0);
      // And the patient can read it.
      const armor = /-----BEGIN PGP MESSAGE-----[^]*?-----END PGP MESSAGE-----/.exec(
        got.raw.toString('latin1'),
      )![0];
      expect((await gpg.decrypt(armor)).stdout.toString('utf8')).toBe(PHI_TEXT);

      // The Subject is not encrypted: PHI there is secured like any PHI.
      expect((await send(pgpMime({ subject: 'Sertraline dose for Jane Roe' }))).response).toMatch(
        /secure delivery/,
      );
      expect(await count()).toBe(1);
      // Look-alikes are scanned as what they are: plaintext under an armor line, or no armor at all;
      // a readable part beside the two; another protocol.
      const fakeArmor = `-----BEGIN PGP MESSAGE-----\n\n${Buffer.from(PHI_TEXT).toString('base64')}\n-----END PGP MESSAGE-----\n`;
      const lookalikes = [
        pgpMime({ ciphertext: fakeArmor }),
        pgpMime({ ciphertext: PHI_TEXT }),
        pgpMime({ extra: `--enc\r\nContent-Type: text/plain\r\n\r\n${PHI_TEXT}\r\n` }),
        pgpMime({ protocol: 'application/pkcs7-mime' }),
        // Real armor whose CRC-24 does not match its bytes: damaged or put together by hand. (Its last
        // character changed, to one it is not: a CRC ending in A once made this a copy, 1 run in 64.)
        pgpMime({
          ciphertext: armored.replace(
            /^=([A-Za-z0-9+/]{3})([A-Za-z0-9+/])$/m,
            (_, k: string, last: string) => `=${k}${last === 'A' ? 'B' : 'A'}`,
          ),
        }),
      ];
      expect(lookalikes.at(-1)!.toString('latin1')).not.toContain(armored.replace(/\r?\n/g, '\r\n'));
      for (const m of lookalikes) expect((await send(m)).response).toMatch(/secure delivery/);
      expect(await count()).toBe(1 + lookalikes.length);
      for (const m of sink.messages) {
        expect(m.raw.toString('latin1')).not.toContain('sertraline');
        expect(m.raw.toString('latin1')).not.toContain(Buffer.from(PHI_TEXT).toString('base64').slice(0, 40));
      }
    } finally {
      await gpg.dispose();
    }
  });

  it('captures a plain-email reply to the notice with its latency, and tells the clinician without PHI', async () => {
    await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: rawMessage({ from: CLINICIAN, to: PATIENT, subject: 'Check-in', text: PHI_TEXT }),
    });
    const notice = await until(() => sink.messages.find(to(PATIENT)));
    const replyTo = String((await simpleParser(notice.raw)).replyTo?.value[0]?.address);
    await new Promise((r) => setTimeout(r, 30));

    const reply = rawMessage({
      from: PATIENT,
      to: replyTo,
      subject: 'Re: You have a secure message',
      text: 'Honestly I have been feeling hopeless and I want to kill myself some nights. Can we talk sooner?\n\nOn Mon, Nov 16, 2026 Lakeside wrote:\n> You have a secure message',
    });
    const info = await client(gw.port).sendMail({ envelope: { from: PATIENT, to: [replyTo] }, raw: reply });
    expect(info.response).toMatch(/^250 /);

    const ev = await store.db
      .selectFrom('engagement_events')
      .selectAll()
      .where('type', '=', 'replied')
      .executeTakeFirstOrThrow();
    expect(ev.latency_ms).toBeGreaterThan(0);
    const data = JSON.parse(ev.data) as { crisis?: { grade: string; sentence: string } };
    expect(data.crisis?.grade).toBe('first_person');
    expect(data.crisis?.sentence).toContain('kill myself');
    // An email reply is evidence that the patient read the notice: the first open is recorded
    // (before the reply), though no one loaded the viewer page.
    const opened = await store.db
      .selectFrom('engagement_events')
      .selectAll()
      .where('type', '=', 'opened')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(opened.data)).toEqual({ evidence: 'reply' });
    expect(opened.at <= ev.at).toBe(true);
    const stored = await store.db.selectFrom('replies').select(['body_ct']).executeTakeFirstOrThrow();
    expect(stored.body_ct.toString('latin1')).not.toContain('hopeless');

    const toClinician = await until(() => sink.messages.find(to(CLINICIAN)));
    const body = toClinician.raw.toString('utf8');
    expect(body).not.toContain('hopeless');
    expect(body).not.toContain('kill myself');
    expect(body).not.toContain('Jane');
  });

  it('takes an email reply at the notice’s own reply address, which holds no link token, and still at an older notice’s', async () => {
    await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: rawMessage({ from: CLINICIAN, to: PATIENT, subject: 'Check-in', text: PHI_TEXT }),
    });
    const notice = await until(() => sink.messages.find(to(PATIENT)));
    const parsed = await simpleParser(notice.raw);
    const linkToken = /\/m\/([A-Za-z0-9_-]{43})/.exec(parsed.text ?? '')![1]!;
    const replyTo = String(parsed.replyTo?.value[0]?.address);
    const replyToken = /^reply\+([A-Za-z0-9_-]{43})@reply\.clinic\.test$/.exec(replyTo)![1]!;
    // The reply address travels in envelopes, headers, logs and address books: it must not be the
    // credential that opens the message.
    expect(replyToken).not.toBe(linkToken);
    expect(notice.raw.toString('utf8')).not.toContain(`reply+${linkToken}`);

    const replyAt = async (addr: string, text: string) =>
      client(gw.port).sendMail({
        envelope: { from: PATIENT, to: [addr] },
        raw: rawMessage({ from: PATIENT, to: addr, subject: 'Re: You have a secure message', text }),
      });
    expect((await replyAt(replyTo, 'Thanks, see you Tuesday.')).response).toMatch(/^250 /);
    // A notice sent before reply tokens existed carries the link token in its reply address; a
    // patient answering it now must still reach the clinician.
    expect((await replyAt(`reply+${linkToken}@reply.clinic.test`, 'One more thing.')).response).toMatch(
      /^250 /,
    );
    const replies = await store.db.selectFrom('replies').select(['message_id']).execute();
    expect(replies).toHaveLength(2);
    const message = await store.db.selectFrom('messages').select('id').executeTakeFirstOrThrow();
    expect(replies.every((r) => r.message_id === message.id)).toBe(true);
  });

  it('relays only for practice senders: a stranger is refused at RCPT, a practice added while it runs is relayed, a stranger’s reply is taken', async () => {
    const send = (from: string, rcpt: string, header = from) =>
      client(gw.port)
        .sendMail({
          envelope: { from, to: [rcpt] },
          raw: rawMessage({ from: header, to: rcpt, subject: 'Invoice', text: 'Please pay today.' }),
        })
        .catch((e: unknown) => e as { responseCode?: number; response?: string; message?: string });
    // The open relay the audit found: any tenant of the allowed (shared) ranges, any From.
    const stranger = await send('attacker@evil.test', 'victim@other.com', 'ceo@bigbank.com');
    expect(stranger.responseCode).toBe(550);
    expect(stranger.message).toContain('5.7.1 Relaying denied: sender not in a practice domain');
    // A practice's sender is relayed.
    expect((await send(CLINICIAN, 'vendor@example.com')).response).toMatch(/^250 /);
    expect(sink.messages.map((m) => m.from)).toEqual([CLINICIAN]);
    // attune practice add, while the gateway runs: relayed without a restart.
    expect((await send('dr.kim@hillside.test', 'vendor@example.com')).responseCode).toBe(550);
    const added = await store.db
      .transaction()
      .execute((tx) => addPractice(tx, { name: 'Hillside', domains: ['hillside.test'] }));
    expect(added.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 2_100));
    expect((await send('dr.kim@hillside.test', 'vendor@example.com')).response).toMatch(/^250 /);
    expect(sink.messages.map((m) => m.from)).toEqual([CLINICIAN, 'dr.kim@hillside.test']);
    // A patient (a stranger to every practice domain) still answers a notice at its reply address.
    await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: rawMessage({ from: CLINICIAN, to: PATIENT, subject: 'Check-in', text: PHI_TEXT }),
    });
    const notice = await until(() => sink.messages.find(to(PATIENT)));
    const replyTo = String((await simpleParser(notice.raw)).replyTo?.value[0]?.address);
    const reply = await client(gw.port).sendMail({
      envelope: { from: PATIENT, to: [replyTo] },
      raw: rawMessage({
        from: PATIENT,
        to: replyTo,
        subject: 'Re: secure message',
        text: 'See you Tuesday.',
      }),
    });
    expect(reply.response).toMatch(/^250 /);
    expect(await store.db.selectFrom('replies').select('id').execute()).toHaveLength(1);
    // Nothing of the stranger's reached the next hop.
    expect(
      sink.messages.some((m) => m.from === 'attacker@evil.test' || m.to.includes('victim@other.com')),
    ).toBe(false);
  });

  it('takes replies at a reply domain the practice was given while the gateway runs', async () => {
    await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: rawMessage({ from: CLINICIAN, to: PATIENT, subject: 'Check-in', text: PHI_TEXT }),
    });
    const notice = await until(() => sink.messages.find(to(PATIENT)));
    const replyTo = String((await simpleParser(notice.raw)).replyTo?.value[0]?.address);
    const token = /^reply\+([A-Za-z0-9_-]{43})@reply\.clinic\.test$/.exec(replyTo)![1]!;
    // attune practice set-domains --reply-domain, while the gateway runs.
    const changed = await updatePractice(store.db, practiceId, { replyDomain: 'replies.lakeside.test' });
    expect(changed).toMatchObject({ ok: true, changed: ['reply_domain'] });
    const addr = `reply+${token}@replies.lakeside.test`;
    const info = await client(gw.port).sendMail({
      envelope: { from: PATIENT, to: [addr] },
      raw: rawMessage({
        from: PATIENT,
        to: addr,
        subject: 'Re: You have a secure message',
        text: 'See you Tuesday.',
      }),
    });
    expect(info.response).toMatch(/^250 /);
    // Taken as the patient's reply, not relayed on as outbound mail from an allowed source.
    expect(await store.db.selectFrom('replies').select('id').execute()).toHaveLength(1);
    expect(sink.messages.filter(to(addr))).toHaveLength(0);
    // Any other address in the new domain is ours too: refused, never relayed.
    const err = await client(gw.port)
      .sendMail({
        envelope: { from: CLINICIAN, to: ['someone@replies.lakeside.test'] },
        raw: rawMessage({ from: CLINICIAN, to: 'someone@replies.lakeside.test', subject: 'Hi', text: 'Hi.' }),
      })
      .catch((e: unknown) => e as { responseCode?: number });
    expect((err as { responseCode?: number }).responseCode).toBe(550);
  });

  it('refuses replies to unknown tokens with 550', async () => {
    const addr = `reply+${'A'.repeat(43)}@reply.clinic.test`;
    const err = await client(gw.port)
      .sendMail({
        envelope: { from: PATIENT, to: [addr] },
        raw: rawMessage({ from: PATIENT, to: addr, subject: 'Re', text: 'hello' }),
      })
      .catch((e: unknown) => e);
    expect((err as { responseCode?: number }).responseCode).toBe(550);
    expect(await store.db.selectFrom('replies').select('id').execute()).toHaveLength(0);
  });

  it('tells the clinician when an email reply came from another address than the patient’s', async () => {
    await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: rawMessage({ from: CLINICIAN, to: PATIENT, subject: 'Check-in', text: PHI_TEXT }),
    });
    const notice = await until(() => sink.messages.find(to(PATIENT)));
    const replyTo = String((await simpleParser(notice.raw)).replyTo?.value[0]?.address);
    const replyFrom = async (from: string, text: string) =>
      client(gw.port).sendMail({
        envelope: { from, to: [replyTo] },
        raw: rawMessage({ from, to: replyTo, subject: 'Re: You have a secure message', text }),
      });
    expect((await replyFrom(PATIENT.toUpperCase(), 'See you Tuesday.')).response).toMatch(/^250 /);
    expect((await replyFrom('someone.else@elsewhere.example', 'Who is this?')).response).toMatch(/^250 /);
    const notices = await until(() => {
      const n = sink.messages.filter(to(CLINICIAN));
      return n.length === 2 ? n : undefined;
    });
    const refOf = (raw: Buffer) => /Reference: (\S+)/.exec(raw.toString('utf8'))![1]!;
    const warned = notices.filter((n) => n.raw.toString('utf8').includes('different email address'));
    expect(warned).toHaveLength(1);
    const other = await readReply(delivery.services, practiceId, refOf(warned[0]!.raw));
    expect(other).toMatchObject({
      from: PATIENT,
      otherSender: 'someone.else@elsewhere.example',
      text: 'Who is this?',
    });
    // The notice says only that the address differs: never which one (it goes over plain email).
    expect(warned[0]!.raw.toString('utf8')).not.toContain('elsewhere.example');
    const own = notices.find((n) => n !== warned[0])!;
    expect(await readReply(delivery.services, practiceId, refOf(own.raw))).toMatchObject({
      from: PATIENT,
      otherSender: null,
    });
  });

  it('answers 452 (try later) to an email reply over the link’s daily reply limit, and stores nothing of it', async () => {
    await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: rawMessage({ from: CLINICIAN, to: PATIENT, subject: 'Check-in', text: PHI_TEXT }),
    });
    const notice = await until(() => sink.messages.find(to(PATIENT)));
    const replyTo = String((await simpleParser(notice.raw)).replyTo?.value[0]?.address);
    const token = /^reply\+([A-Za-z0-9_-]{43})@/.exec(replyTo)![1]!;
    const reply = { token, from: PATIENT, subject: 'Re', html: null, raw: Buffer.from('x'), crisis: null };
    for (let i = 0; i < MAX_REPLIES_PER_LINK_PER_DAY; i++)
      expect(
        (await delivery.pipeline.acceptReply({ ...reply, text: `note ${i}`, receivedAt: new Date() })).ok,
      ).toBe(true);
    const err = await client(gw.port)
      .sendMail({
        envelope: { from: PATIENT, to: [replyTo] },
        raw: rawMessage({
          from: PATIENT,
          to: replyTo,
          subject: 'Re: You have a secure message',
          text: 'And again.',
        }),
      })
      .catch((e: unknown) => e);
    // Temporary: the patient's server tries again later, and the reply arrives once the window moves.
    expect((err as { responseCode?: number }).responseCode).toBe(452);
    expect(await store.db.selectFrom('replies').select('id').execute()).toHaveLength(
      MAX_REPLIES_PER_LINK_PER_DAY,
    );
  });
});
