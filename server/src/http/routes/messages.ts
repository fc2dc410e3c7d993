import { IDEMPOTENCY_KEY_RULE, SendMessageRequestSchema } from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import {
  deliveryFor,
  messageNotice,
  messageStatus,
  revokeMessage,
  sendSecureMessage,
} from '../../delivery/index.ts';
import { requireClinician } from '../../identity/middleware.ts';
import { ApiError } from '../errors.ts';
import { notInPractice } from '../not-in-practice.ts';
import { careCaller, notInCare } from '../not-in-care.ts';
import { mayReadMessage } from '../../store/index.ts';
import { readJson } from '../validate.ts';
import type { AppDeps, RouteModule } from '../types.ts';
import type { Context } from 'hono';
import type { AppEnv } from '../types.ts';

// POST /v1/messages (secure send), GET /v1/messages/:id (status per recipient),
// POST /v1/messages/:id/revoke, POST /v1/messages/:id/notice. The work is the delivery module's; this file is the HTTP edge:
// strict validation, tenant scoping, error codes and audit of reads. Within the practice: status for
// the sender, admins and the care team of a recipient patient (store/care.ts); revoke for the sender
// and admins; the notice (it may carry a patient's link) for the sender only.

const ID = /^[0-9a-f-]{36}$/;
/** Idempotency-Key (IETF draft-ietf-httpapi-idempotency-key-header): a client-chosen retry key. */

function sameRecipients(a: string[], b: string[]): boolean {
  const norm = (xs: string[]) => [...new Set(xs.map((x) => x.trim().toLowerCase()))].sort().join('\n');
  return norm(a) === norm(b);
}

/** The signed-in clinician and the request, as the delivery module's operations take them. */
function callerOf(c: Context<AppEnv>) {
  const a = c.get('auth');
  return {
    practiceId: a.practiceId,
    clinicianId: a.clinicianId,
    ip: c.get('ip'),
    requestId: c.get('requestId'),
  };
}

function notFound(c: Context<AppEnv>, deps: AppDeps, id: string): Promise<never> {
  return notInPractice(c, deps.store.db, {
    table: 'messages',
    id,
    valid: ID.test(id),
    target: 'message',
    code: 'message_not_found',
    message: 'No message with that id in your practice.',
  });
}

/**
 * What the caller may do with a message of their practice (undefined: no such message there).
 * read: its status (the sender, an admin, the care team of a patient it went to, or everyone under
 * practice-wide access; store/care.ts). revoke: the sender or an admin only, whatever the policy.
 */
async function accessTo(
  c: Context<AppEnv>,
  deps: AppDeps,
  id: string,
): Promise<{ read: boolean; revoke: boolean } | undefined> {
  if (!ID.test(id)) return undefined;
  const { db } = deps.store;
  const caller = careCaller(c);
  const m = await db
    .selectFrom('messages')
    .select('clinician_id')
    .where('id', '=', id)
    .where('practice_id', '=', caller.practiceId)
    .executeTakeFirst();
  if (!m) return undefined;
  const revoke = m.clinician_id === caller.clinicianId || caller.role === 'admin';
  if (revoke) return { read: true, revoke };
  const patients = await db
    .selectFrom('deliveries')
    .select('patient_id')
    .where('message_id', '=', id)
    .where('practice_id', '=', caller.practiceId)
    .execute();
  const read = await mayReadMessage(db, caller, {
    senderId: m.clinician_id,
    patientIds: patients.map((p) => p.patient_id),
  });
  return { read, revoke };
}

const notInCareOf = (c: Context<AppEnv>, deps: AppDeps, id: string) =>
  notInCare(c, deps.store.db, {
    target: 'message',
    id,
    code: 'message_not_found',
    message: 'No message with that id in your practice.',
  });

