import { createHash } from 'node:crypto';
import {
  followOnKeys,
  MAX_ATTACHMENT_BYTES,
  type SendMessageRequest,
  type SendMessageResponse,
} from '@attune/shared/api';
import { isInternal, type Decision } from '@attune/shared/policy';
import { appendArchive } from '../archive/index.ts';
import { appendAudit, AUDIT } from '../audit/index.ts';
import {
  contentMac,
  encryptForArchiveAfter,
  openSecret,
  sealSecret,
  type MasterKey,
} from '../crypto/index.ts';
import { addCare, getPolicy, newId, nowIso, type Db } from '../store/index.ts';
import { insertRow, runCompiled } from '../store/compiled.ts';
import { ddb, newViewerLinkRow, queuedOutboxRow } from './db.ts';
import { getKeyring } from './keyring.ts';
import {
  CLIENT_NOTICE_KIND,
  clientDeliveryIndex,
  clientNotice,
  replayClientNotice,
  sealClientToken,
} from './client-notice.ts';
import { checkInReplyTo } from './in-reply-to.ts';
import { scanGate } from './scan-gate.ts';
import { attachmentReasons, extractAll, scanInputOf } from '../attachments/index.ts';
import { draftNotice } from './mime.ts';
import { bestSendTime } from './schedule.ts';
import { mailIdentity, type DeliveryServices, type StoredContent } from './services.ts';
import { newLinkToken, newReplyToken } from './tokens.ts';

// The secure send: POST /v1/messages and the SMTP gateway both come here, so they cannot drift.
// The server scans again (never trusting the client's verdict), then writes in ONE transaction the
// message (content encrypted to the archive key), its archive entry, its audit event, a delivery and
// an outbox row per recipient, link rows and `sent` engagement events. A resolved `ok` means durable.

export interface SendContext {
  practiceId: string;
  clinicianId: string;
  requestId?: string | null;
  ip?: string | null;
  /** Client retry key: a second call with the same key returns the first send. */
  idempotencyKey?: string | null;
  /** Where the send came from, for the audit trail. */
  channel?: 'api' | 'gateway';
}

export type SendResult =
  | { ok: true; response: SendMessageResponse; replayed: boolean }
  | { ok: false; code: 'blocked_by_policy'; message: string; reasons: string[] }
  | { ok: false; code: 'payload_too_large'; message: string }
  | { ok: false; code: 'validation_failed'; message: string }
  | {
      ok: false;
      code: 'idempotency_conflict';
      message: string;
      /**
       * The message already accepted under this key, when the caller sent it: the client can tell
       * the clinician and offer to revoke it. Absent for another clinician's message (a client must
       * never offer to revoke a colleague's send); keys are scoped to the practice, so another
       * practice's message is never found at all.
       */
      messageId?: string;
    };

/** Outbox payload of a secure-link delivery, sealed under the master key: its tokens. */
export interface LinkPayload {
  /** Opens the message at /m/<token>. */
  token: string;
  /**
   * For the notice's reply address only (tokens.ts newReplyToken). Absent in payloads queued before
   * reply tokens existed: the outbox issues one when it sends (reply-token.ts).
   */
  replyToken?: string;
}

export function outboxSealContext(outboxId: string): string {
  return `outbox:${outboxId}`;
}

interface Recipient {
  email: string;
  kind: 'to' | 'cc';
}

function recipientsOf(req: SendMessageRequest): Recipient[] {
  const seen = new Set<string>();
  const out: Recipient[] = [];
  for (const [list, kind] of [
    [req.to, 'to'],
    [req.cc, 'cc'],
  ] as const) {
    for (const email of list) {
      if (seen.has(email)) continue;
      seen.add(email);
      out.push({ email, kind });
    }
  }
  return out;
}

