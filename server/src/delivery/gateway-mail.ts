import { openSecret, sealSecret } from '../crypto/index.ts';
import { newId, nowIso } from '../store/index.ts';
import type { OutboxTable } from '../store/schema.ts';
import { queuedOutboxRow } from './db.ts';
import type { ComposedMail } from './mime.ts';
import { outboxSealContext } from './send.ts';
import type { DeliveryServices } from './services.ts';

// Mail the SMTP gateway itself sends (delivery status notifications, gateway/dsn.ts), queued in the
// outbox like every notice: durable once committed, retried with backoff, and marked on the way out
// (X-Attune-Gateway, delivery/index.ts markedTransport) so a practice that routes outbound mail
// through the gateway gets it through unscanned. The whole message is sealed under the master key
// on the row (it names recipients and the original's Message-ID), and dropped once sent.

/** Outbox kind of mail composed by the gateway. */
export const GATEWAY_MAIL_KIND = 'gateway_mail';

interface GatewayMailPayload {
  v: 1;
  to: string;
  messageId: string;
  rawBase64: string;
}

/** Queues `mail` (envelope sender <>: a report is never bounced); resolves once committed. */
export async function queueGatewayMail(
  svc: Pick<DeliveryServices, 'commit' | 'kick' | 'masterKey' | 'now'>,
  mail: { practiceId: string; to: string; messageId: string; raw: Buffer },
): Promise<void> {
  const id = newId();
  const t = nowIso(svc.now());
  const payload: GatewayMailPayload = {
    v: 1,
    to: mail.to,
    messageId: mail.messageId,
    rawBase64: mail.raw.toString('base64'),
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
          payload_ref: null,
          payload: Buffer.from(sealSecret(svc.masterKey, JSON.stringify(payload), outboxSealContext(id))),
          available_at: t,
          created_at: t,
        }),
      )
      .execute(),
  );
  svc.kick();
}

/** The queued message as the worker sends it, or why it cannot be. */
export function openGatewayMail(
  svc: Pick<DeliveryServices, 'masterKey'>,
  row: OutboxTable,
): ComposedMail | { kind: 'failed'; detail: string } {
  if (!row.payload) return { kind: 'failed', detail: 'message missing' };
  const opened = openSecret(svc.masterKey, row.payload.toString('utf8'), outboxSealContext(row.id));
  if (!opened.ok) return { kind: 'failed', detail: `message unreadable (${opened.reason})` };
  const p = JSON.parse(opened.plaintext.toString('utf8')) as GatewayMailPayload;
  return { raw: Buffer.from(p.rawBase64, 'base64'), from: '', to: [p.to], messageId: p.messageId };
}
