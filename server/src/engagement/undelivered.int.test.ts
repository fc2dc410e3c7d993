import { afterEach, describe, expect, it } from 'vitest';
import { SendMessageRequestSchema, type SendMessageRequestInput } from '@attune/shared/api';
import { generateKey } from '../crypto/index.ts';
import { recordDeliveryReport } from '../delivery/delivery-report.ts';
import { recordFirstOpen } from '../delivery/opens.ts';
import { resolveLink } from '../delivery/reply.ts';
import { sendSecureMessage } from '../delivery/send.ts';
import { messageStatus, revokeMessage } from '../delivery/status.ts';
import { createDeliveryFixture, type DeliveryFixture } from '../delivery/testing.ts';
import type { MailTransport } from '../delivery/transport.ts';
import { migration as backfill } from '../store/migrations/0007-backfill-undelivered.ts';
import { migration as backfillBounced } from '../store/migrations/0012-backfill-bounced-pgp.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { EngagementEventCache } from './cache.ts';
import { practiceCaseload, patientEngagement } from './service.ts';

// A message that never reached a patient (revoked before it went out, or refused by the patient's
// mail server for good) is not a message the patient left unanswered: no "unanswered" alert, no
// triage points, no reply-rate denominator. One the patient had (opened, or a PGP message the relay
// took) still counts after a revoke. The sidebar and caseload read through the engagement cache,
// warmed before the revoke or failure, so a stale cache would still count the message.

const DAY = 86_400_000;
const BOUNCE = 'bounce@patient.example';
const LINK = /https:\/\/attune\.calm\.example\/m\/([A-Za-z0-9_-]{43})/;

