import { DEFAULT_POLICY } from '@attune/shared/policy';
import type { Envelope, GatewayBackend, OutboundSender } from './backend.ts';
import { classify } from './classify.ts';
import { fromAddress, hasUnreadableAttachment, scanInput, toSendRequest, type MailView } from './extract.ts';
import { headerValues, type RawHeaders } from './marker.ts';
import { RelayError } from './relay.ts';
import type { SmtpReply } from './smtp-reply.ts';

// Outbound enforcement: the decision for one message that an allowed source asked us to relay.
// Every path ends in an SMTP reply; the 250 comes only after the message is durable somewhere
// (the next hop accepted it, or the secure-send transaction committed).

export interface OutboundContext {
  backend: GatewayBackend;
  /** Prepend our trace and marker headers to the raw bytes before relaying. */
  stampForRelay(raw: Buffer): Buffer;
  log(event: Record<string, unknown>): void;
}

export type OutboundKind =
  'relayed' | 'relayed_secured' | 'relayed_processed' | 'secured' | 'blocked' | 'refused';

export interface OutboundResult {
  reply: SmtpReply;
  kind: OutboundKind;
}

export async function handleOutbound(
  ctx: OutboundContext,
  envelope: Envelope,
  raw: Buffer,
  mail: MailView,
  headers: RawHeaders,
  flags: { alreadyProcessed: boolean; messageId: string | null },
): Promise<OutboundResult> {
  const relay = async (kind: OutboundKind): Promise<OutboundResult> => {
    try {
      await ctx.backend.relay(envelope, ctx.stampForRelay(raw));
    } catch (err) {
      // The next hop said no for good (5xx): pass that on, so the sender bounces instead of retrying
      // for days. Anything else (down, timeout) propagates and becomes a 451.
      if (err instanceof RelayError && err.permanent) {
        return { kind: 'refused', reply: { code: 554, message: '5.0.0 The next hop refused the message' } };
      }
      throw err;
    }
    return { kind, reply: { code: 250, message: '2.0.0 Relayed' } };
  };

  // Our own output coming round again (a routing rule without the exception): it was scanned on
  // the way through; scanning again would only risk converting a notice into a notice.
  if (flags.alreadyProcessed) return relay('relayed_processed');

  const sender = await resolve(ctx.backend, mail, envelope);

  // An add-in already replaced the content with a notice and stamped the message id. Trust the stamp
  // only when the id is a message this practice really sent securely; a forged header is scanned.
  const secured = headerValues(headers, 'x-attune-secured')[0];
  if (secured !== undefined && sender && /^[\w-]{1,100}$/.test(secured.trim())) {
    if (await ctx.backend.isSecuredMessage(sender.practiceId, secured.trim()))
      return relay('relayed_secured');
  }

  const policy = sender?.policy ?? DEFAULT_POLICY;
  const patients = sender
    ? await ctx.backend.knownPatients(sender.practiceId, envelope.to)
    : new Set<string>();
  const { scan, decision } = classify(
    policy,
    scanInput(mail, envelope.to),
    envelope.to.map((email) => ({ email, isPatient: patients.has(email) })),
  );
  // A file the detector cannot read, sent to a patient of the practice, is treated as PHI: that the
  // recipient is a patient is itself health information, and the file is most likely about them.
  const opaqueToPatient = decision.decision === 'allow' && patients.size > 0 && hasUnreadableAttachment(mail);
  const verdict = opaqueToPatient ? 'encrypt' : decision.decision;
  ctx.log({
    event: 'gateway.scan',
    decision: verdict,
    phi: decision.phi,
    types: scan.types,
    opaqueToPatient,
  });

  switch (verdict) {
    case 'allow':
      return relay('relayed');
    case 'block':
      return {
        kind: 'blocked',
        reply: {
          code: 554,
          message: '5.7.1 Blocked by the practice policy: this content may not be emailed',
        },
      };
    case 'warn':
    case 'encrypt': {
      // 'warn' asks the clinician to choose; mail that reaches the gateway had no add-in to ask, so
      // the gateway takes the safe side and secures it.
      if (!sender?.clinicianId) {
        // Fail closed: PHI from an address no practice clinician owns is neither relayed in clear
        // nor attributed to someone it is not from.
        return {
          kind: 'refused',
          reply: {
            code: 554,
            message: '5.7.1 Message contains PHI and the sender is not registered with Attune',
          },
        };
      }
      const req = toSendRequest(mail, envelope.to);
      if (!req.ok) {
        return {
          kind: 'refused',
          reply: {
            code: 552,
            message:
              req.reason === 'too_many_attachments'
                ? '5.3.4 Too many attachments for secure delivery'
                : '5.3.4 An attachment is too large for secure delivery',
          },
        };
      }
      const sent = await ctx.backend.secureSend(sender, req.request, { idempotencyKey: flags.messageId });
      if (sent.ok) {
        return {
          kind: 'secured',
          reply: { code: 250, message: `2.0.0 Accepted for secure delivery ${sent.messageId}` },
        };
      }
      if (sent.reason === 'blocked_by_policy') {
        return { kind: 'blocked', reply: { code: 554, message: '5.7.1 Blocked by the practice policy' } };
      }
      return {
        kind: 'refused',
        reply: { code: 554, message: '5.7.1 Message could not be converted to secure delivery' },
      };
    }
  }
}

async function resolve(
  backend: GatewayBackend,
  mail: MailView,
  envelope: Envelope,
): Promise<OutboundSender | null> {
  const from = fromAddress(mail);
  if (from) {
    const s = await backend.resolveSender(from);
    if (s) return s;
  }
  if (envelope.from && envelope.from.toLowerCase() !== from)
    return backend.resolveSender(envelope.from.toLowerCase());
  return null;
}
