import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SendMessageRequestSchema, type SendMessageRequestInput } from '@attune/shared/api';
import { testConfig } from '../config.ts';
import { generateMasterKey } from '../crypto/index.ts';
import { createDelivery, sendSecureMessage, type Delivery } from '../delivery/index.ts';
import { silentLogger } from '../log.ts';
import { resolveLink } from '../delivery/reply.ts';
import { newId } from '../store/index.ts';
import { requestCode } from '../viewer/service.ts';
import { deriveViewerKeys } from '../viewer/session.ts';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { ensurePractice } from '../store/practices.ts';
import { insertTestClinician, insertTestPatient } from '../store/test-rows.ts';
import { createTestStore, type TestStore } from '../store/testing.ts';
import { startGateway, type RunningGateway } from './index.ts';
import { client, startSink, type Sink, type SinkMessage } from './testing.ts';

// Mail Attune itself produced, coming through the gateway (a practice that routes all outbound mail
// there): the server's own notices (stamped X-Attune-Secured) and a notice a clinician sends from
// a draft (delivery "client", Gmail) must be relayed as they are, not secured a second time.

const CLINICIAN = 'dr.lee@clinic.test';
const PATIENT = 'jane.roe@example.com';
const PHI_TEXT =
  'Hi Jane Roe, your sertraline dose for major depressive disorder goes up to 100 mg from Monday.';

let sink: Sink;
let store: TestStore;
let delivery: Delivery;
let gw: RunningGateway;
let practiceId: string;
let clinicianId: string;

