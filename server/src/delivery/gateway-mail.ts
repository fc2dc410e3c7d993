import { createHmac } from 'node:crypto';
import { openSecret, sealSecret, type MasterKey } from '../crypto/index.ts';
import { newId, nowIso } from '../store/index.ts';
import type { OutboxTable } from '../store/schema.ts';
import { queuedOutboxRow } from './db.ts';
import type { ComposedMail } from './mime.ts';
import { outboxSealContext } from './send.ts';
import { mailIdentity, type DeliveryServices } from './services.ts';
import { returnPathFor } from './verp.ts';

// Mail the SMTP gateway itself sends (delivery status notifications, gateway/dsn.ts), queued in the
// outbox like every notice: durable once committed, retried with backoff, and marked on the way out
// (X-Attune-Gateway, delivery/index.ts markedTransport) so a practice that routes outbound mail
// through the gateway gets it through unscanned. The whole message is sealed under the master key
// on the row (it names recipients and the original's Message-ID), and dropped once sent.
//
// A retry copy (a relayed message the next hop refused for now for one recipient) leaves from its
// own VERP return path, bounce+<row id>-<MAC>@<reply domain> (verp.ts), like secured mail, so a
// report the recipient's server sends later comes back to the gateway (delivery-report.ts). When
// it fails for good (attempts used up, a 5xx, or such a report), the original's sender is told by a
// PHI-free notice (failure-notice.ts), one per relayed message per burst however many of its copies
// fail. The row's payload_ref says who and which message: `<relayed message ref> <sender>`
// (copyRef), the sender's address being a practice address, kept in clear because the sealed
// payload is dropped once the copy is sent and a report may come days later; the ref is a hash of
// the SMTP transaction (gateway/outbound.ts), the same for every copy of one message, so the copies
// of a message are the rows with the same payload_ref. A report (and a copy of a bounce, or of
// Attune's own output coming round again) has no one to tell: reports never are, and the rest keep
// their own sender.

/** Outbox kind of mail composed by the gateway. */
export const GATEWAY_MAIL_KIND = 'gateway_mail';

/** What a retry copy keeps of the relayed message it copies (GatewayMail.copy in gateway/backend.ts). */
export interface RetryCopyOf {
  /** The original's envelope sender ('' for a null reverse path). */
  sender: string;
  /**
   * The copy leaves from its own return path and its failure is told to `sender`; false for a
   * message the gateway relayed as already processed (Attune's own output), which keeps its
   * envelope sender (a delivery's return path already brings its bounces back).
   */
  own: boolean;
  /**
   * Names the relayed message, the same for each of its copies (32 hex digits, relayedReference of
   * the SMTP transaction, nothing of the message): its copies' failures make one notice, with this
   * reference.
   */
  relayed: string;
}

interface GatewayMailPayload {
  v: 1;
  to: string;
  messageId: string;
  rawBase64: string;
  copy?: RetryCopyOf;
}

/**
 * Queues `mail` (a report: envelope sender <>, never bounced; a retry copy: see above); resolves
 * once committed.
 */
export async function queueGatewayMail(
  svc: Pick<DeliveryServices, 'commit' | 'kick' | 'masterKey' | 'now'>,
  mail: { practiceId: string; to: string; messageId: string; raw: Buffer; copy?: RetryCopyOf },
): Promise<void> {
  const id = newId();
  const t = nowIso(svc.now());
  const payload: GatewayMailPayload = {
    v: 1,
    to: mail.to,
    messageId: mail.messageId,
    rawBase64: mail.raw.toString('base64'),
    ...(mail.copy ? { copy: mail.copy } : {}),
  };
  await svc.commit((tx) =>
    tx
      .insertInto('outbox')
      .values(
        queuedOutboxRow({
          id,
          practice_id: mail.practiceId,
          delivery_id: null,
          kind: GATEWAY_MAIL_KIND,
          payload_ref: notifiedOf(mail.copy),
          payload: Buffer.from(sealSecret(svc.masterKey, JSON.stringify(payload), outboxSealContext(id))),
          available_at: t,
          created_at: t,
        }),
      )
      .execute(),
  );
  svc.kick();
}

