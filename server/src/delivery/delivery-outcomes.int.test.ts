import { simpleParser } from 'mailparser';
import * as openpgp from 'openpgp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scan } from '@attune/shared/phi';
import { PolicySchema } from '@attune/shared/policy';
import { SendMessageRequestSchema, type SendMessageRequestInput } from '@attune/shared/api';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { putPolicy } from '../store/index.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { createDeliveryFixture, type DeliveryFixture } from './testing.ts';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from './smtp-sink.ts';
import { smtpTransport } from './transport.ts';
import { sendSecureMessage } from './send.ts';
import { messageStatus } from './status.ts';
import type { OutboxWorker } from './outbox.ts';
import { deliveryOfReturnPath } from './verp.ts';

// What the sender learns about deliveries that do not arrive, against a real SMTP server
// (smtp-server in-process) and real keys (gpg, OpenPGP.js), on SQLite and PostgreSQL:
// a PHI-free failure email (one per message per burst), the status with the reason, VERP return
// paths, and the secure-link fallback for a patient key that can no longer be used.

const PHI_TEXT =
  'Hi Jordan Alvarez, following up on your major depressive disorder (F33.1). Continue sertraline 50 mg. DOB 04/12/1986, MRN 448812.';
const SUBJECT = 'Follow-up for Jordan Alvarez';
const CLINICIAN = 'dr@calm.example';

async function send(f: DeliveryFixture, input: Partial<SendMessageRequestInput> & { to: string[] }) {
  const r = await sendSecureMessage(
    f.delivery.services,
    { practiceId: f.practiceId, clinicianId: f.clinicianId },
    SendMessageRequestSchema.parse({ subject: SUBJECT, text: PHI_TEXT, ...input }),
  );
  if (!r.ok) throw new Error(`send failed: ${r.code}`);
  return r.response;
}

async function drain(worker: OutboxWorker): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if ((await worker.runOnce()) === 0) {
      await new Promise((r) => setTimeout(r, 30));
      if ((await worker.runOnce()) === 0) return;
    }
  }
}

/** Lets the failure notice's burst window pass on the fixture's clock, then runs the queue. */
async function afterBurst(f: DeliveryFixture): Promise<void> {
  f.clock.offsetMs += 61_000;
  await drain(f.delivery.worker);
}

const toClinician = (m: ReceivedMail) => m.to.includes(CLINICIAN);

/** The failure notice is PHI-free: nothing of the message, no patient address, nothing the detector finds. */
async function expectPhiFree(mail: ReceivedMail, patientAddresses: string[]): Promise<string> {
  const parsed = await simpleParser(mail.raw);
  const whole = mail.raw.toString('utf8');
  for (const finding of scan(`${SUBJECT}\n${PHI_TEXT}`)) expect(whole).not.toContain(finding.text);
  for (const a of patientAddresses) expect(whole).not.toContain(a);
  for (const word of ['Jordan', 'Alvarez', 'depress', 'sertraline', 'F33', '448812', 'Follow-up'])
    expect(whole).not.toContain(word);
  // The reference is the message's own id (what the add-in looks up), which reads like an id to
  // the detector; everything else must read as nothing.
  const text = (parsed.text ?? '').replace(/^Reference: [0-9a-f-]{36}$/m, '');
  expect(text).not.toBe(parsed.text);
  const findings = [parsed.subject ?? '', text].flatMap((part) =>
    scan(part, { allowList: ['Calm Waters Counseling'] }),
  );
  expect(findings.map((x) => `${x.type}:${x.text}`)).toEqual([]);
  return parsed.text ?? '';
}

/** An OpenPGP key for `email` made three days ago that expired two days ago. */
async function expiredKey(email: string): Promise<string> {
  const { publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ email }],
    date: new Date(Date.now() - 3 * 86_400_000),
    keyExpirationTime: 86_400,
    format: 'armored',
  });
  return publicKey;
}

