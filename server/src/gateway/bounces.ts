import type { GatewayBackend } from './backend.ts';
import { readDeliveryStatus } from './delivery-status.ts';
import type { SmtpReply } from './smtp-reply.ts';

// Inbound: delivery status notifications (RFC 3464) to a delivery's return path (VERP,
// delivery/verp.ts), sent by the recipient's mail server after our relay had taken the message.
// Always answered 250 once the return path passed its MAC: a report is never bounced (RFC 5321
// 4.5.5), and one we cannot read (free-text bounces, auto-replies) is dropped, not retried.
// Logged by reference and status code only: the diagnostic may quote the patient's address.

export async function handleDeliveryReports(
  backend: GatewayBackend,
  deliveryIds: readonly string[],
  raw: Buffer,
  log: (e: Record<string, unknown>) => void,
): Promise<SmtpReply> {
  const entries = readDeliveryStatus(raw);
  // Each delivery has one recipient: the most serious entry speaks for it.
  const worst = entries?.find(
    (e) => e.action === 'failed' || e.action === 'delayed' || e.status.startsWith('4.'),
  );
  if (!worst || !backend.acceptDeliveryReport) {
    log({ event: 'gateway.report_dropped', reason: entries ? 'no_failure' : 'not_a_report' });
    return { code: 250, message: '2.0.0 Accepted' };
  }
  const action = worst.action === 'failed' && worst.status.startsWith('5.') ? 'failed' : 'delayed';
  for (const deliveryId of deliveryIds) {
    const r = await backend.acceptDeliveryReport({
      deliveryId,
      action,
      status: worst.status,
      diagnostic: worst.diagnostic,
      receivedAt: new Date(),
    });
    log({
      event: 'gateway.delivery_report',
      deliveryId,
      action,
      status: worst.status,
      outcome: r.ok ? r.outcome : r.reason,
    });
  }
  return { code: 250, message: '2.0.0 Report received' };
}
