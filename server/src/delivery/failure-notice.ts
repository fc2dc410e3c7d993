import { nowIso, type Tx } from '../store/index.ts';
import type { OutboxTable } from '../store/schema.ts';
import { queuedOutboxRow } from './db.ts';
import { GATEWAY_MAIL_KIND, parseCopyRef } from './gateway-mail.ts';
import { deliveryFailureNotice, relayFailureNotice, type ComposedMail } from './mime.ts';
import { composeSimple } from './mime.ts';
import { mailIdentity, type DeliveryServices } from './services.ts';

// The PHI-free email that tells the sending clinician a delivery failed for good (a refusal by our
// relay, attempts used up, the patient's key unusable where links are not allowed, or a bounce
// from the recipient's server: delivery-report.ts). Queued in the outbox, in the transaction that
// marks the delivery failed, so it is as durable as the failure and retried like any notice.
//
// One per message per burst: the row's id names the message and a window of time, and a failure
// while an earlier row of the same message is still waiting to go joins it instead of adding one.
// The row waits `delayMs` before going, and counts the message's failed recipients when it is
// composed, so five recipients refused within the window make one email that says five.
// Its own failure is not reported (only 'delivery' rows queue a notice): no loop.
//
// The same for a message the gateway relayed: when the copies it queued for the recipients the next
// hop refused for now fail for good (gateway-mail.ts), its sender gets one notice per message per
// burst, the same way (the row's id names the relayed message and the window; it counts the
// message's failed copies when it is composed), never one per copy. A copy fails once (a copy that
// fails at our relay and is then reported by a bounce too is not failed again: delivery-report.ts),
// so it is never counted in two bursts' notices as new. Its own failure is not reported either: a
// notice about a notice is never sent.

/** Outbox kind of the failure notice; payload_ref is the message id. */
export const FAILURE_NOTICE_KIND = 'failure_notice';

/** The burst window; a notice never waits longer than this. */
export const FAILURE_NOTICE_WINDOW_MS = 60_000;

/**
 * Queues, in `tx`, the notice row `idOf(bucket)` of this window unless the previous window's is still
 * waiting (it will count this failure too when it is composed). On PostgreSQL two concurrent
 * failures in the same window meet on the row's primary key (one insert waits for the other and then
 * does nothing).
 */
