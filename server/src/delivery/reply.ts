import { analyzeReply } from '@attune/shared/engagement';
import { appendArchive } from '../archive/index.ts';
import { appendAudit, AUDIT } from '../audit/index.ts';
import type { Reply } from '@attune/shared/api';
import { checkContentMac, contentMac, decryptFromArchive, encryptForArchive } from '../crypto/index.ts';
import { newId, nowIso } from '../store/index.ts';
import { ddb, queuedOutboxRow } from './db.ts';
import { recordFirstOpen } from './opens.ts';
import { getKeyring } from './keyring.ts';
import { ContentUnreadable, type DeliveryServices, type StoredReply } from './services.ts';
import { hashToken, looksLikeToken } from './tokens.ts';

// A patient's reply, from the viewer's reply box or by email through the gateway (reply+<token>@).
// In one transaction: the reply encrypted to the archive key, its archive entry, the `replied`
// engagement event (latency from the message it answers, the detector's crisis finding, inquiry
// type and tone), the delivery's status, the audit event and the clinician's PHI-free notice.

export type LinkState =
  | { ok: true; linkId: string; practiceId: string; deliveryId: string; messageId: string; expiresAt: string }
  | { ok: false; reason: 'unknown_token' }
  // A link that exists but no longer works still names its practice and message, so a refused try
  // is audited in that practice's trail against that message (never shown to the caller).
  | { ok: false; reason: 'expired' | 'revoked'; practiceId: string; messageId: string };

/**
 * Looks a link token up by its hash and says whether it still works: what opens the viewer. A
 * reply token (the notice's reply address) is not a link token and is unknown here.
 */
export async function resolveLink(
  svc: Pick<DeliveryServices, 'db' | 'now'>,
  token: string,
): Promise<LinkState> {
  return lookUp(svc, 'token_sha256', token);
}

/**
 * Looks up the link a reply address (reply+<token>@) answers, for a reply by email only, never the
 * viewer: by its reply token, and otherwise by the link token. Notices sent before reply tokens
 * existed carry the link token in their reply address, and patients answer those from their inbox
 * for as long as the link works: they must keep reaching the clinician. (Anyone who holds a link
 * token can reply in the viewer anyway, so this grants nothing new.)
 */
export async function resolveReplyAddress(
  svc: Pick<DeliveryServices, 'db' | 'now'>,
  token: string,
): Promise<LinkState> {
  const byReply = await lookUp(svc, 'reply_token_sha256', token);
  if (byReply.ok || byReply.reason !== 'unknown_token') return byReply;
  return lookUp(svc, 'token_sha256', token);
}

async function lookUp(
  svc: Pick<DeliveryServices, 'db' | 'now'>,
  column: 'token_sha256' | 'reply_token_sha256',
  token: string,
): Promise<LinkState> {
  if (!looksLikeToken(token)) return { ok: false, reason: 'unknown_token' };
  const link = await svc.db
    .selectFrom('viewer_links')
    .innerJoin('messages', 'messages.id', 'viewer_links.message_id')
    .select([
      'viewer_links.id as linkId',
      'viewer_links.practice_id as practiceId',
      'viewer_links.delivery_id as deliveryId',
      'viewer_links.message_id as messageId',
      'viewer_links.expires_at as expiresAt',
      'viewer_links.revoked_at as linkRevoked',
      'messages.revoked_at as messageRevoked',
    ])
    .where(`viewer_links.${column}`, '=', hashToken(token))
    .executeTakeFirst();
  if (!link) return { ok: false, reason: 'unknown_token' };
  const refs = { practiceId: link.practiceId, messageId: link.messageId };
  if (link.linkRevoked || link.messageRevoked) return { ok: false, reason: 'revoked', ...refs };
  if (link.expiresAt <= nowIso(svc.now())) return { ok: false, reason: 'expired', ...refs };
  return {
    ok: true,
    linkId: link.linkId,
    practiceId: link.practiceId,
    deliveryId: link.deliveryId,
    messageId: link.messageId,
    expiresAt: link.expiresAt,
  };
}

export interface ReplyInput {
  /** The link token (source 'viewer') or the reply address's token (source 'email'). */
  token: string;
  text: string;
  source: 'viewer' | 'email';
  receivedAt?: Date;
  raw?: Buffer;
  /** An email reply's sender address (From header, else MAIL FROM). */
  sender?: string;
  ip?: string | null;
  requestId?: string | null;
}

