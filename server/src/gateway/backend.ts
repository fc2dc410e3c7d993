import type { Policy } from '@attune/shared/policy';
import type { SendMessageRequest } from '@attune/shared/api';
import type { DeliveryReportInput, DeliveryReportResult } from '../delivery/delivery-report.ts';
import type { RetryCopyOf } from '../delivery/gateway-mail.ts';
import type { ReturnPathRef } from '../delivery/verp.ts';

// What the gateway needs from the rest of the server, as one narrow interface. The listener and the
// enforcement logic depend on this, not on the store or delivery modules directly, so the SMTP
// behaviour can be read (and tested) on its own; `store-backend.ts` implements it over the real
// store, crypto and delivery pipeline.

export interface Envelope {
  /** MAIL FROM ('' for a null reverse path: bounces). */
  from: string;
  /** RCPT TO addresses, lower-cased. */
  to: string[];
}

export interface OutboundSender {
  practiceId: string;
  /** The clinician the mail is from, when the From address belongs to one. */
  clinicianId: string | null;
  email: string;
  policy: Policy;
}

export type SecureSendResult =
  | { ok: true; messageId: string }
  | { ok: false; reason: 'blocked_by_policy' | 'invalid' | 'sender_unknown'; detail: string };

export interface InboundReply {
  token: string;
  /** The address the reply came from (header From, else MAIL FROM). */
  from: string;
  subject: string;
  /** The patient's words, quoted notice stripped. */
  text: string;
  html: string | null;
  receivedAt: Date;
  /** The raw message, kept encrypted in the archive. */
  raw: Buffer;
  /** Crisis language found in `text`, most serious first. */
  crisis: { sentence: string; grade: 'first_person' | 'negated' | 'third_person' | 'historical' } | null;
}

export type ReplyResult =
  | { ok: true; replyId: string; messageId: string; patientId: string; latencyMs: number }
  // too_many: the link is over its daily reply limit (delivery/reply.ts MAX_REPLIES_PER_LINK_PER_DAY).
  | { ok: false; reason: 'unknown_token' | 'expired' | 'revoked' | 'too_many' };

export type TokenState = 'valid' | 'unknown' | 'expired' | 'revoked';

/** A delivery status notification about one delivery, read from a report to its return path (delivery-report.ts). */
export type DeliveryReport = DeliveryReportInput;
export type { ReturnPathRef };
export type { DeliveryReportResult };

/**
 * Mail the gateway itself sends: a delivery status notification (whole and PHI-free), or the copy of
 * a relayed message for a recipient the next hop refused for now (the bytes it took for the others).
 */
export interface GatewayMail {
  practiceId: string;
  /**
   * Envelope recipient. A report's envelope sender is null (<>): a report is never bounced. A
   * copy's is its own return path (delivery/gateway-mail.ts), so its bounces come back to us.
   */
  to: string;
  /**
   * Names the mail, angle brackets included: a report's Message-ID header; for a copy, an id of the
   * copy (its header keeps the original's). Derived from the SMTP transaction: queueMail queues
   * one id once.
   */
  messageId: string;
  raw: Buffer;
  /** For a copy: the relayed message's sender, told once if the copy fails for good. */
  copy?: RetryCopyOf;
}

