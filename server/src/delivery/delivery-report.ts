import { appendAudit, AUDIT } from '../audit/index.ts';
import { markUndelivered } from '../engagement/events-store.ts';
import { newId, nowIso, type Tx } from '../store/index.ts';
import { FAILURE_NOTICE_WINDOW_MS, queueFailureNotice, queueRelayFailureNotice } from './failure-notice.ts';
import { GATEWAY_MAIL_KIND } from './gateway-mail.ts';
import type { DeliveryServices } from './services.ts';
import { redactAddresses } from './transport.ts';

// A delivery status notification (RFC 3464) that came back to a delivery's return path (VERP,
// verp.ts) through the gateway: the recipient's server, after our relay took the message, could
// not deliver it (failed, 5.x.x: terminal) or has not yet (delayed, 4.x.x: recorded, not terminal).
// The gateway has checked the return path's MAC before calling this; the report carries status
// codes and the diagnostic only, never content, and the diagnostic loses any address here.

export interface DeliveryReportInput {
  deliveryId: string;
  /**
   * The send the report is about: the generation its return path names (verp.ts); 0 when absent
   * (the first send, and every return path issued before generations).
   */
  generation?: number;
  /**
   * unknown: mail to the return path that is no RFC 3464 report (a legacy MTA's bounce in free
   * text): recorded so an admin sees something came back, nothing else changes. auto_reply: an
   * out-of-office or other automatic reply (gateway/auto-reply.ts), recorded the same way: the
   * patient's mailbox took the message in, so it is never a failure.
   */
  action: 'failed' | 'delayed' | 'unknown' | 'auto_reply';
  /** RFC 3463 enhanced status code, e.g. 5.1.1 (the action itself for unknown and auto_reply). */
  status: string;
  /** The remote server's diagnostic text, as received. */
  diagnostic: string | null;
  receivedAt: Date;
}

/** Action and status of a report that is no RFC 3464 report (see DeliveryReportInput). */
export const UNKNOWN = 'unknown' as const;
/** Action and status of an automatic reply to the return path (see DeliveryReportInput). */
export const AUTO_REPLY = 'auto_reply' as const;

export type DeliveryReportResult =
  /**
   * messageId: the Attune message, null for a relayed message's copy (gateway-mail.ts). stale: about
   * an earlier send than the delivery's current one (a retry went out since): recorded, no effect.
   */
  | { ok: true; outcome: 'failed' | 'delayed' | 'recorded' | 'stale'; messageId: string | null }
  | { ok: false; reason: 'unknown_delivery' };

/** Printable ASCII, addresses removed, at most 200 characters. */
export function cleanDiagnostic(s: string | null): string | null {
  if (!s) return null;
  const clean = redactAddresses(s.replace(/[^\x20-\x7e]+/g, ' '))
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
  return clean || null;
}