export async function sendSecureMessage(
  svc: DeliveryServices,
  ctx: SendContext,
  req: SendMessageRequest,
): Promise<SendResult> {
  const db = svc.db;
  const idemKey = ctx.idempotencyKey?.slice(0, 200) ?? null;
  const reqHash = idemKey ? requestHash(req) : null;
  if (idemKey && reqHash) {
    const replay = await replayIdempotent(svc, ctx, idemKey, req.delivery, reqHash);
    if (replay && 'conflict' in replay) return idempotencyConflict(replay.conflict);
    if (replay) return { ok: true, response: replay, replayed: true };
  }

  // Attachments: decoded once, limited one by one and in total (413 from the route).
  const attachments: Array<{ filename: string; contentType: string; bytes: Buffer; base64: string }> = [];
  let total = Buffer.byteLength(req.text ?? '') + Buffer.byteLength(req.html ?? '');
  for (const a of req.attachments) {
    const bytes = Buffer.from(a.contentBase64, 'base64');
    if (bytes.length > MAX_ATTACHMENT_BYTES) {
      return {
        ok: false,
        code: 'payload_too_large',
        message: `An attachment exceeds ${MAX_ATTACHMENT_BYTES / (1024 * 1024)} MB.`,
      };
    }
    total += bytes.length;
    attachments.push({ filename: a.filename, contentType: a.contentType, bytes, base64: a.contentBase64 });
  }
  if (total > svc.config.limits.maxMessageBytes) {
    return {
      ok: false,
      code: 'payload_too_large',
      message: `The message exceeds ${Math.floor(svc.config.limits.maxMessageBytes / (1024 * 1024))} MB in total.`,
    };
  }

  // Only a message of this practice may be answered (in-reply-to.ts): 400 otherwise, never stored.
  if (req.inReplyTo !== undefined) {
    const refused = await checkInReplyTo(db, ctx, req.inReplyTo);
    if (refused) return refused;
  }

  const recipients = recipientsOf(req);
  const emails = recipients.map((r) => r.email);
  const patientRows = await runCompiled(
    db,
    `send:patients:${emails.length}`,
    [ctx.practiceId, ...emails],
    () =>
      db
        .selectFrom('patients')
        .select(['id', 'email', 'public_key', 'time_zone'])
        .where('practice_id', '=', ctx.practiceId)
        .where('email', 'in', emails),
  );
  const patients = new Map(patientRows.map((p) => [p.email.toLowerCase(), p]));

  // Scan again on the server with the practice's policy (never trust the client's verdict), and
  // encrypt the content to the archive key unless the scan blocks it: one trip to the encryption
  // thread (scan-gate.ts). The send's timing is worked out first, its error reported after the scan.
  const { policy } = await getPolicy(db, ctx.practiceId);

  // When: now, a given time, or the patient's best hour.
  const now = svc.now();
  const timingReasons: string[] = [];
  let sendAt = now;
  if (req.sendAt === 'best') {
    const first = recipients.find((r) => r.kind === 'to');
    const p = first ? patients.get(first.email) : undefined;
    const best = await bestSendTime(db, ctx.practiceId, p?.id ?? null, p?.time_zone ?? null, now);
    sendAt = best.at;
    timingReasons.push(best.reason);
  } else if (req.sendAt !== undefined) {
    const t = new Date(req.sendAt);
    if (t.getTime() > now.getTime()) sendAt = t;
  }
  // A link lives at most the practice's linkExpiryDays from when it goes out (its default too): a
  // clinician may shorten it, never lengthen it past the practice's policy.
  const sendStart = Math.max(now.getTime(), sendAt.getTime());
  const latestExpiry = sendStart + policy.linkExpiryDays * 86_400_000;
  const expiresAt = req.expiresAt
    ? new Date(req.expiresAt)
    : new Date(sendAt.getTime() + policy.linkExpiryDays * 86_400_000);
  const timingError =
    expiresAt.getTime() <= sendStart
      ? 'expiresAt must be later than the send time.'
      : expiresAt.getTime() > latestExpiry
        ? `expiresAt must be at most ${policy.linkExpiryDays} days after the send time (the practice's link expiry limit, linkExpiryDays).`
        : null;
  const badTiming = timingError !== null;
  // Within a second counts as "now": the worker picks it up at once.
  const scheduled = sendAt.getTime() > now.getTime() + 1000;

  const keyring = await getKeyring(db, svc.masterKey, ctx.practiceId);
  const content: StoredContent = {
    v: 1,
    subject: req.subject,
    ...(req.text !== undefined ? { text: req.text } : {}),
    ...(req.html !== undefined ? { html: req.html } : {}),
    attachments: attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      contentBase64: a.base64,
    })),
  };
  // The attachments' contents for the scan (PDF, Office, RTF, HTML, text: attachments/), read only
  // when the message has attachments; one that cannot be read is scanned by name and said so.
  const files =
    attachments.length > 0
      ? await extractAll(
          attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, bytes: a.bytes })),
        )
      : [];
  const gate = scanGate(
    policy,
    scanInputOf(req, attachments, files),
    recipients.map((r) => ({ email: r.email, isPatient: patients.has(r.email) })),
  );
  // A send that will be refused for its timing is not encrypted.
  const checked = badTiming
    ? { gate: gate.fn(...(gate.args as Parameters<typeof gate.fn>)), data: null }
    : await encryptForArchiveAfter(gate, JSON.stringify(content), keyring.archive.publicKey);
  const { decision, contentHits } = checked.gate;
  const fileReasons = files.length > 0 ? attachmentReasons(files, contentHits, decision.phi) : [];
  if (decision.decision === 'block') {
    await appendAudit(db, {
      action: AUDIT.MESSAGE_SEND,
      outcome: 'failure',
      actor: { type: 'clinician', id: ctx.clinicianId },
      practiceId: ctx.practiceId,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      details: { code: 'blocked_by_policy', recipients: recipients.length, channel: ctx.channel ?? 'api' },
    });
    return {
      ok: false,
      code: 'blocked_by_policy',
      message: 'The practice policy does not allow this message to be sent, even securely.',
      reasons: [...decision.reasons, ...fileReasons],
    };
  }
  if (timingError !== null || !checked.data) {
    return {
      ok: false,
      code: 'validation_failed',
      message: timingError ?? 'expiresAt must be later than the send time.',
    };
  }
  const reasons = [...decision.reasons, ...fileReasons, ...timingReasons];
  const ciphertext = Buffer.from(checked.data);
  const identity = await mailIdentity(svc, ctx.practiceId);

  const messageId = newId();
  const nowText = nowIso(now);
  const sendAtText = nowIso(sendAt);
  const status = scheduled ? 'scheduled' : 'queued';
  const plan = recipients.map((r) => {
    const p = patients.get(r.email);
    const deliveryId = newId();
    const outboxId = newId();
    const method: 'link' | 'pgp' = p?.public_key ? 'pgp' : 'link';
    const link = method === 'link' ? newLinkToken() : null;
    // The reply address gets its own token: the link token must never travel in an address.
    const reply = method === 'link' ? newReplyToken() : null;
    return {
      ...r,
      patientId: p?.id ?? null,
      // Unknown `to` recipients become patients of the practice (email only), so their engagement is
      // tracked from the first message; cc recipients (family, other providers) do not, nor do
      // colleagues (the practice's internal domains: a clinician writing to a colleague securely).
      newPatient: !p && r.kind === 'to' && !isInternal(r.email, policy.internalDomains),
      deliveryId,
      outboxId,
      method,
      link,
      reply,
      smtpMessageId: `<${deliveryId}@${identity.domain}>`,
    };
  });
  for (const r of plan) if (r.newPatient) r.patientId = newId();
  // The one recipient whose notice the client's draft is (client-notice.ts), or null.
  const clientIndex = clientDeliveryIndex(
    req.delivery,
    scheduled,
    plan.map((r) => r.method),
  );
  const byClient = (i: number) => i === clientIndex;

  try {
    await svc.commit(async (tx) => {
      const t = ddb(tx);
      for (const r of plan) {
        if (!r.newPatient || !r.patientId) continue;
        await tx
          .insertInto('patients')
          .values({
            id: r.patientId,
            practice_id: ctx.practiceId,
            email: r.email,
            name: null,
            time_zone: null,
            public_key: null,
            fingerprint: null,
            created_at: nowText,
            updated_at: nowText,
          })
          .onConflict((oc) => oc.columns(['practice_id', 'email']).doNothing())
          .execute();
        // Another request may have created the patient first: use whichever row exists.
        const row = await tx
          .selectFrom('patients')
          .select('id')
          .where('practice_id', '=', ctx.practiceId)
          .where('email', '=', r.email)
          .executeTakeFirstOrThrow();
        r.patientId = row.id;
      }
      await insertRow(t, 'messages', {
        id: messageId,
        practice_id: ctx.practiceId,
        clinician_id: ctx.clinicianId,
        subject_ct: null,
        body_ct: ciphertext,
        body_mac: contentMac(svc.masterKey, 'messages', {
          id: messageId,
          practiceId: ctx.practiceId,
          bodyCt: ciphertext,
        }),
        decision: decision.decision,
        reasons: sealReasons(svc.masterKey, messageId, reasons),
        topics: JSON.stringify(req.topics),
        check_in: req.checkIn ? 1 : 0,
        send_at: sendAtText,
        expires_at: nowIso(expiresAt),
        revoked_at: null,
        in_reply_to: req.inReplyTo ?? null,
        created_at: nowText,
        idempotency_key: idemKey,
        request_hash: reqHash,
      });
      await appendArchive(tx, {
        practiceId: ctx.practiceId,
        kind: 'message',
        refId: messageId,
        ciphertext,
        at: now,
      });
      for (const [i, r] of plan.entries()) {
        await insertRow(tx, 'deliveries', {
          id: r.deliveryId,
          message_id: messageId,
          practice_id: ctx.practiceId,
          email: r.email,
          kind: r.kind,
          patient_id: r.patientId,
          method: r.method,
          // Handed to the client with the response: as sent as the server can know.
          status: byClient(i) ? 'sent' : status,
          attempts: 0,
          last_error: null,
          sent_at: byClient(i) ? nowText : null,
          opened_at: null,
          replied_at: null,
          smtp_message_id: r.smtpMessageId,
          created_at: nowText,
          updated_at: nowText,
          send_generation: 0,
        });
        if (r.link) {
          await insertRow(
            tx,
            'viewer_links',
            newViewerLinkRow({
              token_sha256: r.link.sha256,
              reply_token_sha256: r.reply?.sha256 ?? null,
              practice_id: ctx.practiceId,
              delivery_id: r.deliveryId,
              message_id: messageId,
              expires_at: nowIso(expiresAt),
              created_at: nowText,
            }),
          );
        }
        const payload: LinkPayload | null =
          r.link && r.reply ? { token: r.link.token, replyToken: r.reply.token } : null;
        await insertRow(
          tx,
          'outbox',
          queuedOutboxRow({
            id: r.outboxId,
            practice_id: ctx.practiceId,
            delivery_id: r.deliveryId,
            // A client-delivered notice is recorded, already done, so the worker never emails it.
            kind: byClient(i) ? CLIENT_NOTICE_KIND : 'delivery',
            payload_ref: messageId,
            // The token is a credential: sealed at rest, and erased once the notice is sent.
            payload:
              byClient(i) && payload
                ? sealClientToken(svc, r.outboxId, payload)
                : payload
                  ? Buffer.from(
                      sealSecret(svc.masterKey, JSON.stringify(payload), outboxSealContext(r.outboxId)),
                    )
                  : null,
            available_at: sendAtText,
            done_at: byClient(i) ? nowText : null,
            created_at: nowText,
          }),
        );
        if (r.patientId) {
          const events = [{ id: `sent:${r.deliveryId}`, type: 'sent' }];
          if (req.checkIn) events.push({ id: `checkin:${r.deliveryId}`, type: 'checkin_sent' });
          for (const e of events) {
            await insertRow(tx, 'engagement_events', {
              id: e.id,
              practice_id: ctx.practiceId,
              patient_id: r.patientId,
              type: e.type,
              at: sendAtText,
              message_id: messageId,
              latency_ms: null,
              topics: JSON.stringify(req.topics.map((x) => x.trim().toLowerCase())),
              data: JSON.stringify({ method: r.method, channel: ctx.channel ?? 'api' }),
              created_at: nowText,
            });
          }
        }
      }
      // Writing to a patient makes the sender one of their care team (store/care.ts), in the send's
      // own transaction: the sender sees the reply, the sidebar and the caseload entry at once. The
      // SMTP gateway's secure sends come through here too, as the clinician the From address names.
      await addCare(tx, {
        practiceId: ctx.practiceId,
        clinicianId: ctx.clinicianId,
        patientIds: plan.flatMap((r) => (r.patientId ? [r.patientId] : [])),
        source: 'sent',
        at: nowText,
      });
      await appendAudit(tx, {
        action: AUDIT.MESSAGE_SEND,
        outcome: 'success',
        actor: { type: 'clinician', id: ctx.clinicianId },
        practiceId: ctx.practiceId,
        ip: ctx.ip ?? null,
        requestId: ctx.requestId ?? null,
        target: { type: 'message', id: messageId },
        details: {
          decision: decision.decision,
          recipients: plan.length,
          pgp: plan.filter((r) => r.method === 'pgp').length,
          link: plan.filter((r) => r.method === 'link').length,
          attachments: attachments.length,
          scheduled,
          channel: ctx.channel ?? 'api',
          ...(req.delivery === 'client' ? { clientDelivered: clientIndex === null ? 0 : 1 } : {}),
        },
      });
    });
  } catch (err) {
    // Two concurrent retries with one key: the loser replays the winner's send.
    if (idemKey && reqHash) {
      const replay = await replayIdempotent(svc, ctx, idemKey, req.delivery, reqHash);
      if (replay && 'conflict' in replay) return idempotencyConflict(replay.conflict);
      if (replay) return { ok: true, response: replay, replayed: true };
    }
    throw err;
  }
  if (!scheduled && plan.some((_, i) => !byClient(i))) svc.kick();
  const clientPlan = clientIndex === null ? null : plan[clientIndex];
  const clientLink =
    clientPlan?.link && clientPlan.reply
      ? { token: clientPlan.link.token, replyToken: clientPlan.reply.token }
      : null;

  return {
    ok: true,
    replayed: false,
    response: {
      id: messageId,
      decision: decision.decision,
      reasons,
      recipients: plan.map((r, i) => ({
        email: r.email,
        method: r.method,
        status: byClient(i) ? 'sent' : status,
        ...(req.delivery ? { delivery: byClient(i) ? ('client' as const) : ('server' as const) } : {}),
      })),
      notice: clientLink
        ? clientNotice(svc, identity, clientLink, nowIso(expiresAt), policy.viewerSecondFactor)
        : draftNotice({ practiceName: identity.practiceName, methods: plan.map((r) => r.method) }),
      ...(scheduled ? { sendAt: sendAtText } : {}),
    },
  };
}

