import { createHash } from 'node:crypto';
import type { Policy } from '@attune/shared/policy';
import type { SendMessageRequest } from '@attune/shared/api';
import { CLIENT_NOTICE_KIND } from '../delivery/client-notice.ts';
import { resolveReplyAddress } from '../delivery/reply.ts';
import { AUDIT, appendAudit } from '../audit/index.ts';
import { nowIso, patientEmailsAmong, type Store } from '../store/index.ts';
import { ensureClinician } from '../store/clinicians.ts';
import { getPolicy } from '../store/practices.ts';
import {
  SECURED_STAMP_MAX_AGE_MS,
  type DeliveryReport,
  type DeliveryReportResult,
  type GatewayBackend,
  type GatewayMail,
  type InboundReply,
  type OutboundSender,
  type ReplyResult,
  type ReturnPathRef,
  type SecureSendResult,
  type TokenState,
} from './backend.ts';
import { isDomain } from './config.ts';
import type { Relay } from './relay.ts';

// GatewayBackend over the real store. Lookups (sender, patients, secured ids, reply tokens) are
// here; the two writes that must match the API exactly (secure send, reply capture) are the
// delivery pipeline's own functions, passed in, so the gateway cannot drift from POST /v1/messages
// or the viewer's reply.

export interface Pipeline {
  secureSend(
    sender: OutboundSender,
    request: SendMessageRequest,
    ctx: { idempotencyKey: string | null },
  ): Promise<SecureSendResult>;
  acceptReply(reply: InboundReply): Promise<ReplyResult>;
  /** The outbox's own queueing (delivery/gateway-mail.ts), for the gateway's reports. */
  queueMail(mail: GatewayMail): Promise<void>;
  /** A relayed message's reference (delivery/gateway-mail.ts relayedReference; needs the master key). */
  relayedReference(transactionKey: string): string;
  /** A return path's delivery and generation when its MAC is ours (delivery/verp.ts; needs the master key). */
  returnPathDelivery(address: string): ReturnPathRef | null;
  /** A bounce or delay report about a delivery (delivery/delivery-report.ts). */
  acceptDeliveryReport(report: DeliveryReport): Promise<DeliveryReportResult>;
}

const CACHE_MS = 5_000;

/**
 * How long the gateway remembers what it queued (gateway_mail_keys): past the longest a sender's
 * server retries a transaction (RFC 5321 4.5.4.1: at least 4-5 days), with room to spare.
 */
const QUEUED_KEY_KEEP_MS = 14 * 86_400_000;