export async function recordDeliveryReport(
  svc: Pick<DeliveryServices, 'commit' | 'now' | 'kick'>,
  input: DeliveryReportInput,
  opts: { failureNoticeDelayMs?: number } = {},
): Promise<DeliveryReportResult> {
  // No report of a status (a free-text bounce, an auto-reply): recorded as what it is, nothing else.
  const unknown = input.action === UNKNOWN || input.action === AUTO_REPLY;
  const status = unknown
    ? input.action
    : /^[245]\.\d{1,3}\.\d{1,3}$/.test(input.status)
      ? input.status
      : input.action === 'failed'
        ? '5.0.0'
        : '4.0.0';
  // Of free text nothing is kept: it may quote the message or the patient.
  const diagnostic = unknown ? null : cleanDiagnostic(input.diagnostic);
  const terminal = input.action === 'failed' && status.startsWith('5.');
  const action = unknown ? input.action : terminal ? 'failed' : 'delayed';
  const said = `${status}${diagnostic ? ` ${diagnostic}` : ''}`;
  const generation = input.generation ?? 0;
  const result = await svc.commit(async (tx): Promise<DeliveryReportResult> => {
    const d = await tx
      .selectFrom('deliveries')
      .select(['id', 'practice_id', 'message_id', 'status', 'send_generation'])
      .where('id', '=', input.deliveryId)
      .executeTakeFirst();
    // A relayed message's copy is sent once, as generation 0: no other return path names one.
    if (!d)
      return generation !== 0
        ? { ok: false, reason: 'unknown_delivery' }
        : recordCopyReport(tx, svc.now(), input, {
            terminal,
            action,
            status,
            said,
            delayMs: opts.failureNoticeDelayMs ?? FAILURE_NOTICE_WINDOW_MS,
          });
    const now = svc.now();
    const t = nowIso(now);
    // A report about an earlier send than the current one (the delivery was queued again and the
    // new send went out: admin.ts retryDelivery) says nothing about the current one: recorded, so
    // an admin sees it came, and nothing else. Taken as a report on the current send, a late
    // bounce showed a delivery that went out as undelivered and invited a retry: a duplicate.
    const stale = generation !== Number(d.send_generation);
    await tx
      .insertInto('delivery_reports')
      .values({
        id: newId(),
        practice_id: d.practice_id,
        delivery_id: d.id,
        received_at: nowIso(input.receivedAt),
        action,
        status,
        diagnostic,
        generation,
        stale: stale ? 1 : 0,
      })
      .execute();
    let outcome: 'failed' | 'delayed' | 'recorded' | 'stale' = stale ? 'stale' : 'recorded';
    if (!stale && terminal) {
      // Only a delivery our relay took: one the patient opened or answered did reach them (a
      // bounce from a forwarding address changes nothing), and one already failed stays as it is.
      const marked = await tx
        .updateTable('deliveries')
        .set({
          status: 'failed',
          last_error: `the recipient's mail server returned it: ${said}`.slice(0, 500),
          updated_at: t,
        })
        .where('id', '=', d.id)
        .where('status', '=', 'sent')
        .executeTakeFirst();
      if (Number(marked.numUpdatedRows) > 0) {
        outcome = 'failed';
        await markUndelivered(tx, [d.id], 'failed', now);
        await queueFailureNotice(
          tx,
          { practiceId: d.practice_id, messageId: d.message_id },
          now,
          opts.failureNoticeDelayMs ?? FAILURE_NOTICE_WINDOW_MS,
        );
      }
    } else if (!stale && !unknown && d.status === 'sent') {
      // Not terminal: the status stays sent, and the sender sees the remote server's word.
      outcome = 'delayed';
      await tx
        .updateTable('deliveries')
        .set({ last_error: `delayed by the recipient's mail server: ${said}`.slice(0, 500), updated_at: t })
        .where('id', '=', d.id)
        .execute();
    }
    await appendAudit(tx, {
      action: AUDIT.DELIVERY_REPORT,
      outcome: terminal && !stale ? 'failure' : 'success',
      actor: { type: 'system', id: 'gateway' },
      practiceId: d.practice_id,
      target: { type: 'delivery', id: d.id },
      details: { messageId: d.message_id, action, status, generation, applied: outcome },
    });
    return { ok: true, outcome, messageId: d.message_id };
  });
  if (result.ok && result.outcome === 'failed') svc.kick();
  return result;
}

/**
 * A report to the return path of a relayed message's retry copy (gateway-mail.ts), which has no
 * delivery row: a 5.x.x one fails the copy for good (once: the row keeps the remote server's word)
 * and tells the original's sender (queueRelayFailureNotice: one notice per relayed message per
 * burst); a delay changes nothing.
 * Audited by reference and status code; no delivery_reports row (that table names deliveries).
 */
async function recordCopyReport(
  tx: Tx,
  now: Date,
  input: DeliveryReportInput,
  r: { terminal: boolean; action: string; status: string; said: string; delayMs: number },
): Promise<DeliveryReportResult> {
  const copy = await tx
    .selectFrom('outbox')
    .select(['id', 'practice_id', 'payload_ref'])
    .where('id', '=', input.deliveryId)
    .where('kind', '=', GATEWAY_MAIL_KIND)
    .executeTakeFirst();
  if (!copy) return { ok: false, reason: 'unknown_delivery' };
  let outcome: 'failed' | 'recorded' = 'recorded';
  if (r.terminal) {
    const marked = await tx
      .updateTable('outbox')
      .set({
        permanent_failure: 1,
        last_error: `the recipient's mail server returned it: ${r.said}`.slice(0, 500),
      })
      .where('id', '=', copy.id)
      .where('done_at', 'is not', null)
      .where('permanent_failure', '=', 0)
      .executeTakeFirst();
    if (Number(marked.numUpdatedRows) > 0) {
      outcome = 'failed';
      await queueRelayFailureNotice(
        tx,
        { id: copy.id, practiceId: copy.practice_id, ref: copy.payload_ref },
        now,
        r.delayMs,
      );
    }
  }
  await appendAudit(tx, {
    action: AUDIT.DELIVERY_REPORT,
    outcome: r.terminal ? 'failure' : 'success',
    actor: { type: 'system', id: 'gateway' },
    practiceId: copy.practice_id,
    target: { type: 'relayed_copy', id: copy.id },
    details: { action: r.action, status: r.status, applied: outcome },
  });
  return { ok: true, outcome, messageId: null };
}