describe.each(dialectsUnderTest())('messages that never reached the patient, on %s', (dialect) => {
  let f: DeliveryFixture | undefined;
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
  });

  /** Accepts every mail except those to BOUNCE, which the relay refuses for good (550). */
  const transport: MailTransport = {
    kind: 'smtp',
    description: 'test relay',
    send: (mail) =>
      Promise.resolve(
        mail.raw.includes(`To: ${BOUNCE}`)
          ? { ok: false, permanent: true, error: '550 5.1.1 mailbox unavailable' }
          : { ok: true, response: '250 ok' },
      ),
    close: () => Promise.resolve(),
  };

  async function fixture(): Promise<DeliveryFixture> {
    f = await createDeliveryFixture(dialect, { transport });
    return f;
  }

  async function send(fx: DeliveryFixture, input: Partial<SendMessageRequestInput> & { to: string[] }) {
    const r = await sendSecureMessage(
      fx.delivery.services,
      { practiceId: fx.practiceId, clinicianId: fx.clinicianId },
      SendMessageRequestSchema.parse({ subject: 'Follow-up', text: 'Continue sertraline 50 mg.', ...input }),
    );
    if (!r.ok) throw new Error(r.code);
    return r.response;
  }

  async function drain(fx: DeliveryFixture): Promise<void> {
    for (let i = 0; i < 10; i++) if ((await fx.delivery.worker.runOnce()) === 0) return;
  }

  const revoke = (fx: DeliveryFixture, id: string) =>
    revokeMessage(fx.delivery.services, { practiceId: fx.practiceId, clinicianId: fx.clinicianId }, id);

  /** The sidebar and the caseload row of `email`, `days` from now, through `cache`. */
  async function read(fx: DeliveryFixture, cache: EngagementEventCache, email: string, days: number) {
    const now = new Date(fx.delivery.services.now().getTime() + days * DAY);
    const patient = await fx.store.db
      .selectFrom('patients')
      .select(['id', 'email', 'name', 'time_zone'])
      .where('practice_id', '=', fx.practiceId)
      .where('email', '=', email)
      .executeTakeFirstOrThrow();
    const e = await patientEngagement(fx.store.db, fx.practiceId, patient, now, { cache });
    // Straight from the store (no cache), the same.
    const direct = await patientEngagement(fx.store.db, fx.practiceId, patient, now);
    expect(direct.data.messagesSent).toBe(e.data.messagesSent);
    const caseload = await practiceCaseload(fx.store.db, fx.practiceId, now, 1, 50, cache);
    const row = caseload.items.find((x) => x.patientId === patient.id);
    return {
      sent: e.data.messagesSent,
      alerts: e.alerts.map((a) => a.kind),
      replyRateN: e.replyRate.n,
      unansweredReason: row?.reasons.find((r) => r.includes('unanswered')) ?? null,
    };
  }

  it('does not count scheduled messages revoked before their hour as sent or unanswered, even once cached', async () => {
    const fx = await fixture();
    const later = new Date(fx.delivery.services.now().getTime() + 3_600_000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await send(fx, { to: ['sam@patient.example'], sendAt: later })).id);
    const cache = new EngagementEventCache();
    expect(await read(fx, cache, 'sam@patient.example', 4)).toMatchObject({
      sent: 3,
      alerts: ['unanswered'],
    });

    for (const id of ids) expect((await revoke(fx, id))?.recipients[0]?.status).toBe('revoked');
    fx.clock.offsetMs += 2 * 3_600_000;
    await drain(fx);
    expect(await read(fx, cache, 'sam@patient.example', 4)).toEqual({
      sent: 0,
      alerts: [],
      replyRateN: 0,
      unansweredReason: null,
    });
  });

  it('does not count messages the patient’s mail server refused for good, even once cached', async () => {
    const fx = await fixture();
    for (let i = 0; i < 3; i++) await send(fx, { to: [BOUNCE] });
    const cache = new EngagementEventCache();
    expect(await read(fx, cache, BOUNCE, 4)).toMatchObject({ sent: 3, alerts: ['unanswered'] });

    await drain(fx);
    const statuses = await fx.store.db.selectFrom('deliveries').select('status').execute();
    expect(statuses.map((s) => s.status)).toEqual(['failed', 'failed', 'failed']);
    expect(await read(fx, cache, BOUNCE, 4)).toEqual({
      sent: 0,
      alerts: [],
      replyRateN: 0,
      unansweredReason: null,
    });
  });

  it('does not count a PGP/MIME message the patient’s mail server bounced after the relay took it, as for a secure-link notice, even once cached', async () => {
    const fx = await fixture();
    const key = await generateKey({ name: 'Patient', email: 'pia@patient.example' });
    await fx.addPatient('pia@patient.example', { publicKey: key.publicKey, fingerprint: key.fingerprint });
    const sent: Record<string, string[]> = { 'pia@patient.example': [], 'una@patient.example': [] };
    for (let i = 0; i < 3; i++)
      for (const email of Object.keys(sent)) sent[email]!.push((await send(fx, { to: [email] })).id);
    await drain(fx);
    const cache = new EngagementEventCache();
    for (const email of Object.keys(sent))
      expect(await read(fx, cache, email, 4)).toMatchObject({ sent: 3, alerts: ['unanswered'] });
    const deliveries = await fx.store.db
      .selectFrom('deliveries')
      .select(['id', 'email', 'method', 'status'])
      .execute();
    expect(new Set(deliveries.map((d) => `${d.email} ${d.method} ${d.status}`))).toEqual(
      new Set(['pia@patient.example pgp sent', 'una@patient.example link sent']),
    );

    // Later, each recipient's server sends a 5.x.x report to the delivery's return path.
    for (const d of deliveries) {
      const r = await recordDeliveryReport(fx.delivery.services, {
        deliveryId: d.id,
        action: 'failed',
        status: '5.1.1',
        diagnostic: '550 5.1.1 user unknown',
        receivedAt: fx.delivery.services.now(),
      });
      expect(r).toMatchObject({ ok: true, outcome: 'failed' });
    }
    for (const [email, ids] of Object.entries(sent)) {
      for (const id of ids) {
        const status = await messageStatus(fx.delivery.services, fx.practiceId, id);
        expect(status?.recipients[0]?.status).toBe('failed');
        expect(status?.recipients[0]?.lastError).toBe('bounced 5.1.1');
      }
      expect(await read(fx, cache, email, 4)).toEqual({
        sent: 0,
        alerts: [],
        replyRateN: 0,
        unansweredReason: null,
      });
    }

    // A store where such bounces came in before the PGP ones were marked: migration 0012 marks
    // them (the same rows), and a rerun adds nothing.
    const marks = () =>
      fx.store.db
        .selectFrom('engagement_events')
        .select(['id', 'patient_id', 'message_id', 'data'])
        .where('type', '=', 'undelivered')
        .orderBy('id')
        .execute();
    const written = await marks();
    expect(written).toHaveLength(6);
    const pgpIds = deliveries.filter((d) => d.method === 'pgp').map((d) => `undelivered:${d.id}`);
    await fx.store.db.deleteFrom('engagement_events').where('id', 'in', pgpIds).execute();
    expect(await read(fx, new EngagementEventCache(), 'pia@patient.example', 4)).toMatchObject({ sent: 3 });
    await backfillBounced.up(fx.store.db, dialect);
    await backfillBounced.up(fx.store.db, dialect);
    expect(await marks()).toEqual(written);
    expect(await read(fx, new EngagementEventCache(), 'pia@patient.example', 4)).toMatchObject({ sent: 0 });
  });

  it('does not count a secure-link notice revoked before the patient opened it', async () => {
    const fx = await fixture();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await send(fx, { to: ['una@patient.example'] })).id);
    await drain(fx);
    const cache = new EngagementEventCache();
    expect(await read(fx, cache, 'una@patient.example', 4)).toMatchObject({ sent: 3 });
    for (const id of ids) await revoke(fx, id);
    // The link is dead: the patient can neither read the message nor answer it.
    expect(await read(fx, cache, 'una@patient.example', 4)).toMatchObject({ sent: 0, alerts: [] });
  });

  it('still counts messages revoked after the patient had them: opened links and delivered PGP mail', async () => {
    const fx = await fixture();
    const key = await generateKey({ name: 'Patient', email: 'pia@patient.example' });
    await fx.addPatient('pia@patient.example', { publicKey: key.publicKey, fingerprint: key.fingerprint });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await send(fx, { to: ['olive@patient.example'], delivery: 'client' });
      const link = await resolveLink(fx.delivery.services, LINK.exec(r.notice.text)![1]!);
      if (!link.ok) throw new Error(link.reason);
      await recordFirstOpen(fx.delivery.services, link, 'page_visible');
      ids.push(r.id);
      ids.push((await send(fx, { to: ['pia@patient.example'] })).id);
    }
    await drain(fx);
    const cache = new EngagementEventCache();
    for (const email of ['olive@patient.example', 'pia@patient.example'])
      expect(await read(fx, cache, email, 4)).toMatchObject({ sent: 3, alerts: ['unanswered'] });
    for (const id of ids) await revoke(fx, id);
    for (const email of ['olive@patient.example', 'pia@patient.example']) {
      const after = await read(fx, cache, email, 4);
      expect(after).toMatchObject({ sent: 3, alerts: ['unanswered'] });
      expect(after.unansweredReason).toContain('3 message(s) unanswered');
    }
  });

  it('migration 0007 marks the deliveries settled before the marks were written, and only those', async () => {
    const fx = await fixture();
    const later = new Date(fx.delivery.services.now().getTime() + 3_600_000).toISOString();
    const revokeLater: string[] = [];
    for (let i = 0; i < 3; i++) {
      revokeLater.push((await send(fx, { to: ['sam@patient.example'], sendAt: later })).id);
      revokeLater.push((await send(fx, { to: ['una@patient.example'] })).id);
      await send(fx, { to: [BOUNCE] });
      const opened = await send(fx, { to: ['olive@patient.example'], delivery: 'client' });
      const link = await resolveLink(fx.delivery.services, LINK.exec(opened.notice.text)![1]!);
      if (!link.ok) throw new Error(link.reason);
      await recordFirstOpen(fx.delivery.services, link, 'page_visible');
      revokeLater.push(opened.id);
    }
    await drain(fx);
    for (const id of revokeLater) await revoke(fx, id);
    const marks = () =>
      fx.store.db
        .selectFrom('engagement_events')
        .select(['id', 'patient_id', 'message_id', 'data'])
        .where('type', '=', 'undelivered')
        .orderBy('id')
        .execute();
    const written = await marks();
    expect(written).toHaveLength(9);
    // As a store from before the marks existed holds it: the same settled deliveries, no marks.
    await fx.store.db.deleteFrom('engagement_events').where('type', '=', 'undelivered').execute();
    for (const email of ['sam@patient.example', 'una@patient.example', BOUNCE])
      expect(await read(fx, new EngagementEventCache(), email, 4)).toMatchObject({
        sent: 3,
        alerts: ['unanswered'],
      });

    await backfill.up(fx.store.db, dialect);
    // The same rows the delivery module writes (ids, patients, messages, reasons): none for olive,
    // who opened hers before the revoke.
    expect(await marks()).toEqual(written);
    for (const email of ['sam@patient.example', 'una@patient.example', BOUNCE])
      expect(await read(fx, new EngagementEventCache(), email, 4)).toMatchObject({ sent: 0, alerts: [] });
    expect(await read(fx, new EngagementEventCache(), 'olive@patient.example', 4)).toMatchObject({
      sent: 3,
      alerts: ['unanswered'],
    });
    // Run again (or over a store that has the marks): nothing more.
    await backfill.up(fx.store.db, dialect);
    expect(await marks()).toEqual(written);
  });
});