describe.each(dialectsUnderTest())('delivery outcomes on %s', (dialect) => {
  let sink: SmtpSink;
  let f: DeliveryFixture;

  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });
  afterEach(async () => {
    await f?.cleanup();
    sink.received.length = 0;
    sink.refuseNext(0, 451);
  });

  async function fixture(env: Record<string, string> = {}) {
    f = await createDeliveryFixture(dialect, {
      transport: smtpTransport({ url: sink.url(), requireTls: true, pool: false }),
      env,
    });
    return f;
  }

  it('emails the sender one PHI-free failure notice when the relay refuses a delivery for good', async () => {
    await fixture();
    sink.refuseNext(1, 554);
    const r = await send(f, { to: ['b@patient.example'] });
    await drain(f.delivery.worker);
    const status = await messageStatus(f.delivery.services, f.practiceId, r.id);
    expect(status?.recipients[0]).toMatchObject({ status: 'failed' });
    expect(status?.recipients[0]?.lastError).toMatch(/554/);
    // Waits for the burst window: nothing yet.
    expect(sink.received.filter(toClinician)).toHaveLength(0);
    await afterBurst(f);
    const notices = sink.received.filter(toClinician);
    expect(notices).toHaveLength(1);
    const parsed = await simpleParser(notices[0]!.raw);
    expect(parsed.subject).toBe('A secure message could not be delivered (Calm Waters Counseling)');
    const text = await expectPhiFree(notices[0]!, ['b@patient.example']);
    expect(text).toContain(`Reference: ${r.id}`);
    expect(text).toContain('Delivery of your secure message failed for its recipient.');
    // Once only: later runs send nothing more.
    await afterBurst(f);
    expect(sink.received.filter(toClinician)).toHaveLength(1);
  });

  it('sends one failure notice, with the count, when five recipients of a message fail', async () => {
    await fixture();
    sink.refuseNext(5, 550);
    const to = [1, 2, 3, 4, 5].map((i) => `p${i}@patient.example`);
    const r = await send(f, { to });
    await drain(f.delivery.worker);
    await afterBurst(f);
    const status = await messageStatus(f.delivery.services, f.practiceId, r.id);
    expect(status?.recipients.map((x) => x.status)).toEqual([
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
    ]);
    const notices = sink.received.filter(toClinician);
    expect(notices).toHaveLength(1);
    const text = await expectPhiFree(notices[0]!, to);
    expect(text).toContain('failed for 5 of its 5 recipients');
  });

  it('does not report the failure of a failure notice (no loop)', async () => {
    await fixture();
    sink.refuseNext(2, 550); // the delivery, then its failure notice
    await send(f, { to: ['loop@patient.example'] });
    await drain(f.delivery.worker);
    await afterBurst(f);
    await afterBurst(f);
    const rows = await f.store.db.selectFrom('outbox').select(['kind', 'permanent_failure']).execute();
    expect(rows.filter((x) => x.kind === 'failure_notice')).toEqual([
      { kind: 'failure_notice', permanent_failure: 1 },
    ]);
    expect(sink.received).toHaveLength(0);
  });

  it('sends each delivery from its own VERP return path at the reply domain, and from the From address without one', async () => {
    await fixture({ PRACTICE_REPLY_DOMAIN: 'reply.calm.example' });
    await send(f, { to: ['verp@patient.example'] });
    await drain(f.delivery.worker);
    const [mail] = await sink.waitFor(1);
    expect(mail!.from).toMatch(/^bounce\+[0-9a-f]{32}-[0-9a-f]{20}@reply\.calm\.example$/);
    const d = await f.store.db.selectFrom('deliveries').select('id').executeTakeFirstOrThrow();
    expect(deliveryOfReturnPath(f.delivery.services.masterKey, mail!.from)).toEqual({
      deliveryId: d.id,
      generation: 0,
    });
    // One character of the MAC changed: not ours.
    const forged = mail!.from.replace(/-([0-9a-f])/, (_, c: string) => `-${c === '0' ? '1' : '0'}`);
    expect(deliveryOfReturnPath(f.delivery.services.masterKey, forged)).toBeNull();
    await f.cleanup();
    sink.received.length = 0;

    await fixture();
    await send(f, { to: ['plain@patient.example'] });
    await drain(f.delivery.worker);
    const [plain] = await sink.waitFor(1);
    expect(plain!.from).toBe('notices@calm.example');
  });

  it('sends a secure link instead when the patient key has expired, and says why in the status', async () => {
    await fixture();
    await f.addPatient('expired@patient.example', { publicKey: await expiredKey('expired@patient.example') });
    const r = await send(f, { to: ['expired@patient.example'] });
    // Chosen at send time from the key on file; the fallback happens when it goes out.
    expect(r.recipients[0]?.method).toBe('pgp');
    await drain(f.delivery.worker);
    const [mail] = await sink.waitFor(1);
    const parsed = await simpleParser(mail!.raw);
    expect(parsed.subject).toBe('You have a secure message from Calm Waters Counseling');
    const url = /https:\/\/attune\.calm\.example\/m\/([A-Za-z0-9_-]{43})/.exec(parsed.text ?? '');
    expect(url).not.toBeNull();
    expect(mail!.raw.toString('utf8')).not.toContain('sertraline');
    const status = await messageStatus(f.delivery.services, f.practiceId, r.id);
    expect(status?.recipients[0]).toMatchObject({
      method: 'link',
      status: 'sent',
      methodReason: 'patient key unusable: expired',
    });
    const links = await f.store.db.selectFrom('viewer_links').select(['message_id']).execute();
    expect(links).toEqual([{ message_id: r.id }]);
    const audit = await f.store.db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', 'delivery.fallback')
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.outcome).toBe('success');
    expect(JSON.parse(audit[0]!.details)).toMatchObject({ reason: 'expired', method: 'link' });
    expect(audit[0]!.details).not.toContain('expired@patient.example');
    expect(sink.received.filter(toClinician)).toHaveLength(0);
  });

  it('falls back to a link for a gpg key that expires between the send and its scheduled delivery', async () => {
    await fixture();
    const gpg = await GpgHome.create();
    try {
      const key = await gpg.generateKey('later@patient.example', 'future-default', '1d');
      await f.addPatient('later@patient.example', { publicKey: key.publicKey, fingerprint: key.fingerprint });
      const sendAt = new Date(Date.now() + 2 * 86_400_000).toISOString();
      const r = await send(f, { to: ['later@patient.example'], sendAt });
      expect(r.recipients[0]).toMatchObject({ method: 'pgp', status: 'scheduled' });
      f.clock.offsetMs = 2 * 86_400_000 + 60_000;
      await drain(f.delivery.worker);
      const [mail] = await sink.waitFor(1);
      expect(mail!.raw.toString('utf8')).not.toContain('multipart/encrypted');
      expect(mail!.raw.toString('utf8')).toContain('/m/');
      const status = await messageStatus(f.delivery.services, f.practiceId, r.id);
      expect(status?.recipients[0]).toMatchObject({
        method: 'link',
        status: 'sent',
        methodReason: 'patient key unusable: expired',
      });
    } finally {
      await gpg.dispose();
    }
  });

  it('fails the delivery with the reason, and tells the sender, when the policy does not allow a link instead', async () => {
    await fixture();
    await putPolicy(
      f.store.db,
      f.practiceId,
      PolicySchema.parse({ pgpFallbackToLink: false }),
      f.clinicianId,
    );
    await f.addPatient('strict@patient.example', { publicKey: await expiredKey('strict@patient.example') });
    const r = await send(f, { to: ['strict@patient.example'] });
    await drain(f.delivery.worker);
    const status = await messageStatus(f.delivery.services, f.practiceId, r.id);
    expect(status?.recipients[0]).toMatchObject({ method: 'pgp', status: 'failed' });
    expect(status?.recipients[0]?.lastError).toBe('patient_key_unusable');
    expect(await f.store.db.selectFrom('viewer_links').select('id').execute()).toEqual([]);
    await afterBurst(f);
    expect(sink.received.filter((m) => !toClinician(m))).toHaveLength(0);
    const notices = sink.received.filter(toClinician);
    expect(notices).toHaveLength(1);
    await expectPhiFree(notices[0]!, ['strict@patient.example']);
    const audit = await f.store.db
      .selectFrom('audit_events')
      .select(['outcome'])
      .where('action', '=', 'delivery.fallback')
      .execute();
    expect(audit).toEqual([{ outcome: 'failure' }]);
  });
});
