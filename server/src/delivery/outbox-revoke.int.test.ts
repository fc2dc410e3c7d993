import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageRequestSchema } from '@attune/shared/api';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { UNDELIVERED } from '../engagement/events-store.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { sendSecureMessage } from './send.ts';
import { messageStatus, revokeMessage } from './status.ts';
import { OutboxWorker } from './outbox.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { createDeliveryFixture, type DeliveryFixture } from './testing.ts';
import { smtpTransport, type MailTransport } from './transport.ts';

// A revoke that lands while the outbox worker is delivering, against a real SMTP server, on SQLite
// and (TEST_DATABASE_URL) PostgreSQL. A PGP delivery carries the content itself: once the relay has
// it, revoking cannot take it back, and the status must say 'sent', never 'revoked'. One not yet
// handed over must not go out.

const LEASE_MS = 3_000;
const PGP = 'pgp@patient.example';

describe.each(dialectsUnderTest())('revoke during delivery on %s', (dialect) => {
  let sink: SmtpSink;
  let gpg: GpgHome;
  let patientKey: { publicKey: string; fingerprint: string };
  let f: DeliveryFixture | undefined;
  beforeAll(async () => {
    sink = await startSmtpSink();
    gpg = await GpgHome.create();
    patientKey = await gpg.generateKey(PGP);
  });
  afterAll(async () => {
    await sink.close();
    await gpg.dispose();
  });
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
    sink.received.length = 0;
  });

  /** A fixture whose transport to the sink runs `before(label)` ahead of each send. */
  async function fixture(before: (label: string, fx: DeliveryFixture) => Promise<void>) {
    const inner = smtpTransport({ url: sink.url(), requireTls: true, pool: false });
    const late: { fx?: DeliveryFixture } = {};
    const transport: MailTransport = {
      kind: 'smtp',
      description: 'sink',
      send: async (mail, label) => {
        await before(label, late.fx!);
        return inner.send(mail, label);
      },
      close: () => inner.close(),
    };
    const fx = (f = late.fx = await createDeliveryFixture(dialect, { transport }));
    await fx.addPatient(PGP, patientKey);
    return fx;
  }

  async function send(fx: DeliveryFixture, to: string): Promise<string> {
    const r = await sendSecureMessage(
      fx.delivery.services,
      { practiceId: fx.practiceId, clinicianId: fx.clinicianId },
      SendMessageRequestSchema.parse({ to: [to], subject: 'Follow-up', text: 'Continue sertraline 50 mg.' }),
    );
    if (!r.ok) throw new Error(r.code);
    expect(r.response.recipients[0]?.method).toBe(to === PGP ? 'pgp' : 'link');
    return r.response.id;
  }

  const worker = (fx: DeliveryFixture) =>
    new OutboxWorker(fx.delivery.services, { workerId: 'w1', concurrency: 1, leaseMs: LEASE_MS });

  const ctx = (fx: DeliveryFixture) => ({ practiceId: fx.practiceId, clinicianId: fx.clinicianId });

  /** Reasons of the `undelivered` engagement rows of a message (engagement/events-store.ts). */
  const undelivered = async (fx: DeliveryFixture, messageId: string) =>
    (
      await fx.store.db
        .selectFrom('engagement_events')
        .select('data')
        .where('message_id', '=', messageId)
        .where('type', '=', UNDELIVERED)
        .execute()
    ).map((r) => (JSON.parse(r.data) as { reason: string }).reason);

  it('does not send a PGP message revoked while an earlier row of its batch is being sent', async () => {
    const answers: (string | undefined)[] = [];
    const state: { target?: string } = {};
    const fx = await fixture(async (label, fx) => {
      if (label !== 'notice' || !state.target) return;
      const r = await revokeMessage(fx.delivery.services, ctx(fx), state.target);
      answers.push(r?.recipients[0]?.status);
    });
    await send(fx, 'link@patient.example');
    fx.clock.offsetMs += 1_000; // the link notice comes first in the batch
    state.target = await send(fx, PGP);

    expect(await worker(fx).runOnce()).toBe(2);
    // The worker held the row when the revoke came: it could not promise a cancel ('queued'), and
    // its check right before the send then saw the revoke.
    expect(answers).toEqual(['queued']);
    expect(sink.received.map((m) => m.to[0])).toEqual(['link@patient.example']);
    const st = await messageStatus(fx.delivery.services, fx.practiceId, state.target);
    expect(st?.recipients[0]).toMatchObject({ status: 'revoked', sentAt: null });
    // Never received: marked so for the patient's engagement (it waits for no answer).
    expect(await undelivered(fx, state.target)).toEqual(['revoked']);
  });

  it('answers a revoke during the PGP send with the delivery still on its way, then reports it sent', async () => {
    const answers: (string | undefined)[] = [];
    const state: { target?: string } = {};
    const fx = await fixture(async (label, fx) => {
      if (label !== 'pgp') return;
      const r = await revokeMessage(fx.delivery.services, ctx(fx), state.target!);
      answers.push(r?.recipients[0]?.status);
    });
    state.target = await send(fx, PGP);

    expect(await worker(fx).runOnce()).toBe(1);
    // Too late to stop: the revoke does not claim it cancelled the delivery.
    expect(answers).toEqual(['queued']);
    expect(sink.received.map((m) => m.to[0])).toEqual([PGP]);
    expect(sink.received[0]!.raw.toString('latin1')).toContain('multipart/encrypted');
    const st = await messageStatus(fx.delivery.services, fx.practiceId, state.target);
    expect(st?.revokedAt).not.toBeNull();
    expect(st?.recipients[0]?.status).toBe('sent');
    expect(st?.recipients[0]?.sentAt).not.toBeNull();
  });

  it('reports a PGP message sent when a revoke during its send found the lease run out', async () => {
    const state: { target?: string } = {};
    const fx = await fixture(async (label, fx) => {
      if (label !== 'pgp') return;
      // The send outlasts its lease; the revoke then takes the row for unsent and finishes it.
      fx.clock.offsetMs += LEASE_MS + 1_000;
      await revokeMessage(fx.delivery.services, ctx(fx), state.target!);
    });
    state.target = await send(fx, PGP);

    expect(await worker(fx).runOnce()).toBe(1);
    expect(sink.received.map((m) => m.to[0])).toEqual([PGP]);
    const st = await messageStatus(fx.delivery.services, fx.practiceId, state.target);
    expect(st?.recipients[0]?.status).toBe('sent');
    expect(st?.recipients[0]?.sentAt).not.toBeNull();
    // The revoke took it for never received; it went out, so the patient's engagement counts it.
    expect(await undelivered(fx, state.target)).toEqual([]);
  });
});