export interface GatewayBackend {
  /** Practice, clinician and policy for an outbound sender address; null when no practice claims it. */
  resolveSender(email: string): Promise<OutboundSender | null>;
  /**
   * A clinician account for a sender of a practice's domains that has none yet (a clinician who never
   * signed in to an add-in, a mobile-only user, a shared mailbox), created as a first sign-in would
   * create it (AUTO_PROVISION_CLINICIANS) and audited; the sender with its clinician, or null when
   * accounts are not created automatically or the address is disabled. Optional: without it, PHI
   * from such a sender is refused.
   */
  provisionSender?(sender: OutboundSender): Promise<OutboundSender | null>;
  /** Which of `emails` are patients of the practice (lower-case). */
  knownPatients(practiceId: string, emails: readonly string[]): Promise<Set<string>>;
  /**
   * Whether `id` (from an x-attune-secured header) is a message this practice sent securely, recently
   * (SECURED_STAMP_MAX_AGE_MS), to every one of `recipients` (the envelope's): only then is mail
   * stamped with it relayed unscanned. Ids are not secret (every notice carries one), so an old
   * id on new mail, or on mail to someone else, is scanned like any mail.
   */
  isSecuredMessage(practiceId: string, id: string, recipients: readonly string[]): Promise<boolean>;
  /**
   * The recipient of a secure link the client delivers itself (POST /v1/messages with delivery
   * "client": Gmail's compose card puts the notice in the draft), when `token` is a live link of
   * this practice handed to a client; null otherwise. Optional: without it such a notice is scanned
   * like any mail (its link to a known patient then makes it secured again).
   */
  clientNoticeRecipient?(practiceId: string, token: string): Promise<string | null>;
  /**
   * The message whose secure link or reply address holds `token` (a link token or a reply token,
   * found by its hash), when it is a link of this practice, working or not; null otherwise. The
   * scan of a stamped notice strips only that message's own links.
   */
  noticeTokenMessage(practiceId: string, token: string): Promise<string | null>;
  /**
   * The POST /v1/messages pipeline: archive, audit, outbox, notice or PGP/MIME, in one transaction.
   * Resolves only once committed durably.
   */
  secureSend(
    sender: OutboundSender,
    request: SendMessageRequest,
    ctx: { idempotencyKey: string | null },
  ): Promise<SecureSendResult>;
  /**
   * The practice's own mail domain (its first), for the address the gateway's reports come from;
   * null when it has none.
   */
  practiceDomain(practiceId: string): Promise<string | null>;
  /**
   * Queue mail of the gateway's own in the durable outbox (the path of every notice: retried,
   * marked as already processed). Resolves only once committed. A `messageId` already queued is
   * not queued again (a retried SMTP transaction).
   */
  queueMail(mail: GatewayMail): Promise<void>;
  /**
   * The reference of a relayed message (GatewayMail.copy.relayed) from its transaction's key: keyed
   * under the master key (delivery/gateway-mail.ts relayedReference), so it confirms nothing about
   * the addresses to anyone without it.
   */
  relayedReference(transactionKey: string): string;
  /** Hand the raw message to the next hop; resolves once the next hop (or the mail folder) holds it. */
  relay(envelope: Envelope, raw: Buffer): Promise<void>;
  /**
   * The practices' own reply domains (practices.reply_domain), lower-case. Optional: without it the
   * gateway knows only the domains it was started with. Re-read while the gateway runs, so a
   * practice added or changed (attune practice set-domains) has its replies taken (server.ts).
   */
  replyDomains?(): Promise<string[]>;
  /**
   * Every practice's own mail domains (practice_domains), lower-case: the envelope senders the
   * gateway relays outbound mail for (server.ts). Re-read while the gateway runs, so a practice
   * added (attune practice add) is relayed for without a restart.
   */
  practiceDomains(): Promise<string[]>;
  /** Cheap check at RCPT time, so bad tokens get 550 before any data is sent. */
  replyTokenState(token: string): Promise<TokenState>;
  /** Store, archive, record engagement and notify the clinician, in one transaction. */
  acceptReply(reply: InboundReply): Promise<ReplyResult>;
  /**
   * The delivery and the generation of its send a return path (bounce+<id>[-<generation>]-<MAC>@<reply
   * domain>, delivery/verp.ts) names, when its MAC is ours; null for a forged or mistyped one. An
   * HMAC, no database work: checked at RCPT. Optional: without it such addresses are refused like
   * any unknown one in the reply domain.
   */
  returnPathDelivery?(address: string): ReturnPathRef | null;
  /** Records a delivery status notification about a delivery (failed: terminal; delayed: not). */
  acceptDeliveryReport?(report: DeliveryReport): Promise<DeliveryReportResult>;
}

/**
 * How long after a secure send its stamp still lets the notice through unscanned: the add-in stamps
 * the draft and Exchange sends it at once, or when an offline Outlook reconnects.
 */
export const SECURED_STAMP_MAX_AGE_MS = 48 * 3600_000;