export type AcceptReplyResult =
  | {
      ok: true;
      replyId: string;
      messageId: string;
      patientId: string;
      latencyMs: number;
      crisis: { sentence: string; grade: 'first_person' | 'negated' | 'third_person' | 'historical' } | null;
    }
  | { ok: false; reason: 'unknown_token' | 'expired' | 'revoked' | 'too_many' };

export const MAX_REPLY_CHARS = 20_000;

/**
 * Replies one link (one recipient of one message) takes in a rolling day, by viewer and email
 * together. Each reply is stored, archived and emailed to the clinician as a notice, so whoever holds
 * a link or a reply address could otherwise fill the archive and the clinician's inbox without
 * limit; the per-address request limit does not stop one sender on many addresses, or an MTA. A
 * patient writing to their clinician stays far below it.
 */
export const MAX_REPLIES_PER_LINK_PER_DAY = 30;
const REPLY_WINDOW_MS = 24 * 3600_000;

/** Thrown inside the commit when the link is over its limit: nothing of the reply is written. */
class ReplyLimitReached extends Error {}

export async function acceptReply(svc: DeliveryServices, input: ReplyInput): Promise<AcceptReplyResult> {
  // From the viewer the token is the link's (the route resolved it already); by email it is the
  // reply address's, which never opens the viewer.
  const link =
    input.source === 'email'
      ? await resolveReplyAddress(svc, input.token)
      : await resolveLink(svc, input.token);
  if (!link.ok) return { ok: false, reason: link.reason };
  // A reply, from the viewer or by email through the gateway, is a person who read the message,
  // even if no open was recorded (script blocked, tab hidden, a mail client that never loaded the
  // page): recorded first, so the open precedes the reply in time.
  const at = input.receivedAt ?? svc.now();
  await recordFirstOpen(svc, link, 'reply', at);
  const db = svc.db;
  const d = await db
    .selectFrom('deliveries')
    .select(['id', 'patient_id', 'email', 'sent_at', 'created_at'])
    .where('id', '=', link.deliveryId)
    .executeTakeFirstOrThrow();
  const m = await db
    .selectFrom('messages')
    .select(['send_at', 'created_at'])
    .where('id', '=', link.messageId)
    .executeTakeFirstOrThrow();
  const text = input.text.slice(0, MAX_REPLY_CHARS);
  // Latency from when the message actually went out (else when it was due, else accepted).
  const sentAt = Date.parse(d.sent_at ?? m.send_at ?? m.created_at);
  const latencyMs = Math.max(0, at.getTime() - sentAt);
  const analysis = analyzeReply(text);
  const crisis = analysis.fields.crisis ?? null;

  const keyring = await getKeyring(db, svc.masterKey, link.practiceId);
  const stored: StoredReply = {
    v: 1,
    text,
    source: input.source,
    ...(input.raw ? { rawBase64: input.raw.toString('base64') } : {}),
    ...(input.sender ? { sender: input.sender.toLowerCase() } : {}),
  };
  // A reply address can be written to by anyone who saw it (it travels in headers and logs): the
  // clinician's notice says when a reply came from another address than the patient's.
  const otherSender = input.sender !== undefined && input.sender.toLowerCase() !== d.email.toLowerCase();
  const ciphertext = Buffer.from(await encryptForArchive(JSON.stringify(stored), keyring.archive.publicKey));
  const replyId = newId();
  const t = nowIso(at);
  const nowText = nowIso(svc.now());

  const windowStart = nowIso(new Date(svc.now().getTime() - REPLY_WINDOW_MS));
  try {
    await svc.commit(async (tx) => {
      // Counted in the transaction that adds the reply: on SQLite writes are serial, so concurrent
      // replies cannot both take the last place.
      const recent = await tx
        .selectFrom('replies')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('message_id', '=', link.messageId)
        .where('delivery_id', '=', d.id)
        .where('created_at', '>', windowStart)
        .executeTakeFirstOrThrow();
      if (Number(recent.n) >= MAX_REPLIES_PER_LINK_PER_DAY) throw new ReplyLimitReached();
      await tx
        .insertInto('replies')
        .values({
          id: replyId,
          practice_id: link.practiceId,
          message_id: link.messageId,
          delivery_id: d.id,
          patient_id: d.patient_id,
          body_ct: ciphertext,
          body_mac: contentMac(svc.masterKey, 'replies', {
            id: replyId,
            practiceId: link.practiceId,
            bodyCt: ciphertext,
          }),
          created_at: t,
        })
        .execute();
      await appendArchive(tx, { practiceId: link.practiceId, kind: 'reply', refId: replyId, ciphertext, at });
      if (d.patient_id) {
        await tx
          .insertInto('engagement_events')
          .values({
            id: `replied:${replyId}`,
            practice_id: link.practiceId,
            patient_id: d.patient_id,
            type: 'replied',
            at: t,
            message_id: link.messageId,
            latency_ms: latencyMs,
            topics: '[]',
            // The crisis sentence is PHI shown to the clinician only; it lives on the event as the
            // engagement contract (api/events.ts) defines, never in logs or audit details.
            data: JSON.stringify({ inReplyTo: link.messageId, source: input.source, ...analysis.fields }),
            created_at: nowText,
          })
          .execute();
      }
      await tx
        .updateTable('deliveries')
        .set({ status: 'replied', replied_at: t, updated_at: nowText })
        .where('id', '=', d.id)
        .where('replied_at', 'is', null)
        .execute();
      await appendAudit(tx, {
        action: AUDIT.VIEWER_REPLY,
        outcome: 'success',
        actor: { type: 'patient', id: d.patient_id },
        practiceId: link.practiceId,
        ip: input.ip ?? null,
        requestId: input.requestId ?? null,
        target: { type: 'reply', id: replyId },
        // References only (CONVENTIONS 8): whether the reply holds crisis language is the patient's
        // health information; it is on the engagement event and the notice, never in the trail.
        details: { messageId: link.messageId, source: input.source, ...(otherSender ? { otherSender } : {}) },
      });
      await ddb(tx)
        .insertInto('outbox')
        .values(
          queuedOutboxRow({
            id: newId(),
            practice_id: link.practiceId,
            delivery_id: null,
            kind: 'reply_notice',
            payload_ref: replyId,
            payload: Buffer.from(
              JSON.stringify({ urgent: crisis !== null && crisis.grade === 'first_person', otherSender }),
            ),
            available_at: nowText,
            created_at: nowText,
          }),
        )
        .execute();
    });
  } catch (e) {
    if (!(e instanceof ReplyLimitReached)) throw e;
    // Refused, and audited as refused in the practice's trail against the message (references only).
    await svc.commit((tx) =>
      appendAudit(tx, {
        action: AUDIT.VIEWER_REPLY,
        outcome: 'failure',
        actor: { type: 'patient', id: d.patient_id },
        practiceId: link.practiceId,
        ip: input.ip ?? null,
        requestId: input.requestId ?? null,
        target: { type: 'message', id: link.messageId },
        details: { source: input.source, reason: 'too_many' },
      }),
    );
    return { ok: false, reason: 'too_many' };
  }
  svc.kick();
  return { ok: true, replyId, messageId: link.messageId, patientId: d.patient_id ?? '', latencyMs, crisis };
}