/** Whom the failure of a retry copy is told to and about which message (copyRef), or null. */
function notifiedOf(copy: RetryCopyOf | undefined): string | null {
  return copy?.own && copy.sender !== '' ? copyRef(copy.relayed, copy.sender) : null;
}

const RELAYED_REF = /^[0-9a-f]{32}$/;

const referenceKeys = new WeakMap<MasterKey, Buffer>();

/**
 * The reference of a relayed message (RetryCopyOf.relayed) from the key of its SMTP transaction
 * (gateway/outbound.ts retryKey, itself a hash of the envelope sender, the recipients and the
 * Message-ID): HMAC-SHA-256 under a key derived from the master key (as verp.ts derives its own),
 * 128 bits, lower-case hex. The reference travels in the sender's failure notice and in the log; a
 * plain hash of the addresses would let anyone holding a candidate list of who wrote to whom
 * confirm it by hashing (a dictionary test), the HMAC only the holder of the master key. Stable for
 * one master key, so every gateway process and a sender's retries of the transaction agree.
 */
export function relayedReference(masterKey: MasterKey, transactionKey: string): string {
  let k = referenceKeys.get(masterKey);
  if (!k) {
    k = createHmac('sha256', masterKey.key).update('attune:relayed-reference:v1').digest();
    referenceKeys.set(masterKey, k);
  }
  return createHmac('sha256', k).update(`relayed|${transactionKey}`).digest('hex').slice(0, 32);
}

/** A retry copy's payload_ref: the relayed message's reference and the sender to tell. */
export function copyRef(relayed: string, sender: string): string {
  if (!RELAYED_REF.test(relayed)) throw new Error('relayed message reference: 32 hex digits');
  return `${relayed} ${sender}`;
}

/**
 * Who a failed retry copy is told to, and the reference of its relayed message, from its
 * payload_ref; null when no one is told. A copy queued before copies named their message (its
 * payload_ref only the sender) is its own message: its failure is told alone, as it was then.
 */
export function parseCopyRef(
  copyId: string,
  payloadRef: string | null,
): { relayed: string; notify: string } | null {
  if (!payloadRef) return null;
  const space = payloadRef.indexOf(' ');
  const relayed = payloadRef.slice(0, space);
  if (space > 0 && RELAYED_REF.test(relayed)) return { relayed, notify: payloadRef.slice(space + 1) };
  return { relayed: copyId, notify: payloadRef };
}

/** The queued message as the worker sends it, or why it cannot be. */
export async function openGatewayMail(
  svc: Pick<DeliveryServices, 'masterKey' | 'db' | 'config'>,
  row: OutboxTable,
): Promise<ComposedMail | { kind: 'failed'; detail: string }> {
  if (!row.payload) return { kind: 'failed', detail: 'message missing' };
  const opened = openSecret(svc.masterKey, row.payload.toString('utf8'), outboxSealContext(row.id));
  if (!opened.ok) return { kind: 'failed', detail: `message unreadable (${opened.reason})` };
  const p = JSON.parse(opened.plaintext.toString('utf8')) as GatewayMailPayload;
  let from = p.copy?.sender ?? '';
  if (p.copy?.own && p.copy.sender !== '') {
    // No reply domain for the gateway to take reports at: the original's sender, as a relay would.
    const { replyDomain } = await mailIdentity(svc, row.practice_id);
    from = (replyDomain ? returnPathFor(svc.masterKey, row.id, replyDomain) : null) ?? p.copy.sender;
  }
  return { raw: Buffer.from(p.rawBase64, 'base64'), from, to: [p.to], messageId: p.messageId };
}
