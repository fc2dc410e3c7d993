import type { Context } from 'hono';
import {
  DeliveryListQuerySchema,
  DeliveryListResponseSchema,
  DeliverySummarySchema,
} from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { decodeCursor, listDeliveries, retryDelivery } from '../../delivery/admin.ts';
import { deliveryFor } from '../../delivery/index.ts';
import { requireAdmin } from '../../identity/middleware.ts';
import { ApiError } from '../errors.ts';
import { notInPractice } from '../not-in-practice.ts';
import { errors, json, pathParam, queryParams, secured } from '../openapi-schema.ts';
import { validate } from '../validate.ts';
import type { AppEnv, RouteModule } from '../types.ts';

const ID = /^[0-9a-f-]{36}$/;

/**
 * Delivery outcomes for practice admins (delivery/admin.ts):
 *  GET  /v1/deliveries?status=&messageId=&since=&limit=&cursor=   the practice's deliveries, newest first
 *  POST /v1/deliveries/:id/retry                                   queue a failed (or bounced) one again
 * References only (delivery, message and patient ids; error and report codes), never an address, a
 * subject or a remote server's words. The listing ties patients to messages of a mental-health
 * practice, which is PHI itself: audited as phi.read with the patient ids of the page, as the
 * caseload is. Another practice's delivery is a 404 like an unknown one (audited).
 */
export const deliveries: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    const admin = requireAdmin(deps);
    const now = deps.now ?? (() => new Date());

    app.get('/v1/deliveries', admin, async function listPracticeDeliveries(c) {
      const q = validate(DeliveryListQuerySchema, c.req.query());
      if (q.cursor !== undefined && !decodeCursor(q.cursor))
        throw new ApiError(400, 'validation_failed', 'cursor: not a cursor this API gave out.');
      const { practiceId } = c.get('auth');
      const page = await listDeliveries(
        db,
        practiceId,
        {
          statuses: q.status,
          messageId: q.messageId,
          since: q.since ? new Date(q.since) : undefined,
          limit: q.limit,
          cursor: q.cursor,
        },
        now(),
      );
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'deliveries', id: practiceId },
        details: {
          view: 'deliveries',
          count: page.items.length,
          addresses: false,
          patients: [...new Set(page.items.flatMap((i) => (i.patientId ? [i.patientId] : [])))].join(','),
        },
      });
      c.header('Cache-Control', 'no-store');
      return c.json({ items: page.items, nextCursor: page.nextCursor });
    });

    app.post('/v1/deliveries/:id/retry', admin, async function retry(c: Context<AppEnv>) {
      const id = c.req.param('id') ?? '';
      const { practiceId, clinicianId } = c.get('auth');
      const delivery = deliveryFor(deps);
      const r = ID.test(id)
        ? await retryDelivery(
            { db, masterKey: delivery.services.masterKey, now },
            {
              practiceId,
              actor: { type: 'clinician', id: clinicianId },
              ip: c.get('ip'),
              requestId: c.get('requestId'),
            },
            id,
          )
        : ({ ok: false, reason: 'not_found' } as const);
      if (!r.ok) {
        switch (r.reason) {
          case 'not_found':
            return notInPractice(c, db, {
              table: 'deliveries',
              id,
              valid: ID.test(id),
              target: 'delivery',
              code: 'delivery_not_found',
              message: 'No delivery with that id in your practice.',
            });
          case 'message_revoked':
            throw new ApiError(
              409,
              'message_revoked',
              'This message was revoked: its deliveries cannot be sent again.',
            );
          case 'message_expired':
            throw new ApiError(
              409,
              'message_expired',
              'This message has expired: its secure link no longer works, so it cannot be sent again. Ask the clinician to send a new message.',
            );
          case 'in_flight':
            throw new ApiError(409, 'conflict', 'This delivery is being sent right now.');
          case 'retry_limit':
            throw new ApiError(
              409,
              'delivery_retry_limit',
              'This delivery was sent again as often as it can be. Ask the clinician to send a new message.',
            );
          case 'not_failed':
            throw new ApiError(
              409,
              'delivery_not_failed',
              `Only a failed or bounced delivery can be sent again; this one is ${r.status ?? 'not failed'}.`,
            );
        }
      }
      // The worker takes it at once (and any other server's worker at its next poll).
      delivery.services.kick();
      c.header('Cache-Control', 'no-store');
      return c.json(r.delivery);
    });
  },
  openapi: openapiPaths(),
};

function openapiPaths(): Record<string, unknown> {
  const adminOnly: [number, string] = [403, 'forbidden: practice admins only'];
  return {
    '/v1/deliveries': {
      get: {
        summary:
          "Your practice's deliveries, newest first: per recipient the message and patient ids, method, status (scheduled, queued, retrying, sent, opened, replied, failed, bounced, revoked, expired), attempts, next attempt, the last error as a code, and the patient's mail server's reports; never an address or subject (practice admins; audited as phi.read)",
        security: secured,
        parameters: queryParams(DeliveryListQuerySchema),
        responses: {
          '200': {
            description: 'One page of deliveries',
            content: json(DeliveryListResponseSchema, 'output'),
          },
          ...errors(
            [
              400,
              'validation_failed: an unknown status, a malformed messageId, since or cursor, limit out of range, or an unknown query parameter',
            ],
            401,
            adminOnly,
            429,
          ),
        },
      },
    },
    '/v1/deliveries/{id}/retry': {
      post: {
        summary:
          'Queue a failed or bounced delivery again, with a fresh attempt budget, once the cause is fixed (the relay, the address); a secure link gets a new link, the old one stops working (practice admins; audited as delivery.retry)',
        security: secured,
        parameters: [pathParam('id', 'Delivery id (from GET /v1/deliveries)')],
        responses: {
          '200': {
            description: 'The delivery, queued again',
            content: json(DeliverySummarySchema, 'output'),
          },
          ...errors(
            401,
            adminOnly,
            [404, 'delivery_not_found (also for a delivery of another practice, audited)'],
            [
              409,
              'delivery_not_failed: it is queued, on its way, went out, or was stopped; message_revoked; message_expired; delivery_retry_limit: sent again as often as it can be; conflict: it is being sent right now',
            ],
            429,
          ),
        },
      },
    },
  };
}