/**
 * A stored reply of `practiceId`, decrypted for a clinician of that practice: null when there is no
 * such reply in the practice (another practice's id is not found either). The caller audits the read.
 */
export async function readReply(
  svc: Pick<DeliveryServices, 'db' | 'masterKey'>,
  practiceId: string,
  replyId: string,
): Promise<Reply | null> {
  const row = await svc.db
    .selectFrom('replies')
    .innerJoin('deliveries', 'deliveries.id', 'replies.delivery_id')
    .select([
      'replies.id',
      'replies.message_id',
      'replies.body_ct',
      'replies.body_mac',
      'replies.created_at',
      'deliveries.email',
    ])
    .where('replies.id', '=', replyId)
    .where('replies.practice_id', '=', practiceId)
    .executeTakeFirst();
  if (!row) return null;
  // Before decrypting: content the master key does not vouch for was not written by us.
  const mac = checkContentMac(
    svc.masterKey,
    'replies',
    { id: replyId, practiceId, bodyCt: row.body_ct },
    row.body_mac,
  );
  if (!mac.ok) throw new ContentUnreadable('reply', replyId, practiceId, mac.reason);
  const keyring = await getKeyring(svc.db, svc.masterKey, practiceId);
  const r = await decryptFromArchive(row.body_ct, keyring.archive.privateKey);
  if (!r.ok) throw new ContentUnreadable('reply', replyId, practiceId, r.reason);
  const stored = JSON.parse(Buffer.from(r.data).toString('utf8')) as StoredReply;
  const crisis = analyzeReply(stored.text).fields.crisis;
  return {
    id: row.id,
    messageId: row.message_id,
    from: row.email,
    receivedAt: row.created_at,
    source: stored.source,
    text: stored.text,
    otherSender:
      stored.sender !== undefined && stored.sender !== row.email.toLowerCase() ? stored.sender : null,
    // As the notice was marked: first-person crisis language.
    crisis: crisis?.grade === 'first_person',
  };
}
