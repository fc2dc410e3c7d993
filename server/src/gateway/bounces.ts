import { AUTO_REPLY, UNKNOWN } from '../delivery/delivery-report.ts';
import { isAutoReply } from './auto-reply.ts';
import type { GatewayBackend, ReturnPathRef } from './backend.ts';
import { readDeliveryStatus } from './delivery-status.ts';
import type { SmtpReply } from './smtp-reply.ts';

// Inbound: delivery status notifications (RFC 3464) to a delivery's return path (VERP,
// delivery/verp.ts), sent by the recipient's mail server after our relay had taken the message.
// Always answered 250 once the return path passed its MAC: a report is never bounced (RFC 5321
// 4.5.5). One that is no RFC 3464 report at all is recorded so an admin sees something came back,
// with no state change and nothing of its text kept: an out-of-office or other automatic reply
// (auto-reply.ts) as a report of kind auto_reply, which says the mailbox took the message in;
// anything else (a legacy MTA's bounce in free text) as a report of unknown status, which may be a
// failure worth a look. A report with no failure or delay in it is dropped.
// Logged by reference and status code only: the diagnostic may quote the patient's address.

export async function handleDeliveryReports(
  backend: GatewayBackend,
  returnPaths: readonly ReturnPathRef[],
  raw: Buffer,
  log: (e: Record<string, unknown>) => void,
): Promise<SmtpReply> {
  const entries = readDeliveryStatus(raw);
  // Each delivery has one recipient: the most serious entry speaks for it.
  const worst = entries?.find(
    (e) => e.action === 'failed' || e.action === 'delayed' || e.status.startsWith('4.'),
  );
  if ((entries && !worst) || !backend.acceptDeliveryReport) {
    log({ event: 'gateway.report_dropped', reason: entries ? 'no_failure' : 'not_a_report' });
    return { code: 250, message: '2.0.0 Accepted' };
  }
  const report = worst
    ? {
        action:
          worst.action === 'failed' && worst.status.startsWith('5.')
            ? ('failed' as const)
            : ('delayed' as const),
        status: worst.status,
        diagnostic: worst.diagnostic,
      }
    : isAutoReply(raw)
      ? { action: AUTO_REPLY, status: AUTO_REPLY, diagnostic: null }
      : { action: UNKNOWN, status: UNKNOWN, diagnostic: null };
  for (const { deliveryId, generation } of returnPaths) {
    const r = await backend.acceptDeliveryReport({
      deliveryId,
      generation,
      ...report,
      receivedAt: new Date(),
    });
    log({
      event: 'gateway.delivery_report',
      deliveryId,
      generation,
      action: report.action,
      status: report.status,
      outcome: r.ok ? r.outcome : r.reason,
    });
  }
  return { code: 250, message: '2.0.0 Report received' };
}
