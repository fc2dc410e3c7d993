import { appendAudit, AUDIT } from '../audit/index.ts';
import { checkContentMac, decryptFromArchive, sealSecret } from '../crypto/index.ts';
import { ddb, queuedOutboxRow } from '../delivery/db.ts';
import { getKeyring } from '../delivery/keyring.ts';
import { recordFirstOpen, type OpenEvidence } from '../delivery/opens.ts';
import { resolveLink, type LinkState } from '../delivery/reply.ts';
import { outboxSealContext } from '../delivery/send.ts';
import { ContentUnreadable, type DeliveryServices, type StoredContent } from '../delivery/services.ts';
import { hashOneTimeCode, newOneTimeCode, safeEqualHex } from '../delivery/tokens.ts';
import { getPolicy, newId, nowIso } from '../store/index.ts';
import type { ViewerKeys } from './session.ts';

// What the viewer does with a link: read the message, audit views, record the first open (only on
// evidence of a person), run the one-time code step. The HTTP edge (http/routes/viewer.ts) renders pages around these.

export type OpenLink = LinkState & { ok: true };

export const CODE_MINUTES = 10;
/** Wrong codes before the code is void and a new one must be requested. */
export const MAX_CODE_ATTEMPTS = 5;
/** Codes a link may ask for in all, and how far apart. */
export const MAX_CODE_SENDS = 10;
export const CODE_RESEND_MS = 30_000;

export { resolveLink };

export async function practiceName(
  svc: Pick<DeliveryServices, 'db' | 'config'>,
  practiceId: string,
): Promise<string> {
  const p = await svc.db
    .selectFrom('practices')
    .select('name')
    .where('id', '=', practiceId)
    .executeTakeFirst();
  return p?.name ?? svc.config.practice.name;
}

export async function codeRequired(svc: Pick<DeliveryServices, 'db'>, practiceId: string): Promise<boolean> {
  return (await getPolicy(svc.db, practiceId)).policy.viewerSecondFactor;
}

export interface MessageForViewer {
  content: StoredContent;
  sentAt: string;
}

export async function readMessage(svc: DeliveryServices, link: OpenLink): Promise<MessageForViewer | null> {
  const m = await svc.db
    .selectFrom('messages')
    .select(['body_ct', 'body_mac', 'send_at', 'created_at'])
    .where('id', '=', link.messageId)
    .where('practice_id', '=', link.practiceId)
    .executeTakeFirst();
  if (!m) return null;
  const d = await svc.db
    .selectFrom('deliveries')
    .select(['sent_at'])
    .where('id', '=', link.deliveryId)
    .executeTakeFirst();
  // Before decrypting: content the master key does not vouch for (replaced in the database with
  // other content encrypted to the public archive key) is never shown to the patient.
  const mac = checkContentMac(
    svc.masterKey,
    'messages',
    { id: link.messageId, practiceId: link.practiceId, bodyCt: m.body_ct },
    m.body_mac,
  );
  if (!mac.ok) throw new ContentUnreadable('message', link.messageId, link.practiceId, mac.reason);
  const keyring = await getKeyring(svc.db, svc.masterKey, link.practiceId);
  const r = await decryptFromArchive(m.body_ct, keyring.archive.privateKey);
  if (!r.ok) throw new ContentUnreadable('message', link.messageId, link.practiceId, r.reason);
  return {
    content: JSON.parse(Buffer.from(r.data).toString('utf8')) as StoredContent,
    sentAt: d?.sent_at ?? m.send_at ?? m.created_at,
  };
}

/**
 * Audits a view of the message page (a PHI read: whoever fetched the link was shown the content).
 * It changes no state: mail scanners and link prefetchers fetch links in incoming mail with no
 * person present, so the fetch alone is not an open (see recordFirstOpen).
 */
export async function auditView(
  svc: DeliveryServices,
  link: OpenLink,
  ctx: { ip: string | null; requestId: string | null },
): Promise<void> {
  const d = await svc.db
    .selectFrom('deliveries')
    .select(['patient_id'])
    .where('id', '=', link.deliveryId)
    .executeTakeFirst();
  await appendAudit(svc.db, {
    action: AUDIT.VIEWER_OPEN,
    outcome: 'success',
    actor: { type: 'patient', id: d?.patient_id ?? null },
    practiceId: link.practiceId,
    ip: ctx.ip,
    requestId: ctx.requestId,
    target: { type: 'message', id: link.messageId },
    details: { view: 'message' },
  });
}

// The first open (evidence of a person) is recorded in delivery/opens.ts, shared with replies that
// arrive by email through the gateway.
export { recordFirstOpen, type OpenEvidence } from '../delivery/opens.ts';

