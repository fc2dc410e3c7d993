import type { MessageStatusResponse, RecipientStatus } from '@attune/shared/api';
import { appendAudit, AUDIT } from '../audit/index.ts';
import type { ExpressionBuilder } from 'kysely';
import { markUndelivered } from '../engagement/events-store.ts';
import { nowIso } from '../store/index.ts';
import type { Database } from '../store/schema.ts';
import { deliveryErrorText } from './admin.ts';
import { CLIENT_NOTICE_KIND } from './client-notice.ts';
import type { DeliveryServices } from './services.ts';

// GET /v1/messages/:id and POST /v1/messages/:id/revoke. Every lookup is scoped to the caller's
// practice: another practice's id is indistinguishable from an unknown one (404, ASVS 8.4.1).

/** The status a recipient sees, derived from the stored status and the message's state. */
export function effectiveStatus(
  stored: string,
  messageRevoked: boolean,
  expired: boolean,
  method: 'link' | 'pgp',
): RecipientStatus {
  if (stored === 'failed' || stored === 'revoked' || stored === 'expired') return stored;
  // A PGP message already delivered is in the patient's hands: revoking it cannot take it back. One
  // still 'queued' under a revoked message was being sent when the revoke came (revokeMessage
  // cancels every other): it may yet go out, and becomes 'sent' or 'revoked' when the worker knows.
  if (messageRevoked && !(method === 'pgp' && stored !== 'scheduled')) return 'revoked';
  if (expired && method === 'link') return 'expired';
  if (expired && (stored === 'queued' || stored === 'scheduled')) return 'expired';
  return stored as RecipientStatus;
}

export async function messageStatus(
  svc: Pick<DeliveryServices, 'db' | 'now'>,
  practiceId: string,
  messageId: string,
): Promise<MessageStatusResponse | null> {
  const m = await svc.db
    .selectFrom('messages')
    .select(['id', 'created_at', 'send_at', 'expires_at', 'revoked_at'])
    .where('id', '=', messageId)
    .where('practice_id', '=', practiceId)
    .executeTakeFirst();
  if (!m) return null;
  const deliveries = await svc.db
    .selectFrom('deliveries')
    .select([
      'email',
      'method',
      'status',
      'attempts',
      'last_error',
      'sent_at',
      'opened_at',
      'replied_at',
      'method_reason',
    ])
    .where('message_id', '=', m.id)
    .where('practice_id', '=', practiceId)
    .orderBy('created_at')
    .execute();
  const now = nowIso(svc.now());
  const expired = m.expires_at !== null && m.expires_at <= now;
  return {
    id: m.id,
    createdAt: m.created_at,
    sendAt: m.send_at,
    expiresAt: m.expires_at,
    revokedAt: m.revoked_at,
    recipients: deliveries.map((d) => ({
      email: d.email,
      method: d.method,
      status: effectiveStatus(d.status, m.revoked_at !== null, expired, d.method),
      attempts: d.attempts,
      // As the admins' listing shows it (admin.ts): a code with the SMTP reply code and enhanced
      // status. The stored text can quote the remote server, and through it an address or words
      // of the message; the sender's client shows this field as it is.
      lastError: deliveryErrorText(d.last_error),
      sentAt: d.sent_at,
      openedAt: d.opened_at,
      repliedAt: d.replied_at,
      ...(d.method_reason ? { methodReason: d.method_reason } : {}),
    })),
  };
}

/**
 * Revokes a message: its links stop working at once and unsent deliveries are cancelled. Idempotent:
 * revoking twice keeps the first time. Returns null for an id outside the practice.
 *
 * A PGP delivery the outbox worker holds (leased) may be on its way to the relay: it cannot be
 * cancelled, so it is not marked revoked. The answer shows it 'queued', not 'revoked' (too late to
 * stop), and the worker settles it: 'sent' if it went out, 'revoked' if its last check before the
 * send saw this revoke. The status never says 'revoked' for content the patient received.
 */
export async function revokeMessage(
  svc: Pick<DeliveryServices, 'db' | 'now'>,
  ctx: { practiceId: string; clinicianId: string; ip?: string | null; requestId?: string | null },
  messageId: string,
): Promise<MessageStatusResponse | null> {
  const found = await svc.db.transaction().execute(async (tx) => {
    const m = await tx
      .selectFrom('messages')
      .select(['id', 'revoked_at'])
      .where('id', '=', messageId)
      .where('practice_id', '=', ctx.practiceId)
      .executeTakeFirst();
    if (!m) return false;
    if (m.revoked_at) return true;
    const now = svc.now();
    const t = nowIso(now);
    await tx.updateTable('messages').set({ revoked_at: t }).where('id', '=', m.id).execute();
    await tx
      .updateTable('viewer_links')
      .set({ revoked_at: t })
      .where('message_id', '=', m.id)
      .where('revoked_at', 'is', null)
      .execute();
    // Same test of "in flight" as the outbox update below: a live lease on an unfinished row.
    const inFlight = (eb: ExpressionBuilder<Database, 'deliveries'>) =>
      eb.exists(
        eb
          .selectFrom('outbox')
          .select('outbox.id')
          .whereRef('outbox.delivery_id', '=', 'deliveries.id')
          .where('outbox.kind', '=', 'delivery')
          .where('outbox.done_at', 'is', null)
          .where('outbox.claimed_until', '>=', t),
      );
    await tx
      .updateTable('deliveries')
      .set({ status: 'revoked', updated_at: t })
      .where('message_id', '=', m.id)
      .where((eb) =>
        eb.or([
          eb('method', '=', 'link'),
          eb.and([eb('status', 'in', ['queued', 'scheduled']), eb.not(inFlight(eb))]),
        ]),
      )
      .where('status', 'not in', ['failed'])
      .execute();
    // Unsent rows are finished here; the worker also re-checks revocation before sending.
    const deliveryIds = tx.selectFrom('deliveries').select('id').where('message_id', '=', m.id);
    await tx
      .updateTable('outbox')
      .set({ done_at: t, last_error: 'revoked', payload: null })
      .where('delivery_id', 'in', deliveryIds)
      .where('done_at', 'is', null)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', t)]))
      .execute();
    // A link handed to the client (delivery "client") kept its token sealed for idempotent
    // replays; the link is dead now, so the token goes too.
    await tx
      .updateTable('outbox')
      .set({ payload: null })
      .where('delivery_id', 'in', deliveryIds)
      .where('kind', '=', CLIENT_NOTICE_KIND)
      .execute();
    // A patient who never had the message has not left it unanswered: mark it undelivered for
    // them (a PGP message not yet handed over, a secure link not yet opened), in this transaction,
    // so no engagement read sees the revoke without it (engagement/events-store.ts). A PGP message
    // still in flight is not revoked here; the worker marks it if its last check stops it.
    const revoked = await tx.selectFrom('deliveries').select('id').where('message_id', '=', m.id).execute();
    await markUndelivered(
      tx,
      revoked.map((d) => d.id),
      'revoked',
      now,
    );
    await appendAudit(tx, {
      action: AUDIT.MESSAGE_REVOKE,
      outcome: 'success',
      actor: { type: 'clinician', id: ctx.clinicianId },
      practiceId: ctx.practiceId,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      target: { type: 'message', id: m.id },
    });
    return true;
  });
  if (!found) return null;
  return messageStatus(svc, ctx.practiceId, messageId);
}