async function queueBurstNotice(
  tx: Tx,
  row: { idOf: (bucket: number) => string; practiceId: string; kind: string; payloadRef: string },
  now: Date,
  delayMs: number,
): Promise<void> {
  const bucket = Math.floor(now.getTime() / FAILURE_NOTICE_WINDOW_MS);
  const t = nowIso(now);
  const previous = await tx
    .selectFrom('outbox')
    .select(['available_at', 'done_at'])
    .where('id', '=', row.idOf(bucket - 1))
    .executeTakeFirst();
  if (previous && previous.done_at === null && previous.available_at > t) return;
  const delay = Math.max(0, Math.min(delayMs, FAILURE_NOTICE_WINDOW_MS));
  await tx
    .insertInto('outbox')
    .values(
      queuedOutboxRow({
        id: row.idOf(bucket),
        practice_id: row.practiceId,
        delivery_id: null,
        kind: row.kind,
        payload_ref: row.payloadRef,
        payload: null,
        available_at: nowIso(new Date(now.getTime() + delay)),
        created_at: t,
      }),
    )
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** Queues the failure notice of `messageId` in `tx` unless one is already waiting (queueBurstNotice). */
export async function queueFailureNotice(
  tx: Tx,
  ref: { practiceId: string; messageId: string },
  now: Date,
  delayMs: number,
): Promise<void> {
  await queueBurstNotice(
    tx,
    {
      idOf: (bucket) => `failure-notice:${ref.messageId}:${bucket}`,
      practiceId: ref.practiceId,
      kind: FAILURE_NOTICE_KIND,
      payloadRef: ref.messageId,
    },
    now,
    delayMs,
  );
}

/**
 * Outbox kind of the failure notice of a relayed message; payload_ref is the id of one of its failed
 * copies (the one that queued it), whose own payload_ref names the message and its sender.
 */
export const RELAY_FAILURE_NOTICE_KIND = 'relay_failure_notice';

/**
 * Queues, in `tx`, the notice that the retry copy `copy` (its payload_ref as `ref`) failed for good
 * to its original's sender, one per relayed message per burst (queueBurstNotice); nothing for a copy
 * with no one to tell.
 */
export async function queueRelayFailureNotice(
  tx: Tx,
  copy: { id: string; practiceId: string; ref: string | null },
  now: Date,
  delayMs: number,
): Promise<void> {
  const parsed = parseCopyRef(copy.id, copy.ref);
  if (!parsed) return;
  await queueBurstNotice(
    tx,
    {
      idOf: (bucket) => `relay-failure-notice:${parsed.relayed}:${bucket}`,
      practiceId: copy.practiceId,
      kind: RELAY_FAILURE_NOTICE_KIND,
      payloadRef: copy.id,
    },
    now,
    delayMs,
  );
}

/** The relayed message's failure notice as the worker sends it (to its sender), or why not. */
export async function composeRelayFailureNotice(
  svc: Pick<DeliveryServices, 'db' | 'config'>,
  row: OutboxTable,
): Promise<ComposedMail | { kind: 'failed' | 'skipped'; detail: string }> {
  const copy = row.payload_ref
    ? await svc.db
        .selectFrom('outbox')
        .select(['id', 'payload_ref'])
        .where('id', '=', row.payload_ref)
        .where('practice_id', '=', row.practice_id)
        .executeTakeFirst()
    : undefined;
  const parsed = copy ? parseCopyRef(copy.id, copy.payload_ref) : null;
  if (!copy?.payload_ref || !parsed) return { kind: 'failed', detail: 'relayed copy missing' };
  // Every copy of the message failed so far, this burst's and any before (as the secure send's
  // notice counts its failed recipients). A copy queued before copies named their message is alone.
  const failed =
    parsed.relayed === copy.id
      ? 1
      : Number(
          (
            await svc.db
              .selectFrom('outbox')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('practice_id', '=', row.practice_id)
              .where('kind', '=', GATEWAY_MAIL_KIND)
              .where('payload_ref', '=', copy.payload_ref)
              .where('permanent_failure', '=', 1)
              .executeTakeFirstOrThrow()
          ).n,
        );
  if (failed === 0) return { kind: 'skipped', detail: 'no failed copy' };
  const identity = await mailIdentity(svc, row.practice_id);
  return composeSimple({
    from: identity.from,
    to: parsed.notify,
    messageId: `<failed-${row.id.replace(/[^\w-]/g, '-')}@${identity.domain}>`,
    content: relayFailureNotice({ practiceName: identity.practiceName, reference: parsed.relayed, failed }),
  });
}

/** The notice as the worker sends it (to the clinician who sent the message), or why not. */
export async function composeFailureNotice(
  svc: Pick<DeliveryServices, 'db' | 'config'>,
  row: OutboxTable,
): Promise<ComposedMail | { kind: 'failed' | 'skipped'; detail: string }> {
  const messageId = row.payload_ref;
  if (!messageId) return { kind: 'failed', detail: 'message missing' };
  const sender = await svc.db
    .selectFrom('messages')
    .innerJoin('clinicians', 'clinicians.id', 'messages.clinician_id')
    .select(['clinicians.email'])
    .where('messages.id', '=', messageId)
    .where('messages.practice_id', '=', row.practice_id)
    .executeTakeFirst();
  if (!sender) return { kind: 'failed', detail: 'clinician missing' };
  const deliveries = await svc.db
    .selectFrom('deliveries')
    .select(['status'])
    .where('message_id', '=', messageId)
    .execute();
  const failed = deliveries.filter((d) => d.status === 'failed').length;
  if (failed === 0) return { kind: 'skipped', detail: 'no failed recipient' };
  const identity = await mailIdentity(svc, row.practice_id);
  return composeSimple({
    from: identity.from,
    to: sender.email,
    messageId: `<failed-${row.id.replace(/[^\w-]/g, '-')}@${identity.domain}>`,
    content: deliveryFailureNotice({
      practiceName: identity.practiceName,
      reference: messageId,
      failed,
      total: deliveries.length,
    }),
  });
}