/** A view and a first open together, for callers that already hold evidence of a person. */
export async function recordOpen(
  svc: DeliveryServices,
  link: OpenLink,
  ctx: { ip: string | null; requestId: string | null },
  evidence: OpenEvidence = 'page_visible',
): Promise<void> {
  await auditView(svc, link, ctx);
  await recordFirstOpen(svc, link, evidence);
}

export type CodeSendResult = { ok: true } | { ok: false; reason: 'too_soon' | 'too_many' };

/** Makes a new one-time code for the link and queues it to the recipient's address. */
export async function requestCode(
  svc: DeliveryServices,
  keys: ViewerKeys,
  link: OpenLink,
): Promise<CodeSendResult> {
  const now = svc.now();
  const db = ddb(svc.db);
  const row = await db
    .selectFrom('viewer_links')
    .select(['otp_sends', 'otp_expires_at'])
    .where('id', '=', link.linkId)
    .executeTakeFirstOrThrow();
  if (row.otp_sends >= MAX_CODE_SENDS) return { ok: false, reason: 'too_many' };
  const lastSent = row.otp_expires_at ? Date.parse(row.otp_expires_at) - CODE_MINUTES * 60_000 : 0;
  if (now.getTime() - lastSent < CODE_RESEND_MS) return { ok: false, reason: 'too_soon' };
  const code = newOneTimeCode();
  const outboxId = newId();
  const t = nowIso(now);
  await svc.db
    .transaction()
    .execute(async (tx) => {
      const x = ddb(tx);
      // Conditional on the count read above: two concurrent requests cannot both pass the limit.
      const upd = await x
        .updateTable('viewer_links')
        .set({
          otp_hash: hashOneTimeCode(keys.otp, link.linkId, code),
          otp_expires_at: nowIso(new Date(now.getTime() + CODE_MINUTES * 60_000)),
          otp_attempts: 0,
          otp_sends: row.otp_sends + 1,
        })
        .where('id', '=', link.linkId)
        .where('otp_sends', '=', row.otp_sends)
        .executeTakeFirst();
      if (Number(upd.numUpdatedRows) === 0) throw new ConcurrentCodeRequest();
      await x
        .insertInto('outbox')
        .values(
          queuedOutboxRow({
            id: outboxId,
            practice_id: link.practiceId,
            delivery_id: link.deliveryId,
            kind: 'otp',
            payload_ref: link.linkId,
            payload: Buffer.from(
              sealSecret(
                svc.masterKey,
                JSON.stringify({ code, minutes: CODE_MINUTES }),
                outboxSealContext(outboxId),
              ),
            ),
            available_at: t,
            created_at: t,
          }),
        )
        .execute();
    })
    .catch((err: unknown) => {
      if (err instanceof ConcurrentCodeRequest) return;
      throw err;
    });
  svc.kick();
  return { ok: true };
}

class ConcurrentCodeRequest extends Error {}

export type CodeCheck = { ok: true } | { ok: false; reason: 'wrong' | 'expired' | 'locked' | 'none' };

export async function verifyCode(
  svc: DeliveryServices,
  keys: ViewerKeys,
  link: OpenLink,
  input: string,
): Promise<CodeCheck> {
  const code = input.replace(/\s+/g, '');
  const row = await svc.db
    .selectFrom('viewer_links')
    .select(['otp_hash', 'otp_expires_at', 'otp_attempts'])
    .where('id', '=', link.linkId)
    .executeTakeFirstOrThrow();
  if (!row.otp_hash || !row.otp_expires_at) return { ok: false, reason: 'none' };
  if (row.otp_attempts >= MAX_CODE_ATTEMPTS) return { ok: false, reason: 'locked' };
  if (row.otp_expires_at <= nowIso(svc.now())) return { ok: false, reason: 'expired' };
  // Count the attempt before comparing, conditionally, so parallel guesses cannot exceed the limit.
  const counted = await svc.db
    .updateTable('viewer_links')
    .set({ otp_attempts: row.otp_attempts + 1 })
    .where('id', '=', link.linkId)
    .where('otp_attempts', '=', row.otp_attempts)
    .executeTakeFirst();
  if (Number(counted.numUpdatedRows) === 0) return { ok: false, reason: 'wrong' };
  if (!/^\d{8}$/.test(code) || !safeEqualHex(hashOneTimeCode(keys.otp, link.linkId, code), row.otp_hash)) {
    return { ok: false, reason: row.otp_attempts + 1 >= MAX_CODE_ATTEMPTS ? 'locked' : 'wrong' };
  }
  await svc.db
    .updateTable('viewer_links')
    .set({ otp_verified_at: nowIso(svc.now()), otp_hash: null, otp_expires_at: null })
    .where('id', '=', link.linkId)
    .execute();
  return { ok: true };
}