export function createStoreBackend(opts: {
  store: Store;
  relay: Relay;
  pipeline: Pipeline;
  now?: () => Date;
  /** AUTO_PROVISION_CLINICIANS: create an account for a practice sender who has none (provisionSender). */
  autoProvision?: boolean;
  /** Addresses Attune itself sends from (MAIL_FROM, GATEWAY_DSN_FROM): never given an account. */
  serviceAddresses?: readonly string[];
}): GatewayBackend & Required<Pick<GatewayBackend, 'replyDomains'>> {
  const { store, relay, pipeline } = opts;
  const now = opts.now ?? (() => new Date());
  const db = store.db;
  // Sender resolution runs for every relayed message; a short cache keeps it off the database at
  // gateway rates while a policy change still applies within seconds.
  const senders = new Map<string, { at: number; value: OutboundSender | null }>();
  const patients = new Map<string, { at: number; value: boolean }>();
  let prunedAt = 0;

  // The same policy reader the API uses (a stored policy that no longer validates reads as the default).
  const policyOf = async (practiceId: string): Promise<Policy> => (await getPolicy(db, practiceId)).policy;

  return {
    async resolveSender(email) {
      const key = email.toLowerCase();
      const hit = senders.get(key);
      if (hit && Date.now() - hit.at < CACHE_MS) return hit.value;
      const c = await db
        .selectFrom('clinicians')
        .select(['id', 'practice_id'])
        .where('email', '=', key)
        .where('disabled', '=', 0)
        .executeTakeFirst();
      let value: OutboundSender | null = null;
      if (c) {
        value = {
          practiceId: c.practice_id,
          clinicianId: c.id,
          email: key,
          policy: await policyOf(c.practice_id),
        };
      } else {
        // Not a clinician, but from one of a practice's domains (a shared mailbox, a front desk):
        // scanned under that practice's policy; PHI from it is refused rather than attributed.
        const domain = key.slice(key.lastIndexOf('@') + 1);
        const d = await db
          .selectFrom('practice_domains')
          .select('practice_id')
          .where('domain', '=', domain)
          .executeTakeFirst();
        if (d)
          value = {
            practiceId: d.practice_id,
            clinicianId: null,
            email: key,
            policy: await policyOf(d.practice_id),
          };
      }
      senders.set(key, { at: Date.now(), value });
      if (senders.size > 5_000) senders.clear();
      return value;
    },

    async provisionSender(sender) {
      // Attune's own senders (notices, reports, bounces) and role addresses are nobody's account:
      // their PHI-looking mail (a notice stripped of its stamp) is refused, never re-secured.
      if (!opts.autoProvision || isServiceAddress(sender.email, opts.serviceAddresses)) return null;
      const at = nowIso(now());
      const clinician = await db.transaction().execute(async (tx) => {
        const row = await ensureClinician(tx, sender.practiceId, sender.email, at);
        if (row.created)
          await appendAudit(tx, {
            practiceId: sender.practiceId,
            actor: { type: 'system', id: 'gateway' },
            action: AUDIT.CLINICIAN_PROVISIONED,
            outcome: 'success',
            target: { type: 'clinician', id: row.id },
            details: { role: 'clinician', source: 'gateway' },
          });
        return row;
      });
      if (clinician.disabled) return null;
      const value: OutboundSender = { ...sender, clinicianId: clinician.id };
      senders.set(sender.email, { at: Date.now(), value });
      return value;
    },

    async knownPatients(practiceId, emails) {
      const out = new Set<string>();
      const ask: string[] = [];
      for (const e of emails.map((x) => x.toLowerCase())) {
        const hit = patients.get(`${practiceId}|${e}`);
        if (hit && Date.now() - hit.at < CACHE_MS) {
          if (hit.value) out.add(e);
        } else ask.push(e);
      }
      if (ask.length === 0) return out;
      const found = await patientEmailsAmong(db, practiceId, ask);
      if (patients.size > 20_000) patients.clear();
      for (const e of ask) {
        patients.set(`${practiceId}|${e}`, { at: Date.now(), value: found.has(e) });
        if (found.has(e)) out.add(e);
      }
      return out;
    },

    async isSecuredMessage(practiceId, id, recipients) {
      const row = await db
        .selectFrom('messages')
        .select('created_at')
        .where('id', '=', id)
        .where('practice_id', '=', practiceId)
        .executeTakeFirst();
      if (!row || now().getTime() - Date.parse(row.created_at) > SECURED_STAMP_MAX_AGE_MS) return false;
      const sentTo = new Set(
        (
          await db
            .selectFrom('deliveries')
            .select('email')
            .where('message_id', '=', id)
            .where('practice_id', '=', practiceId)
            .execute()
        ).map((d) => d.email.toLowerCase()),
      );
      return recipients.length > 0 && recipients.every((r) => sentTo.has(r.toLowerCase()));
    },

    // `token` is from the notice's link or its reply address (each has its own token; an older
    // notice's reply address holds the link token): either names the same link.
    async clientNoticeRecipient(practiceId, token) {
      const link = await resolveReplyAddress({ db, now }, token);
      if (!link.ok || link.practiceId !== practiceId) return null;
      const row = await db
        .selectFrom('deliveries')
        .innerJoin('outbox', 'outbox.delivery_id', 'deliveries.id')
        .select('deliveries.email')
        .where('deliveries.id', '=', link.deliveryId)
        .where('outbox.kind', '=', CLIENT_NOTICE_KIND)
        .executeTakeFirst();
      return row ? row.email.toLowerCase() : null;
    },

    async noticeTokenMessage(practiceId, token) {
      const link = await resolveReplyAddress({ db, now }, token);
      // An expired or revoked link is still its message's own.
      if (!link.ok && link.reason === 'unknown_token') return null;
      return link.practiceId === practiceId ? link.messageId : null;
    },

    secureSend: (sender, request, ctx) => pipeline.secureSend(sender, request, ctx),

    async practiceDomain(practiceId) {
      const d = await db
        .selectFrom('practice_domains')
        .select('domain')
        .where('practice_id', '=', practiceId)
        .orderBy('created_at')
        .executeTakeFirst();
      return d?.domain ?? null;
    },

    // Idempotent on the Message-ID, which the gateway derives from the transaction (outbound.ts):
    // a retried transaction (our 250 lost after the report was queued) finds it and queues nothing.
    // The key is written after the mail is committed, so a crash between the two can at worst
    // queue it twice, never drop it.
    async queueMail(mail) {
      const key = createHash('sha256').update(mail.messageId).digest('hex');
      const seen = await db
        .selectFrom('gateway_mail_keys')
        .select('message_id_sha256')
        .where('message_id_sha256', '=', key)
        .executeTakeFirst();
      if (seen) return;
      await pipeline.queueMail(mail);
      const at = now();
      await db
        .insertInto('gateway_mail_keys')
        .values({ message_id_sha256: key, practice_id: mail.practiceId, created_at: nowIso(at) })
        .onConflict((oc) => oc.column('message_id_sha256').doNothing())
        .execute();
      if (at.getTime() - prunedAt > 3_600_000) {
        prunedAt = at.getTime();
        await db
          .deleteFrom('gateway_mail_keys')
          .where('created_at', '<', nowIso(new Date(at.getTime() - QUEUED_KEY_KEEP_MS)))
          .execute();
      }
    },

    relay: (envelope, raw) => relay.send(envelope, raw),

    async replyDomains() {
      const rows = await db
        .selectFrom('practices')
        .select('reply_domain')
        .where('reply_domain', 'is not', null)
        .execute();
      return rows.flatMap((r) => {
        const d = r.reply_domain?.toLowerCase();
        return d && isDomain(d) ? [d] : [];
      });
    },

    async practiceDomains() {
      const rows = await db.selectFrom('practice_domains').select('domain').execute();
      return rows.map((r) => r.domain.toLowerCase());
    },

    // The viewer's own link check (expiry, revoked link or message), so a reply address works
    // exactly as long as the link in the same notice; found by the reply token, or by the link
    // token an older notice's reply address carries (delivery/reply.ts resolveReplyAddress).
    async replyTokenState(token): Promise<TokenState> {
      const link = await resolveReplyAddress({ db, now }, token);
      if (link.ok) return 'valid';
      return link.reason === 'unknown_token' ? 'unknown' : link.reason;
    },

    acceptReply: (reply) => pipeline.acceptReply(reply),
    relayedReference: (transactionKey) => pipeline.relayedReference(transactionKey),
    returnPathDelivery: (address) => pipeline.returnPathDelivery(address),
    acceptDeliveryReport: (report) => pipeline.acceptDeliveryReport(report),
  };
}

/** Local parts of the addresses Attune and mail systems send from, which no clinician signs in as. */
const SERVICE_LOCAL =
  /^(?:notices?|no-?reply|do-?not-?reply|mailer-daemon|postmaster|hostmaster|abuse|bounces?(?:[+-].*)?|reply(?:[+-].*)?)$/i;

function isServiceAddress(email: string, configured: readonly string[] = []): boolean {
  const at = email.lastIndexOf('@');
  return SERVICE_LOCAL.test(email.slice(0, at)) || configured.some((a) => a.toLowerCase() === email);
}
