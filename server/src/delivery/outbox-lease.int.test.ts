import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageRequestSchema } from '@attune/shared/api';
import { dialectsUnderTest } from '../store/testing.ts';
import { sendSecureMessage } from './send.ts';
import { messageStatus } from './status.ts';
import { OutboxWorker } from './outbox.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { createDeliveryFixture, type DeliveryFixture } from './testing.ts';
import { smtpTransport, type MailTransport } from './transport.ts';

// Leases and slow relays, against a real SMTP server, on SQLite and (TEST_DATABASE_URL) PostgreSQL.
// Without a crash, a batch that outlasts its lease must not be sent twice: "a 2xx means durable; at
// most one duplicate, only after a crash". Time is the fixture's clock, moved by the test, so
// nothing here depends on how fast the machine is.

const LEASE_MS = 3_000;

describe.each(dialectsUnderTest())('outbox leases on %s', (dialect) => {
  let sink: SmtpSink;
  let f: DeliveryFixture | undefined;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
    sink.received.length = 0;
  });

  /** A transport to the sink that runs `before` ahead of each send (the hook decides what to do). */
  function hooked(before: (n: number) => Promise<void>): MailTransport {
    const inner = smtpTransport({ url: sink.url(), requireTls: true, pool: false });
    let n = 0;
    return {
      kind: 'smtp',
      description: 'sink',
      send: async (mail, label) => {
        await before(++n);
        return inner.send(mail, label);
      },
      close: () => inner.close(),
    };
  }

  async function queue(fx: DeliveryFixture, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = await sendSecureMessage(
        fx.delivery.services,
        { practiceId: fx.practiceId, clinicianId: fx.clinicianId },
        SendMessageRequestSchema.parse({
          to: [`p${i}@patient.example`],
          subject: 'Follow-up',
          text: 'Continue sertraline 50 mg.',
        }),
      );
      if (!r.ok) throw new Error(r.code);
      ids.push(r.response.id);
    }
    return ids;
  }

  function messageIds(): string[] {
    return sink.received.map((m) => /^message-id:\s*(\S+)/im.exec(m.raw.toString('latin1'))?.[1] ?? '');
  }

  it('does not send twice when a batch outlasts its lease and another worker claims the rest', async () => {
    const late: { fx?: DeliveryFixture; b?: OutboxWorker } = {};
    let bRuns = 0;
    // Worker A's relay is slow: by the end of its first send the batch's lease has run out. If A went
    // on to send a second row, worker B (another server) polls meanwhile and claims what it finds.
    const slow = hooked(async (n) => {
      if (n === 1) late.fx!.clock.offsetMs += LEASE_MS + 1_000;
      if (n === 2) bRuns += await late.b!.runOnce();
    });
    const fx = (f = late.fx = await createDeliveryFixture(dialect, { transport: slow }));
    const ids = await queue(fx, 6);
    const a = new OutboxWorker(fx.delivery.services, { workerId: 'A', concurrency: 1, leaseMs: LEASE_MS });
    const b = (late.b = new OutboxWorker(
      {
        ...fx.delivery.services,
        transport: smtpTransport({ url: sink.url(), requireTls: true, pool: false }),
      },
      { workerId: 'B', concurrency: 1, leaseMs: LEASE_MS },
    ));
    expect(await a.runOnce()).toBe(6);
    // B's regular poll after A's batch, if it did not come during it.
    if (bRuns === 0) bRuns += await b.runOnce();
    expect(bRuns).toBe(5);

    const sent = messageIds();
    expect(sent).toHaveLength(6);
    expect(new Set(sent).size).toBe(6);
    for (const id of ids) {
      const st = await messageStatus(fx.delivery.services, fx.practiceId, id);
      expect(st?.recipients[0]?.status).toBe('sent');
    }
    const open = await fx.store.db.selectFrom('outbox').select('id').where('done_at', 'is', null).execute();
    expect(open).toEqual([]);
  });

  it('renews the lease of a batch while a slow send is in progress, so no other worker takes it', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let blocked = false;
    const slow = hooked(async (n) => {
      if (n !== 1) return;
      blocked = true;
      await released;
    });
    const fx = (f = await createDeliveryFixture(dialect, { transport: slow }));
    await queue(fx, 2);
    const a = new OutboxWorker(fx.delivery.services, { workerId: 'A', concurrency: 1, leaseMs: LEASE_MS });
    const b = new OutboxWorker(fx.delivery.services, { workerId: 'B', concurrency: 1, leaseMs: LEASE_MS });
    const running = a.runOnce();
    try {
      const leases = () => fx.store.db.selectFrom('outbox').select(['claimed_until']).execute();
      while (!blocked) await new Promise((r) => setTimeout(r, 10));
      const first = (await leases()).map((r) => r.claimed_until!).sort()[1]!;
      // Wait until the heartbeat (every third of a lease) has renewed both rows past their claim;
      // the bound is many heartbeats long, there only to fail with a message instead of hanging.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const now = await leases();
        if (now.every((r) => r.claimed_until! > first)) break;
        if (Date.now() > deadline) throw new Error('the lease of the batch in hand was never renewed');
        await new Promise((r) => setTimeout(r, 50));
      }
      // The first lease has run out; the renewed one has not: B finds nothing to claim.
      fx.clock.offsetMs += Date.parse(first) - fx.delivery.services.now().getTime() + 1;
      expect(await b.runOnce()).toBe(0);
    } finally {
      release();
    }
    expect(await running).toBe(2);
    const sent = messageIds();
    expect(sent).toHaveLength(2);
    expect(new Set(sent).size).toBe(2);
  });
});