async function until<T>(f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function messageCount(): Promise<number> {
  return (await store.db.selectFrom('messages').select('id').execute()).length;
}

async function send(input: Partial<SendMessageRequestInput> & { to: string[] }) {
  const r = await sendSecureMessage(
    delivery.services,
    { practiceId, clinicianId },
    SendMessageRequestSchema.parse({ subject: 'Medication change', text: PHI_TEXT, ...input }),
  );
  if (!r.ok) throw new Error(r.code);
  return r.response;
}

/** A draft as Gmail sends it: multipart/alternative with the inserted notice. */
async function draft(opts: { to: string; cc?: string; html: string; text: string }): Promise<Buffer> {
  return new MailComposer({
    from: CLINICIAN,
    to: opts.to,
    ...(opts.cc ? { cc: opts.cc } : {}),
    subject: 'Secure message',
    html: opts.html,
    text: opts.text,
  })
    .compile()
    .build();
}

/** Mail from the clinician stamped X-Attune-Secured: <id>, as Outlook sends a secured draft. */
async function stampedMail(
  id: string,
  opts: { text: string; to?: string; subject?: string },
): Promise<Buffer> {
  return new MailComposer({
    from: CLINICIAN,
    to: opts.to ?? PATIENT,
    subject: opts.subject ?? 'Secure message',
    text: opts.text,
    headers: { 'X-Attune-Secured': id },
  })
    .compile()
    .build();
}

describe('gateway: mail Attune already secured', () => {
  beforeEach(async () => {
    store = await createTestStore('sqlite');
    sink = await startSink();
    const config = testConfig(store.dataDir, {
      SMTP_URL: sink.url,
      SMTP_REQUIRE_TLS: 'false',
      ATTUNE_MASTER_KEY: generateMasterKey(),
      PRACTICE_DOMAINS: 'clinic.test',
      PUBLIC_URL: 'https://attune.clinic.test',
      // Notices leave from the practice's own domain, which is how the gateway knows the sender.
      MAIL_FROM: 'notices@clinic.test',
    });
    practiceId = (await ensurePractice(store.db, { name: 'Lakeside Counseling', domains: ['clinic.test'] }))
      .practiceId;
    clinicianId = newId();
    await insertTestClinician(store.db, practiceId, { email: CLINICIAN, name: 'Dr Lee', id: clinicianId });
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
      env: { GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_ALLOWED_SOURCES: '127.0.0.1' },
    });
  });

  afterEach(async () => {
    await gw.close();
    await delivery.stop();
    await store.cleanup();
    await sink.close();
  });

  const toPatient = (m: SinkMessage) => m.to.includes(PATIENT);

  it('relays the server’s own notice as secured, and refuses the same notice without its stamp', async () => {
    const res = await send({ to: [PATIENT] });
    const notice = await until(() => sink.messages.find(toPatient));
    expect(notice.raw.toString('utf8')).toMatch(new RegExp(`^X-Attune-Secured: ${res.id}\\r?$`, 'm'));
    sink.messages.length = 0;

    const info = await client(gw.port).sendMail({
      envelope: { from: 'notices@clinic.test', to: [PATIENT] },
      raw: notice.raw,
    });
    expect(info.response).toMatch(/^250 .*Relayed/);
    const relayed = await until(() => sink.messages.find(toPatient));
    expect(relayed.raw.toString('utf8')).toContain(`/m/`);
    expect(await messageCount()).toBe(1);

    // Without the stamp and the marker the notice's link to a known patient counts as PHI, and the
    // notices address is no clinician: the gateway fails closed and refuses it.
    const unstamped = Buffer.from(
      notice.raw
        .toString('utf8')
        .replace(/^X-Attune-Secured: .*\r?\n/m, '')
        .replace(/^X-Attune-Gateway: .*\r?\n/m, ''),
      'utf8',
    );
    const err = await client(gw.port)
      .sendMail({ envelope: { from: 'notices@clinic.test', to: [PATIENT] }, raw: unstamped })
      .catch((e: unknown) => e as { responseCode?: number });
    expect((err as { responseCode?: number }).responseCode).toBe(554);
    expect(await messageCount()).toBe(1);
  });

  it('relays the server’s own mail whatever its age: a notice sent days after its message, a one-time code', async () => {
    const res = await send({ to: [PATIENT] });
    const notice = await until(() => sink.messages.find(toPatient));
    // The outbox marks what it sends as the gateway marks what it relayed.
    expect(notice.raw.toString('utf8')).toMatch(/^X-Attune-Gateway: v1 [\w-]{32}\r?$/m);
    // A scheduled send, or a notice retried for days, leaves long after its message was created:
    // past the stamp's 48 hours.
    await store.db
      .updateTable('messages')
      .set({ created_at: new Date(Date.now() - 72 * 3600_000).toISOString() })
      .where('id', '=', res.id)
      .execute();
    sink.messages.length = 0;
    const late = await client(gw.port).sendMail({
      envelope: { from: 'notices@clinic.test', to: [PATIENT] },
      raw: notice.raw,
    });
    expect(late.response).toMatch(/^250 .*Relayed/);
    await until(() => sink.messages.find(toPatient));

    // The patient asks for a one-time code on the viewer page: it goes out as ordinary email too.
    sink.messages.length = 0;
    const token = /\/m\/([A-Za-z0-9_-]{43})/.exec(notice.raw.toString('utf8'))![1]!;
    const link = await resolveLink(delivery.services, token);
    if (!link.ok) throw new Error(link.reason);
    expect(await requestCode(delivery.services, deriveViewerKeys(delivery.services.masterKey), link)).toEqual(
      {
        ok: true,
      },
    );
    const code = await until(() => sink.messages.find(toPatient));
    expect(code.raw.toString('utf8')).toMatch(/one-time code/);
    sink.messages.length = 0;
    const relayed = await client(gw.port).sendMail({
      envelope: { from: 'notices@clinic.test', to: [PATIENT] },
      raw: code.raw,
    });
    expect(relayed.response).toMatch(/^250 .*Relayed/);
    expect(await messageCount()).toBe(1);

    // The marker is bound to the Message-ID: on other mail it is no pass.
    const forged = Buffer.from(
      code.raw.toString('utf8').replace(/^Message-ID: .*$/im, 'Message-ID: <other@clinic.test>'),
      'utf8',
    );
    const err = await client(gw.port)
      .sendMail({ envelope: { from: 'notices@clinic.test', to: [PATIENT] }, raw: forged })
      .catch((e: unknown) => e as { responseCode?: number });
    expect((err as { responseCode?: number }).responseCode).toBe(554);
  });

  it('relays a client-delivered notice sent from the draft unchanged', async () => {
    const res = await send({ to: [PATIENT], delivery: 'client' });
    expect(res.recipients[0]?.delivery).toBe('client');
    const raw = await draft({ to: PATIENT, html: res.notice.html, text: res.notice.text });
    const info = await client(gw.port).sendMail({ envelope: { from: CLINICIAN, to: [PATIENT] }, raw });
    expect(info.response).toMatch(/^250 .*Relayed/);
    const got = await until(() => sink.messages.find(toPatient));
    expect(got.raw.toString('utf8')).toContain('https://attune.clinic.test/m/');
    expect(await messageCount()).toBe(1);
  });

  it('secures a client notice that goes to anyone besides its recipient, or that carries PHI beside it', async () => {
    const res = await send({ to: [PATIENT], delivery: 'client' });
    const withCc = await draft({
      to: PATIENT,
      cc: 'sister@example.com',
      html: res.notice.html,
      text: res.notice.text,
    });
    const a = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT, 'sister@example.com'] },
      raw: withCc,
    });
    expect(a.response).toMatch(/secure delivery/);
    expect(await messageCount()).toBe(2);

    const withPhi = await draft({
      to: PATIENT,
      html: `<p>${PHI_TEXT}</p>${res.notice.html}`,
      text: `${PHI_TEXT}\n\n${res.notice.text}`,
    });
    const b = await client(gw.port).sendMail({ envelope: { from: CLINICIAN, to: [PATIENT] }, raw: withPhi });
    expect(b.response).toMatch(/secure delivery/);
    expect(await messageCount()).toBe(3);
  });

  it('does not vouch for a link the server delivered itself, pasted into a draft', async () => {
    await send({ to: [PATIENT] });
    const notice = await until(() => sink.messages.find(toPatient));
    const link = /https:\/\/attune\.clinic\.test\/m\/[A-Za-z0-9_-]{43}/.exec(notice.raw.toString('utf8'))![0];
    const raw = await draft({
      to: PATIENT,
      html: `<p>Your message: <a href="${link}">${link}</a></p>`,
      text: `Your message: ${link}`,
    });
    const info = await client(gw.port).sendMail({ envelope: { from: CLINICIAN, to: [PATIENT] }, raw });
    expect(info.response).toMatch(/secure delivery/);
  });

  it('scans a stamped notice too: one resent with PHI written into it is secured, the notice as sent is relayed', async () => {
    // Outlook keeps internet headers on a sent item that is resent or edited as new; where no
    // add-in runs (mobile, add-in not loaded) nothing rewrites it, and the old stamp comes with it.
    const res = await send({ to: [PATIENT], delivery: 'client' });
    const stamped = (text: string, subject?: string) =>
      stampedMail(res.id, { text, ...(subject ? { subject } : {}) });
    const asSent = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: await stamped(res.notice.text),
    });
    expect(asSent.response).toMatch(/^250 .*Relayed/);
    expect(await messageCount()).toBe(1);

    const edited = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: await stamped(`${PHI_TEXT}\n\n${res.notice.text}`),
    });
    expect(edited.response).toMatch(/secure delivery/);
    const phiSubject = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: await stamped(res.notice.text, 'Your sertraline dose for depression'),
    });
    expect(phiSubject.response).toMatch(/secure delivery/);
    expect(await messageCount()).toBe(3);
    for (const m of sink.messages) expect(m.raw.toString('utf8')).not.toContain('sertraline');
  });

  it('scans a stamped notice without its own link and reply address only: other links stay in and are scanned', async () => {
    const res = await send({ to: [PATIENT], delivery: 'client' });
    // Another message's notice for the same patient, and an address that only looks like ours.
    const other = await send({ to: [PATIENT], delivery: 'client' });
    const otherLink = /https:\/\/attune\.clinic\.test\/m\/[A-Za-z0-9_-]{43}/.exec(other.notice.text)![0];
    const lookalike = `https://attune.clinic.test/m/${'Q'.repeat(43)}`;
    const stamped = (text: string) => stampedMail(res.id, { text });
    const asSent = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: await stamped(res.notice.text),
    });
    expect(asSent.response).toMatch(/^250 .*Relayed/);
    expect(await messageCount()).toBe(2);
    // In mail to a known patient a web address is an identifier: a link that is not this notice's
    // own is scanned like any text, and the message secured.
    for (const extra of [otherLink, lookalike]) {
      const info = await client(gw.port).sendMail({
        envelope: { from: CLINICIAN, to: [PATIENT] },
        raw: await stamped(`${res.notice.text}\n\nAlso: ${extra}`),
      });
      expect(info.response).toMatch(/secure delivery/);
    }
    expect(await messageCount()).toBe(4);
  });

  it('relays the server’s own PGP/MIME message as secured: its ciphertext is not taken for an unreadable file', async () => {
    const gpg = await GpgHome.create();
    try {
      const key = await gpg.generateKey('pgp@example.com');
      await store.db
        .updateTable('patients')
        .set({ public_key: key.publicKey, fingerprint: key.fingerprint })
        .where('email', '=', PATIENT)
        .execute();
      const res = await send({ to: [PATIENT] });
      expect(res.recipients[0]?.method).toBe('pgp');
      const sent = await until(() => sink.messages.find(toPatient));
      expect(sent.raw.toString('utf8')).toContain('multipart/encrypted');
      sink.messages.length = 0;
      const info = await client(gw.port).sendMail({
        envelope: { from: 'notices@clinic.test', to: [PATIENT] },
        raw: sent.raw,
      });
      expect(info.response).toMatch(/^250 .*Relayed/);
      await until(() => sink.messages.find(toPatient));
      expect(await messageCount()).toBe(1);
    } finally {
      await gpg.dispose();
    }
  });

  it("trusts a stamp only on mail to that message's recipients, and only for a while: ids are not secret", async () => {
    const res = await send({ to: [PATIENT] });
    await until(() => sink.messages.find(toPatient));
    const stamped = (to: string) => stampedMail(res.id, { to, subject: 'Labs', text: PHI_TEXT });
    const outsider = 'someone@outside.example';
    // New mail with PHI to someone the stamped message never went to: scanned, and secured.
    const a = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [outsider] },
      raw: await stamped(outsider),
    });
    expect(a.response).toMatch(/secure delivery/);
    expect(await messageCount()).toBe(2);
    // To the same patient, once the stamp is two days old: scanned too.
    await store.db
      .updateTable('messages')
      .set({ created_at: new Date(Date.now() - 49 * 3600_000).toISOString() })
      .where('id', '=', res.id)
      .execute();
    const b = await client(gw.port).sendMail({
      envelope: { from: CLINICIAN, to: [PATIENT] },
      raw: await stamped(PATIENT),
    });
    expect(b.response).toMatch(/secure delivery/);
    expect(await messageCount()).toBe(3);
    // Nothing with the PHI went out in the clear.
    for (const m of sink.messages) expect(m.raw.toString('utf8')).not.toContain('sertraline');
  });
});