function idempotencyConflict(messageId: string | undefined): SendResult {
  return {
    ok: false,
    code: 'idempotency_conflict',
    message:
      'This Idempotency-Key was already used for a different message. Use a new key for a new message.',
    ...(messageId !== undefined ? { messageId } : {}),
  };
}

/**
 * SHA-256 (hex) of what a send asks for: recipients (as sets: the schema has lower-cased them),
 * subject, bodies, attachments, topics, timing, reply link, check-in flag and delivery mode. A retry
 * under the same Idempotency-Key (or the gateway's Message-ID) replays the first send only when
 * this matches; a key reused for another message is refused, never answered with a 202 for a
 * message that was not sent.
 */
export function requestHash(req: SendMessageRequest): string {
  const h = createHash('sha256');
  h.update(
    JSON.stringify([
      1,
      [...req.to].sort(),
      [...req.cc].sort(),
      req.subject,
      req.text ?? null,
      req.html ?? null,
      req.attachments.length,
      req.topics,
      req.sendAt ?? null,
      req.expiresAt ?? null,
      req.inReplyTo ?? null,
      req.checkIn,
      req.delivery ?? null,
    ]),
  );
  // Attachments hashed piece by piece: no second copy of megabytes of base64 in one string.
  for (const a of req.attachments)
    h.update(`\u0000${a.filename}\u0000${a.contentType}\u0000`).update(a.contentBase64);
  return h.digest('hex');
}

