import type { Policy } from '@attune/shared/policy';
import type { SendMessageRequest } from '@attune/shared/api';
import { CLIENT_NOTICE_KIND } from '../delivery/client-notice.ts';
import { resolveReplyAddress } from '../delivery/reply.ts';
import { patientEmailsAmong, type Store } from '../store/index.ts';
import { getPolicy } from '../store/practices.ts';
import {
  SECURED_STAMP_MAX_AGE_MS,
  type GatewayBackend,
  type GatewayMail,
  type InboundReply,
  type OutboundSender,
  type ReplyResult,
  type SecureSendResult,
  type TokenState,
} from './backend.ts';
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
}

const CACHE_MS = 5_000;

export function createStoreBackend(opts: {
  store: Store;
  relay: Relay;
  pipeline: Pipeline;
  now?: () => Date;
}): GatewayBackend {
  const { store, relay, pipeline } = opts;
  const now = opts.now ?? (() => new Date());
  const db = store.db;
  // Sender resolution runs for every relayed message; a short cache keeps it off the database at
  // gateway rates while a policy change still applies within seconds.
  const senders = new Map<string, { at: number; value: OutboundSender | null }>();
  const patients = new Map<string, { at: number; value: boolean }>();

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

    queueMail: (mail) => pipeline.queueMail(mail),

    relay: (envelope, raw) => relay.send(envelope, raw),

    // The viewer's own link check (expiry, revoked link or message), so a reply address works
    // exactly as long as the link in the same notice; found by the reply token, or by the link
    // token an older notice's reply address carries (delivery/reply.ts resolveReplyAddress).
    async replyTokenState(token): Promise<TokenState> {
      const link = await resolveReplyAddress({ db, now }, token);
      if (link.ok) return 'valid';
      return link.reason === 'unknown_token' ? 'unknown' : link.reason;
    },

    acceptReply: (reply) => pipeline.acceptReply(reply),
  };
}
