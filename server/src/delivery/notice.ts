import type { MessageNoticeResponse } from '@attune/shared/api';
import { appendAudit, AUDIT } from '../audit/index.ts';
import { getPolicy, nowIso } from '../store/index.ts';
import { replayClientNotice } from './client-notice.ts';
import { draftNotice } from './mime.ts';
import { mailIdentity, type DeliveryServices } from './services.ts';
import { effectiveStatus } from './status.ts';

// POST /v1/messages/:id/notice: a send's notice, again. After a lost answer the add-in asks the
// clinician whether to keep the earlier version; if that version was client-delivered (the draft
// was to be the single patient's notice, and the server emails nothing), its notice never reached
// a draft, so "keep it" without it leaves the patient with no link at all. The add-in puts this
// notice in the draft instead (Outlook: the send handler lets it go out; Gmail: the clinician sends
// the draft).
//
// Why the same link, not a new one: the link and reply tokens of a client-delivered notice are kept
// sealed under the master key on its client_notice outbox row (client-notice.ts), exactly so that a
// repeated request can be answered with the same notice. Re-issuing that notice keeps one link per
// recipient: whichever copy reaches the patient works, and no second credential is minted. A
// rotation would kill the first link if the lost answer had in fact reached a draft that was sent.
// The token is gone once the message is revoked (status.ts): then there is nothing to hand out.

export type NoticeResult =
  | { ok: true; response: MessageNoticeResponse }
  /** Not in the practice, or another clinician's message: the route answers 404 for both. */
  | { ok: false; reason: 'not_found' | 'other_clinician' | 'revoked' | 'expired' };

export async function messageNotice(
  svc: Pick<DeliveryServices, 'db' | 'config' | 'now' | 'masterKey'>,
  ctx: { practiceId: string; clinicianId: string; ip?: string | null; requestId?: string | null },
  messageId: string,
): Promise<NoticeResult> {
  const db = svc.db;
  const m = await db
    .selectFrom('messages')
    .select(['id', 'clinician_id', 'send_at', 'created_at', 'expires_at', 'revoked_at'])
    .where('id', '=', messageId)
    .where('practice_id', '=', ctx.practiceId)
    .executeTakeFirst();
  if (!m) return { ok: false, reason: 'not_found' };
  const audit = (outcome: 'success' | 'failure', details: Record<string, string | number>) =>
    appendAudit(db, {
      action: AUDIT.MESSAGE_NOTICE,
      outcome,
      actor: { type: 'clinician', id: ctx.clinicianId },
      practiceId: ctx.practiceId,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      target: { type: 'message', id: m.id },
      details,
    });
  if (m.clinician_id !== ctx.clinicianId) {
    // A notice can carry a patient's personal link: only the clinician who sent it gets it.
    await appendAudit(db, {
      action: AUDIT.AUTHZ_FAILURE,
      outcome: 'failure',
      actor: { type: 'clinician', id: ctx.clinicianId },
      practiceId: ctx.practiceId,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      target: { type: 'message', id: m.id },
      details: { reason: 'other_clinician' },
    });
    return { ok: false, reason: 'other_clinician' };
  }
  const now = nowIso(svc.now());
  if (m.revoked_at !== null) {
    await audit('failure', { reason: 'revoked' });
    return { ok: false, reason: 'revoked' };
  }
  if (m.expires_at !== null && m.expires_at <= now) {
    await audit('failure', { reason: 'expired' });
    return { ok: false, reason: 'expired' };
  }
  const deliveries = await db
    .selectFrom('deliveries')
    .select(['id', 'email', 'method', 'status'])
    .where('message_id', '=', m.id)
    .where('practice_id', '=', ctx.practiceId)
    .orderBy('created_at')
    .execute();
  const identity = await mailIdentity(svc, ctx.practiceId);
  const { policy } = await getPolicy(db, ctx.practiceId);
  const client = await replayClientNotice(svc, db, m.id, identity, policy.viewerSecondFactor);
  // A client-delivered notice whose token is gone (revoked in between) has no link to give.
  if (client && !client.notice) {
    await audit('failure', { reason: 'revoked' });
    return { ok: false, reason: 'revoked' };
  }
  await audit('success', { clientDelivered: client ? 1 : 0, recipients: deliveries.length });
  const scheduled = m.send_at !== null && m.send_at > m.created_at;
  return {
    ok: true,
    response: {
      id: m.id,
      recipients: deliveries.map((d) => ({
        email: d.email,
        method: d.method,
        status: effectiveStatus(d.status, false, false, d.method),
        delivery: d.id === client?.deliveryId ? ('client' as const) : ('server' as const),
      })),
      notice:
        client?.notice ??
        draftNotice({ practiceName: identity.practiceName, methods: deliveries.map((d) => d.method) }),
      ...(scheduled && m.send_at ? { sendAt: m.send_at } : {}),
    },
  };
}
