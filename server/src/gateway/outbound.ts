import { createHash } from 'node:crypto';
import { DEFAULT_POLICY } from '@attune/shared/policy';
import type { Envelope, GatewayBackend, OutboundSender } from './backend.ts';
import { extractAll } from '../attachments/index.ts';
import { classify } from './classify.ts';
import { fromAddress, hasUnreadableAttachment, scanInput, toSendRequest, type MailView } from './extract.ts';
import type { PartialRefusal } from '../delivery/transport.ts';
import { composeDsn } from './dsn.ts';
import { headerValues, type RawHeaders } from './marker.ts';
import { pgpMimeParts, type PgpMimeParts } from './pgp-mime.ts';
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
  /** For delivery status notifications (dsn.ts). */
  reports: {
    /** The gateway's host name (Reporting-MTA). */
    hostname: string;
    /**
     * The reports' From address when configured (used for a practice other than its domain's
     * only when that domain is no practice's); else MAILER-DAEMON@<practice domain>.
     */
    from: string | null;
    /** The practice when the sender's address does not say (GATEWAY_PRACTICE_ID). */
    practiceId: string | null;
  };
}

export type OutboundKind =
  | 'relayed'
  | 'relayed_secured'
  | 'relayed_processed'
  | 'relayed_partial'
  | 'secured'
  | 'blocked'
  | 'refused'
  | 'deferred';

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
  const arrivedAt = new Date();
  const relay = async (kind: OutboundKind): Promise<OutboundResult> => {
    // The bytes as they go to the next hop: what a recipient it refused for now is later sent
    // (refusedInPart) must be exactly what the others got, never the message as it reached us.
    const relayed = ctx.stampForRelay(raw);
    try {
      await ctx.backend.relay(envelope, relayed);
    } catch (err) {
      if (err instanceof RelayError) {
        // The next hop took the message for some recipients: it is ours now, whatever it said to
        // the others (RFC 5321 3.6, 4.2.5).
        if (err.partial && err.partial.accepted > 0) {
          return refusedInPart(
            ctx,
            {
              envelope,
              mail,
              headers,
              relayed,
              key: retryKey(envelope, flags.messageId, raw),
              arrivedAt,
              processed: flags.alreadyProcessed,
              senderOf,
            },
            err.partial,
          );
        }
        // The next hop said no for good (5xx): pass that on, so the sender bounces instead of
        // retrying for days.
        if (err.permanent) {
          return {
            kind: 'refused',
            reply: { code: 554, message: '5.0.0 The next hop refused the message' },
          };
        }
      }
      // Anything else (down, timeout, refused for now) propagates and becomes a 451.
      throw err;
    }
    return { kind, reply: { code: 250, message: '2.0.0 Relayed' } };
  };
  // Resolved once, when first needed: our own output relayed unscanned needs it only for a report.
  let resolved: Promise<OutboundSender | null> | null = null;
  const senderOf = (): Promise<OutboundSender | null> => (resolved ??= resolve(ctx.backend, mail, envelope));

  // Our own output coming round again (a routing rule without the exception): it was scanned on
  // the way through; scanning again would only risk converting a notice into a notice.
  if (flags.alreadyProcessed) return relay('relayed_processed');

  const sender = await senderOf();

  // An add-in already replaced the content with a notice and stamped the message id. Trust the stamp
  // only when the id is a message this practice sent securely, lately, to these very recipients;
  // a forged header, or a real id on other mail, is scanned like any mail.
  const secured = headerValues(headers, 'x-attune-secured')[0];
  const stamped =
    secured !== undefined &&
    sender !== null &&
    /^[\w-]{1,100}$/.test(secured.trim()) &&
    (await ctx.backend.isSecuredMessage(sender.practiceId, secured.trim(), envelope.to));

  const policy = sender?.policy ?? DEFAULT_POLICY;
  const patients = sender
    ? await ctx.backend.knownPatients(sender.practiceId, envelope.to)
    : new Set<string>();
  // A stamp vouches for the recipients, not for the content: the header stays on a sent notice
  // that is resent or edited as new (Outlook copies it) where no add-in ran to secure the edit. So
  // a stamped notice is scanned too, as a notice: without its links (see ownClientNotice), and for a
  // PGP/MIME message without its ciphertext.
  //
  // A well-formed RFC 3156 message (the clinician's own OpenPGP client encrypted it) is end-to-end
  // encrypted already: its two parts are not an unreadable file to secure again (the patient would
  // get a secure link to a blob they cannot open). Like a notice, it is scanned without them and
  // without its recipient fields (securing it would not hide those: a notice goes to the same
  // addresses); the Subject is scanned as usual, so PHI in it is still secured or refused.
  const pgp = pgpMimeParts(mail, headers);
  const notice = stamped
    ? await withoutNoticeParts(ctx.backend, sender.practiceId, secured.trim(), mail, pgp)
    : sender
      ? await ownClientNotice(ctx.backend, sender.practiceId, mail, envelope)
      : null;
  const view = notice ?? (pgp ? withoutParts(mail, pgp) : null);
  const scanned = view ?? mail;
  // The attachments' contents (PDF, Office, RTF, HTML, text: attachments/), read only when there are
  // attachments; a file that cannot be read is marked so, never an error.
  const files =
    scanned.attachments.length > 0
      ? await extractAll(
          scanned.attachments.map((a) => ({
            filename: a.filename,
            contentType: a.contentType,
            bytes: a.content,
          })),
        )
      : [];
  const { scan, decision } = classify(
    policy,
    view ? { ...scanInput(view, [], files), cc: [] } : scanInput(mail, envelope.to, files),
    envelope.to.map((email) => ({ email, isPatient: patients.has(email) })),
  );
  // A file the detector cannot read (or only in part), sent to a patient of the practice, is
  // treated as PHI: that the recipient is a patient is itself health information, and the file is
  // most likely about them. Files whose contents were read were scanned like the body.
  const opaqueToPatient =
    decision.decision === 'allow' && patients.size > 0 && hasUnreadableAttachment(scanned, files);
  const verdict = opaqueToPatient ? 'encrypt' : decision.decision;
  ctx.log({
    event: 'gateway.scan',
    decision: verdict,
    phi: decision.phi,
    types: scan.types,
    opaqueToPatient,
    // Reason codes of the attachments that could not be read (never names or text).
    ...(files.some((f) => f.unreadable) ? { unreadable: files.flatMap((f) => f.unreadable ?? []) } : {}),
    ...(stamped ? { stamped: true } : {}),
    ...(pgp ? { pgpMime: true } : {}),
  });

  switch (verdict) {
    case 'allow':
      return relay(stamped ? 'relayed_secured' : 'relayed');
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
      // A sender of the practice's domains without an account yet (only practice senders reach
      // this far: the gateway relays for no one else) gets one, as at a first sign-in, so their mail
      // is secured rather than bounced.
      const author =
        sender && !sender.clinicianId && ctx.backend.provisionSender
          ? ((await ctx.backend.provisionSender(sender)) ?? sender)
          : sender;
      if (!author?.clinicianId) {
        // Fail closed: PHI from an address no practice clinician owns (accounts are not created
        // automatically here, or it is disabled) is neither relayed in clear nor attributed to
        // someone it is not from.
        return {
          kind: 'refused',
          reply: {
            code: 554,
            message:
              '5.7.1 Message contains PHI and the sender is not registered with Attune: ask your administrator to add this address',
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
      const sent = await ctx.backend.secureSend(author, req.request, {
        idempotencyKey: transactionKey(flags.messageId, envelope.to),
      });
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

/** One relayed transaction, as refusedInPart needs it. */
interface Relayed {
  envelope: Envelope;
  mail: MailView;
  headers: RawHeaders;
  /** The bytes the next hop took (trace and marker headers prepended). */
  relayed: Buffer;
  /** Names the transaction across the sender's retries (retryKey). */
  key: string;
  arrivedAt: Date;
  /** Attune's own output coming round again (relayed unscanned): its copies keep their sender. */
  processed: boolean;
  senderOf: () => Promise<OutboundSender | null>;
}

/**
 * The next hop took the message for some recipients and refused the others, for good (5xx) or for
 * now (4xx). We are responsible for the message once anyone has it (RFC 5321 3.6, 4.2.5): the
 * transaction is answered 250. A 4xx would have the sender's server send it again to everyone, and a
 * 5xx bounce it or do the same: either way the recipients who have it get it twice. Instead, before
 * the 250, in the durable outbox:
 * - for the recipients refused for good, a delivery status notification (RFC 3464, dsn.ts) to the
 *   sender (none to a null sender, MAIL FROM:<>: a bounce is never bounced, RFC 5321 4.5.5);
 * - for each recipient refused for now, a copy of exactly the bytes the next hop took (a secured
 *   notice stays that notice), which the delivery worker retries with backoff (RFC 5321 4.5.4.1),
 *   from the copy's own return path, and whose failure for good is told to the sender once, by a
 *   PHI-free notice (delivery/gateway-mail.ts): we took the message, so its bounce is ours to send.
 * Both are keyed by the transaction (retryKey) and the recipients they are for, so a retried
 * transaction (our 250 lost) queues neither twice: the outbox queues one Message-ID once.
 *
 * Where that cannot be done (no practice to queue it for, the refused recipients unknown, the outbox
 * unavailable), nothing is acknowledged that is not held somewhere: a 451 when anyone was refused
 * only for now (the sender's server keeps the message and retries; a double delivery is better than
 * a lost one), else the old 554 that says the others were delivered.
 */
async function refusedInPart(
  ctx: OutboundContext,
  tx: Relayed,
  partial: PartialRefusal,
): Promise<OutboundResult> {
  const { envelope } = tx;
  const total = partial.accepted + partial.refused;
  const refusals = (partial.refusals ?? []).flatMap((r) => {
    const address = envelope.to[r.index];
    return address === undefined ? [] : [{ ...r, address }];
  });
  const known = refusals.length === partial.refused;
  // A refusal without a 5xx code is not final: the recipient may take it later.
  const failed = refusals.filter((r) => r.code !== null && r.code >= 500);
  const later = known ? refusals.filter((r) => !(r.code !== null && r.code >= 500)) : [];
  const log = (outcome: string, extra: Record<string, unknown> = {}): void =>
    ctx.log({
      event: 'gateway.partial_refusal',
      refused: partial.refused,
      retried: later.length,
      report: outcome,
      ...extra,
    });
  const fallback: OutboundResult =
    !known || later.length > 0
      ? {
          kind: 'deferred',
          reply: {
            code: 451,
            message: `4.4.0 The next hop refused ${partial.refused} of ${total} recipients for now; try again later`,
          },
        }
      : {
          kind: 'refused',
          reply: {
            code: 554,
            message: `5.1.1 The next hop refused ${partial.refused} of ${total} recipients; the others were delivered`,
          },
        };
  const report = failed.length > 0 && envelope.from !== '';
  if (known && later.length === 0 && !report) {
    // Every refusal final, and a null sender: nothing to queue, nobody to tell.
    log('null_sender');
    return {
      kind: 'relayed_partial',
      reply: {
        code: 250,
        message: `2.0.0 Relayed to ${partial.accepted} of ${total} recipients; the others were refused`,
      },
    };
  }
  // One reference for every copy of this message: their failures make one notice to the sender,
  // which quotes it; logged, so an administrator can find the message's log lines from the notice.
  // Keyed (an HMAC under the master key): a plain hash of the transaction would let anyone with a
  // candidate list of addresses confirm who wrote to whom.
  const relayed = ctx.backend.relayedReference(tx.key);
  try {
    const practiceId = (await tx.senderOf())?.practiceId ?? ctx.reports.practiceId;
    if (!practiceId || !known) {
      log('unavailable');
      return fallback;
    }
    const domain = (await ctx.backend.practiceDomain(practiceId)) ?? ctx.reports.hostname;
    if (report) {
      const dsn = composeDsn({
        reportingMta: ctx.reports.hostname,
        from: await reportFrom(ctx, practiceId, domain),
        to: envelope.from,
        refusals: failed,
        delivered: partial.accepted,
        pending: later.length,
        headers: tx.headers,
        originalFrom: fromAddress(tx.mail),
        arrivedAt: tx.arrivedAt,
        id: digest(tx.key, 'dsn', ...failed.map((r) => r.address).sort()),
      });
      await ctx.backend.queueMail({ practiceId, to: envelope.from, messageId: dsn.messageId, raw: dsn.raw });
    }
    for (const r of later) {
      await ctx.backend.queueMail({
        practiceId,
        to: r.address,
        messageId: `<retry-${digest(tx.key, 'retry', r.address)}@${domain}>`,
        raw: tx.relayed,
        copy: { sender: envelope.from, own: !tx.processed, relayed },
      });
    }
  } catch (err) {
    log('failed', { error: errorName(err) });
    return fallback;
  }
  log(report ? 'queued' : 'none', later.length > 0 ? { reference: relayed } : {});
  const parts = [
    ...(later.length > 0 ? [`${later.length} refused for now will be retried`] : []),
    ...(failed.length > 0 ? [`${failed.length} refused${report ? ', a delivery report follows' : ''}`] : []),
  ];
  return {
    kind: 'relayed_partial',
    reply: {
      code: 250,
      message: `2.0.0 Relayed to ${partial.accepted} of ${total} recipients; ${parts.join('; ')}`,
    },
  };
}

/**
 * The From of a report for `practiceId`: GATEWAY_DSN_FROM when set, unless its domain is another
 * practice's (one gateway serves every practice of a deployment: a report to one practice's sender
 * never comes from another practice's domain); else MAILER-DAEMON@<the practice's domain>.
 */
async function reportFrom(ctx: OutboundContext, practiceId: string, domain: string): Promise<string> {
  const configured = ctx.reports.from;
  if (configured) {
    const owner = await ctx.backend.resolveSender(configured.toLowerCase());
    if (!owner || owner.practiceId === practiceId) return configured;
  }
  return `MAILER-DAEMON@${domain}`;
}

/**
 * Names one SMTP transaction across the sender's retries: its envelope and its Message-ID (or, when
 * it has none, its bytes as received, which a retry sends again). What the gateway queues for it
 * is keyed by this, so a retry queues nothing twice.
 */
function retryKey(envelope: Envelope, messageId: string | null, raw: Buffer): string {
  const rcpts = [...new Set(envelope.to.map((r) => r.toLowerCase()))].sort();
  const id = messageId ?? `raw:${createHash('sha256').update(raw).digest('hex')}`;
  return digest(envelope.from.toLowerCase(), ...rcpts, id);
}

/** 128 bits of SHA-256 over the parts, hex: a Message-ID's local part. */
function digest(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\n');
  return h.digest('hex').slice(0, 32);
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : 'Error';
}

/**
 * The secure send's idempotency key for one SMTP transaction: its Message-ID together with its
 * envelope recipients. A retry of the transaction (our 250 lost, or a 451) carries both again and
 * is answered with the first send. A sending MTA that splits one message into several transactions
 * (per destination, or past a recipient limit) sends every part with the same Message-ID to other
 * recipients: keyed by the Message-ID alone, every part after the first was refused as a reused key
 * and bounced. Hashed, because a Message-ID may be far longer than a key's 200 characters.
 */
export function transactionKey(messageId: string | null, recipients: readonly string[]): string | null {
  if (!messageId) return null;
  const rcpts = [...new Set(recipients.map((r) => r.toLowerCase()))].sort();
  return `smtp-${createHash('sha256').update(messageId).update('\n').update(rcpts.join('\n')).digest('base64url')}`;
}

// A secure link (…/m/<token>) or reply address (reply+<token>@…) of the kind our notices carry.
const LINK_URL = /\bhttps?:\/\/[^\s"'<>]+?\/m\/([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/g;
const REPLY_ADDRESS = /(?:mailto:)?\breply\+([A-Za-z0-9_-]{43})@[A-Za-z0-9.-]+/g;

/**
 * A notice the clinician sends from the draft (Gmail's compose card with delivery "client") holds
 * its recipient's secure link and reply address, and in mail to a known patient a web address (or
 * a name in the patient's own address) counts as PHI: scanned as is, the notice would be converted
 * into a notice of a notice. When the backend vouches for the token as a client-delivered link of
 * this practice whose recipient is the only envelope recipient (a link is a credential: it must not
 * reach anyone else), the mail is returned without those addresses, to be scanned without its
 * recipient fields: the recipient is the link's own. Subject, the rest of the body and attachments
 * are scanned as usual, so PHI written beside the notice is still secured. Null otherwise.
 */
async function ownClientNotice(
  backend: GatewayBackend,
  practiceId: string,
  mail: MailView,
  envelope: Envelope,
): Promise<MailView | null> {
  if (!backend.clientNoticeRecipient || envelope.to.length !== 1) return null;
  if (mail.cc.some((c) => c !== envelope.to[0])) return null;
  const parts = [mail.text ?? '', mail.html ?? ''];
  const tokens = new Set<string>();
  for (const p of parts) {
    for (const m of p.matchAll(LINK_URL)) tokens.add(m[1]!);
    for (const m of p.matchAll(REPLY_ADDRESS)) tokens.add(m[1]!);
  }
  if (tokens.size === 0 || tokens.size > 3) return null;
  const ours = new Set<string>();
  for (const t of tokens) {
    if ((await backend.clientNoticeRecipient(practiceId, t)) === envelope.to[0]) ours.add(t);
  }
  if (ours.size !== tokens.size) return null;
  const strip = (s: string) =>
    s
      .replace(LINK_URL, (all, t: string) => (ours.has(t) ? '' : all))
      .replace(REPLY_ADDRESS, (all, t: string) => (ours.has(t) ? '' : all));
  return {
    ...mail,
    text: mail.text === undefined ? undefined : strip(mail.text),
    html: mail.html === null ? null : strip(mail.html),
  };
}

/**
 * A stamped message as its scan sees it: without the secure links and reply addresses of the stamped
 * message's own notice (in mail to a known patient a web address counts as PHI, so the notice itself
 * would be converted into a notice of a notice) and, for an RFC 3156 message, without its two MIME
 * parts (the version part and the ciphertext: nothing readable). Only links whose token the store
 * resolves (by its hash) to the stamped message are taken out: a link of another message, or text
 * that merely looks like one of ours, is scanned like the subject, the rest of the body and any
 * other attachment.
 */
async function withoutNoticeParts(
  backend: GatewayBackend,
  practiceId: string,
  messageId: string,
  mail: MailView,
  pgp: PgpMimeParts | null,
): Promise<MailView> {
  const view = pgp ? withoutParts(mail, pgp) : mail;
  const tokens = new Set<string>();
  for (const p of [view.text ?? '', view.html ?? '']) {
    for (const m of p.matchAll(LINK_URL)) tokens.add(m[1]!);
    for (const m of p.matchAll(REPLY_ADDRESS)) tokens.add(m[1]!);
  }
  // A notice has a link and a reply address (a few more in a forwarded thread); past a handful,
  // the rest are left in and scanned rather than each costing a lookup.
  const ours = new Set<string>();
  for (const t of [...tokens].slice(0, MAX_NOTICE_TOKENS)) {
    if ((await backend.noticeTokenMessage(practiceId, t)) === messageId) ours.add(t);
  }
  const strip = (s: string) =>
    s
      .replace(LINK_URL, (all, t: string) => (ours.has(t) ? '' : all))
      .replace(REPLY_ADDRESS, (all, t: string) => (ours.has(t) ? '' : all));
  return {
    ...view,
    text: view.text === undefined ? undefined : strip(view.text),
    html: view.html === null ? null : strip(view.html),
  };
}
const MAX_NOTICE_TOKENS = 8;

/** An RFC 3156 message without its version part and ciphertext (pgp-mime.ts). */
function withoutParts(mail: MailView, pgp: PgpMimeParts): MailView {
  return {
    ...mail,
    attachments: mail.attachments.filter((_, i) => i !== pgp.version && i !== pgp.ciphertext),
  };
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