export const messages: RouteModule = {
  mount(app, deps) {
    const auth = requireClinician(deps);
    const delivery = deliveryFor(deps);

    app.post('/v1/messages', auth, async function sendMessage(c) {
      const req = await readJson(c, SendMessageRequestSchema);
      const key = c.req.header('idempotency-key');
      if (key !== undefined && !IDEMPOTENCY_KEY_RULE.test(key)) {
        throw new ApiError(
          400,
          'bad_request',
          'Idempotency-Key must be 1 to 200 printable ASCII characters.',
        );
      }
      const r = await sendSecureMessage(
        delivery.services,
        { ...callerOf(c), idempotencyKey: key ?? null, channel: 'api' },
        req,
      );
      if (!r.ok) {
        switch (r.code) {
          case 'blocked_by_policy':
            // The reasons name finding types and rules, never the text found (policy/decide.ts).
            throw new ApiError(
              422,
              'blocked_by_policy',
              r.reasons.length > 0 ? `${r.message} ${r.reasons.join(' ')}` : r.message,
            );
          case 'payload_too_large':
            throw new ApiError(413, 'payload_too_large', r.message);
          case 'validation_failed':
            throw new ApiError(400, 'validation_failed', r.message);
          case 'idempotency_conflict':
            // The id (never PHI) lets the add-in tell the clinician an earlier version went out and
            // offer to revoke it; the code stays `conflict` for clients that know only that.
            throw new ApiError(
              409,
              'conflict',
              r.message,
              {},
              r.messageId !== undefined ? { messageId: r.messageId } : {},
            );
        }
      }
      if (
        r.replayed &&
        !sameRecipients(
          r.response.recipients.map((x) => x.email),
          [...req.to, ...req.cc],
        )
      ) {
        // A key reused for another message must not answer 202 for a message that was never sent
        // (silent loss). Sends stored with a request hash are compared whole in sendSecureMessage;
        // rows from before that (no hash) only by their recipients, here.
        throw new ApiError(
          409,
          'conflict',
          'This Idempotency-Key was already used for a message to other recipients. Use a new key for a new message.',
        );
      }
      // A replay answers like the original (same id, same 202): the client cannot tell, and need not.
      return c.json(r.response, 202);
    });

    app.get('/v1/messages/:id', auth, async function getMessageStatus(c) {
      const id = c.req.param('id');
      const { practiceId } = c.get('auth');
      const access = await accessTo(c, deps, id);
      if (access && !access.read) return notInCareOf(c, deps, id);
      const status = access ? await messageStatus(delivery.services, practiceId, id) : null;
      if (!status) return notFound(c, deps, id);
      await appendAudit(deps.store.db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'message', id },
      });
      return c.json(status);
    });

    app.post('/v1/messages/:id/revoke', auth, async function revoke(c) {
      const id = c.req.param('id');
      const access = await accessTo(c, deps, id);
      if (access && !access.read) return notInCareOf(c, deps, id);
      if (access && !access.revoke) {
        // A care-team colleague sees the message's status but may not take it back from the patient.
        await appendAudit(deps.store.db, {
          ...auditContext(c),
          action: AUDIT.AUTHZ_FAILURE,
          outcome: 'failure',
          target: { type: 'message', id },
          details: { reason: 'other_clinician', operation: 'revoke' },
        });
        throw new ApiError(
          403,
          'forbidden',
          'Only the clinician who sent this message, or a practice administrator, can revoke it.',
        );
      }
      const status = access ? await revokeMessage(delivery.services, callerOf(c), id) : null;
      if (!status) return notFound(c, deps, id);
      return c.json(status);
    });

    // The notice of the caller's own message again (delivery/notice.ts): for "keep the earlier
    // version" after a lost answer. POST, not GET: it hands out a secure link (a credential), so it
    // is audited each time and never cached.
    app.post('/v1/messages/:id/notice', auth, async function reissueNotice(c) {
      const id = c.req.param('id');
      const r = ID.test(id) ? await messageNotice(delivery.services, callerOf(c), id) : null;
      if (!r || (!r.ok && r.reason === 'not_found')) return notFound(c, deps, id);
      if (!r.ok) {
        if (r.reason === 'revoked')
          throw new ApiError(
            409,
            'message_revoked',
            'This message was revoked: its secure link no longer works, so there is no notice to send.',
          );
        if (r.reason === 'expired')
          throw new ApiError(
            409,
            'message_expired',
            'This message has expired: its secure link no longer works, so there is no notice to send.',
          );
        // A colleague's message: the same 404 as an unknown id (audited in messageNotice).
        throw new ApiError(404, 'message_not_found', 'No message with that id in your practice.');
      }
      c.header('cache-control', 'no-store');
      return c.json(r.response);
    });
  },
};