/**
 * The first send under this key, answered again; `conflict` when that send asked for a different
 * message (rows from before request hashes were stored compare by recipients in the route), with
 * that message's id when the caller sent it (undefined for a colleague's message).
 */
async function replayIdempotent(
  svc: DeliveryServices,
  ctx: Pick<SendContext, 'practiceId' | 'clinicianId'>,
  key: string,
  delivery: SendMessageRequest['delivery'],
  hash: string,
): Promise<SendMessageResponse | { conflict: string | undefined } | null> {
  const { practiceId } = ctx;
  let m = await ddb(svc.db)
    .selectFrom('messages')
    .select(['id', 'clinician_id', 'decision', 'reasons', 'send_at', 'created_at', 'request_hash'])
    .where('practice_id', '=', practiceId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
  if (!m) return null;
  if (m.request_hash !== null && m.clinician_id === ctx.clinicianId) {
    // Later versions under follow-on keys (<key>.2, <key>.3: shared/api followOnKeys) sent by the
    // same clinician after a 409: the latest version answers for the key. Without this, a v3 edit
    // after a confirmed v2 got a 409 naming v1 (revoked already), "revoke it" revoked nothing, and
    // v3 went out while v2 stayed live.
    const later = await latestVersion(svc, ctx, key);
    if (later) {
      if (later.latest.request_hash !== hash) return { conflict: later.live };
      m = later.latest;
    }
  }
  if (m.request_hash !== null && m.request_hash !== hash)
    return { conflict: m.clinician_id === ctx.clinicianId ? m.id : undefined };
  // The row may belong to a group whose WAL fsync is still running (commit-queue.ts): wait for it
  // through the same queue, so a replayed 202 is as durable as the first one.
  await svc.commit(() => Promise.resolve());
  const deliveries = await svc.db
    .selectFrom('deliveries')
    .select(['id', 'email', 'method', 'status'])
    .where('message_id', '=', m.id)
    .orderBy('created_at')
    .execute();
  const identity = await mailIdentity(svc, practiceId);
  const scheduled = m.send_at !== null && m.send_at > m.created_at;
  // A client-delivered send answers again with the same link, or the retried draft would carry none.
  const client = await replayClientNotice(
    svc,
    svc.db,
    m.id,
    identity,
    (await getPolicy(svc.db, practiceId)).policy.viewerSecondFactor,
  );
  return {
    id: m.id,
    decision: m.decision as Decision,
    reasons: openReasons(svc.masterKey, m.id, m.reasons),
    recipients: deliveries.map((d) => ({
      email: d.email,
      method: d.method,
      status: d.status as SendMessageResponse['recipients'][number]['status'],
      ...(delivery
        ? { delivery: d.id === client?.deliveryId ? ('client' as const) : ('server' as const) }
        : {}),
    })),
    notice:
      client?.notice ??
      draftNotice({ practiceName: identity.practiceName, methods: deliveries.map((d) => d.method) }),
    ...(scheduled && m.send_at ? { sendAt: m.send_at } : {}),
  };
}

/**
 * The latest of the messages the clinician sent under follow-on keys of `key` (null: none), and the
 * id of the latest version not revoked (the key's own message included; the latest when all are).
 */
async function latestVersion(
  svc: DeliveryServices,
  ctx: Pick<SendContext, 'practiceId' | 'clinicianId'>,
  key: string,
) {
  const keys = followOnKeys(key);
  if (keys.length === 0) return null;
  const rows = await ddb(svc.db)
    .selectFrom('messages')
    .select([
      'id',
      'clinician_id',
      'decision',
      'reasons',
      'send_at',
      'created_at',
      'request_hash',
      'revoked_at',
      'idempotency_key',
    ])
    .where('practice_id', '=', ctx.practiceId)
    .where('clinician_id', '=', ctx.clinicianId)
    .where('idempotency_key', 'in', [key, ...keys])
    .execute();
  // In key order (the order the client walks them), not by clock.
  const order = (k: string | null) => (k === key ? 1 : keys.indexOf(k ?? '') + 2);
  const versions = rows.sort((a, b) => order(a.idempotency_key) - order(b.idempotency_key));
  const latest = versions.at(-1);
  if (!latest || latest.idempotency_key === key) return null;
  const live = [...versions].reverse().find((v) => v.revoked_at === null) ?? latest;
  return { latest, live: live.id };
}

/** Re-export for callers that only need the type of the store handle. */
export type { Db };

// The decision's reasons name what was found ("a diagnosis: bipolar disorder; a medication:
// lithium"), and the message is tied to its patient through its deliveries: they are health
// information, so they are stored sealed under the master key like the outbox payloads, never in
// the clear. They are read back only to answer a repeated request (Idempotency-Key) as the first.
const reasonsContext = (messageId: string) => `message-reasons:${messageId}`;

function sealReasons(masterKey: MasterKey, messageId: string, reasons: readonly string[]): string {
  return sealSecret(masterKey, JSON.stringify(reasons), reasonsContext(messageId));
}

function openReasons(masterKey: MasterKey, messageId: string, stored: string): string[] {
  // Rows written before the reasons were sealed hold the JSON itself.
  if (stored.startsWith('[')) return JSON.parse(stored) as string[];
  const opened = openSecret(masterKey, stored, reasonsContext(messageId));
  return opened.ok ? (JSON.parse(opened.plaintext.toString('utf8')) as string[]) : [];
}
