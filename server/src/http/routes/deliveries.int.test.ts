// GET /v1/deliveries and POST /v1/deliveries/:id/retry: delivery outcomes for practice admins.
// Real app, real store (each dialect under test), the delivery worker driven by the test (the
// development mail folder as transport; delivery/admin.int.test.ts covers a real SMTP relay).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeliveryListResponseSchema,
  DeliverySummarySchema,
  ErrorBodySchema,
  SendMessageResponseSchema,
} from '@attune/shared/api';
import { AUDIT } from '../../audit/index.ts';
import { ddb } from '../../delivery/db.ts';
import { recordDeliveryReport } from '../../delivery/delivery-report.ts';
import { deliveryFor } from '../../delivery/index.ts';
import { MAX_GENERATION } from '../../delivery/verp.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';

const SUBJECT = 'Jordan Alvarez: PHQ-9 follow-up';
const BODY = 'Hi Jordan Alvarez, your PHQ-9 suggests moderate depression (F32.1).';

describe.each(dialectsUnderTest())(
  'GET /v1/deliveries and POST /v1/deliveries/:id/retry on %s',
  (dialect) => {
    let t: TestApp;
    let clinician: string;
    let admin: string;
    let adminB: string;
    /** Sent, bounced (then retried), and bounced with its message revoked. */
    let sent: string;
    let bounced: string;
    let revoked: string;

    const call = async (method: string, path: string, token: string) => {
      const res = await t.app.request(path, { method, headers: { authorization: `Bearer ${token}` } });
      return { res, requestId: res.headers.get('x-request-id') ?? '' };
    };
    const auditOf = (requestId: string) =>
      t.store.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).execute();
    const drain = async () => {
      const worker = deliveryFor(t.deps).worker;
      while ((await worker.runOnce()) > 0);
    };
    const send = async (to: string) => {
      const res = await t.app.request('/v1/messages', {
        method: 'POST',
        headers: { authorization: `Bearer ${clinician}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: [to], subject: SUBJECT, text: BODY }),
      });
      expect(res.status).toBe(202);
      return SendMessageResponseSchema.parse(await res.json()).id;
    };
    const deliveryOf = (messageId: string) =>
      t.store.db
        .selectFrom('deliveries')
        .select(['id', 'status'])
        .where('message_id', '=', messageId)
        .executeTakeFirstOrThrow();
    const bounce = async (messageId: string) => {
      const r = await recordDeliveryReport(deliveryFor(t.deps).services, {
        deliveryId: (await deliveryOf(messageId)).id,
        action: 'failed',
        status: '5.1.1',
        diagnostic: '550 5.1.1 user unknown',
        receivedAt: new Date(),
      });
      expect(r).toMatchObject({ ok: true, outcome: 'failed' });
    };
    const list = async (query = '', token = admin) => {
      const { res, requestId } = await call('GET', `/v1/deliveries${query}`, token);
      expect(res.status).toBe(200);
      return { body: DeliveryListResponseSchema.parse(await res.json()), res, requestId };
    };
    const error = async (res: Response) => ErrorBodySchema.parse(await res.json()).error;

    beforeAll(async () => {
      t = await createTestApp(dialect);
      clinician = await t.token('dr.a@a.example.org');
      admin = await t.token('boss@a.example.org', { admin: true });
      adminB = await t.token('boss@b.example.org', { admin: true });
      sent = await send('sent@patients.example');
      bounced = await send('bounced@patients.example');
      revoked = await send('revoked@patients.example');
      await drain();
      await bounce(bounced);
      await bounce(revoked);
      const r = await call('POST', `/v1/messages/${revoked}/revoke`, clinician);
      expect(r.res.status).toBe(200);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('lists the practice’s deliveries newest first, by reference only, audited as a PHI read', async () => {
      const { body, res, requestId } = await list();
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(body.items.map((d) => [d.messageId, d.status])).toEqual([
        // Refused for good before the revoke: it stays what it was (as GET /v1/messages/:id says).
        [revoked, 'bounced'],
        [bounced, 'bounced'],
        [sent, 'sent'],
      ]);
      expect(body.items[1]).toMatchObject({
        method: 'link',
        lastError: { code: 'bounced', enhancedStatus: '5.1.1' },
        reports: [{ action: 'failed', status: '5.1.1' }],
      });
      const text = JSON.stringify(body);
      for (const leak of ['@patients.example', 'Jordan', 'PHQ', 'user unknown'])
        expect(text).not.toContain(leak);
      const [row] = (await auditOf(requestId)).filter((a) => a.action === AUDIT.PHI_READ);
      expect(row).toMatchObject({ outcome: 'success', actor_type: 'clinician' });
      const details = JSON.parse(row?.details ?? '{}') as Record<string, unknown>;
      expect(details).toMatchObject({ view: 'deliveries', count: 3, addresses: false });
      for (const d of body.items) expect(String(details['patients'])).toContain(d.patientId ?? '-');
    });

    it('filters by status and message, and pages with a cursor', async () => {
      expect((await list('?status=bounced,failed')).body.items.map((d) => d.messageId)).toEqual([
        revoked,
        bounced,
      ]);
      expect((await list('?status=sent,opened')).body.items.map((d) => d.messageId)).toEqual([sent]);
      expect((await list(`?messageId=${sent}`)).body.items.map((d) => d.messageId)).toEqual([sent]);
      expect(
        (await list(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.items,
      ).toEqual([]);
      const first = await list('?limit=2');
      expect(first.body.items.map((d) => d.messageId)).toEqual([revoked, bounced]);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await list(`?limit=2&cursor=${encodeURIComponent(first.body.nextCursor ?? '')}`);
      expect(second.body.items.map((d) => d.messageId)).toEqual([sent]);
      expect(second.body.nextCursor).toBeNull();
    });

    it.each([
      ['?status=lost'],
      ['?status='],
      ['?limit=0'],
      ['?limit=501'],
      ['?messageId=not-an-id'],
      ['?since=yesterday'],
      ['?cursor=bm90LWEtY3Vyc29y'],
      [`?email=${encodeURIComponent('sent@patients.example')}`],
    ])('answers 400 validation_failed to %s, naming no input', async (query) => {
      const { res } = await call('GET', `/v1/deliveries${query}`, admin);
      expect(res.status).toBe(400);
      const e = await error(res);
      expect(e.code).toBe('validation_failed');
      expect(e.message).not.toContain('patients.example');
    });

    it('is for practice admins only: a clinician gets 403, audited', async () => {
      for (const [method, path] of [
        ['GET', '/v1/deliveries'],
        ['POST', `/v1/deliveries/${(await deliveryOf(bounced)).id}/retry`],
      ] as const) {
        const { res, requestId } = await call(method, path, clinician);
        expect(res.status).toBe(403);
        expect((await error(res)).code).toBe('forbidden');
        expect((await auditOf(requestId)).map((a) => [a.action, a.outcome])).toContainEqual([
          AUDIT.AUTHZ_FAILURE,
          'failure',
        ]);
      }
      expect((await deliveryOf(bounced)).status).toBe('failed');
    });

    it("keeps practices apart: another practice's admin lists none and gets 404 for a retry, audited", async () => {
      expect((await list('', adminB)).body.items).toEqual([]);
      const id = (await deliveryOf(bounced)).id;
      const { res, requestId } = await call('POST', `/v1/deliveries/${id}/retry`, adminB);
      expect(res.status).toBe(404);
      expect((await error(res)).code).toBe('delivery_not_found');
      const rows = await auditOf(requestId);
      expect(rows.find((a) => a.action === AUDIT.AUTHZ_FAILURE)).toMatchObject({
        target_id: id,
        details: expect.stringContaining('other_practice'),
      });
      expect((await deliveryOf(bounced)).status).toBe('failed');
      for (const other of ['00000000-0000-7000-8000-000000000000', 'nope']) {
        const r = await call('POST', `/v1/deliveries/${other}/retry`, admin);
        expect(r.res.status).toBe(404);
        expect((await error(r.res)).code).toBe('delivery_not_found');
      }
    });

    it('queues a bounced delivery again, sends it once, and refuses what is not failed or was revoked', async () => {
      const { id } = await deliveryOf(bounced);
      const { res, requestId } = await call('POST', `/v1/deliveries/${id}/retry`, admin);
      expect(res.status).toBe(200);
      expect(DeliverySummarySchema.parse(await res.json())).toMatchObject({
        id,
        messageId: bounced,
        status: 'queued',
        attempts: 0,
        lastError: null,
        reports: [{ action: 'failed', status: '5.1.1' }],
      });
      expect((await auditOf(requestId)).find((a) => a.action === AUDIT.DELIVERY_RETRY)).toMatchObject({
        outcome: 'success',
        target_id: id,
      });

      const again = await call('POST', `/v1/deliveries/${id}/retry`, admin);
      expect(again.res.status).toBe(409);
      expect(await error(again.res)).toMatchObject({ code: 'delivery_not_failed' });

      await drain();
      const attempts = await ddb(t.store.db)
        .selectFrom('delivery_attempts')
        .select('outcome')
        .where('delivery_id', '=', id)
        .orderBy('at')
        .execute();
      // The first send, then the retry: exactly one more.
      expect(attempts.map((a) => a.outcome)).toEqual(['sent', 'sent']);
      expect((await list(`?messageId=${bounced}`)).body.items[0]?.status).toBe('sent');

      const sentOne = await call('POST', `/v1/deliveries/${(await deliveryOf(sent)).id}/retry`, admin);
      expect(sentOne.res.status).toBe(409);
      const e = await error(sentOne.res);
      expect(e).toMatchObject({ code: 'delivery_not_failed' });
      expect(e.message).toContain('sent');

      const gone = await call('POST', `/v1/deliveries/${(await deliveryOf(revoked)).id}/retry`, admin);
      expect(gone.res.status).toBe(409);
      expect((await error(gone.res)).code).toBe('message_revoked');
      expect((await auditOf(gone.requestId)).find((a) => a.action === AUDIT.DELIVERY_RETRY)).toMatchObject({
        outcome: 'failure',
        details: expect.stringContaining('message_revoked'),
      });
    });

    it('answers 409 delivery_retry_limit for a delivery sent again as often as its return paths allow', async () => {
      const limited = await send('limited@patients.example');
      await drain();
      await bounce(limited);
      const { id } = await deliveryOf(limited);
      await t.store.db
        .updateTable('deliveries')
        .set({ send_generation: MAX_GENERATION })
        .where('id', '=', id)
        .execute();
      const { res, requestId } = await call('POST', `/v1/deliveries/${id}/retry`, admin);
      expect(res.status).toBe(409);
      expect(await error(res)).toMatchObject({ code: 'delivery_retry_limit' });
      expect((await auditOf(requestId)).find((a) => a.action === AUDIT.DELIVERY_RETRY)).toMatchObject({
        outcome: 'failure',
        details: expect.stringContaining('retry_limit'),
      });
      expect((await deliveryOf(limited)).status).toBe('failed');
    });

    it('documents both routes in the OpenAPI document', async () => {
      const doc = (await (await t.app.request('/openapi.json')).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(['/v1/deliveries', '/v1/deliveries/{id}/retry']),
      );
    });
  },
);
