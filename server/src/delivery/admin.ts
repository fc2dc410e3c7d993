import { sql, type RawBuilder } from 'kysely';
import type {
  DeliveryError,
  DeliveryErrorCode,
  DeliveryListResponse,
  DeliveryStatus,
  DeliverySummary,
} from '@attune/shared/api';
import { appendAudit, AUDIT, type AuditDetails, type AuditEventInput } from '../audit/index.ts';
import { sealSecret, type MasterKey } from '../crypto/index.ts';
import { unmarkUndelivered } from '../engagement/events-store.ts';
import { newId, nowIso, type Db } from '../store/index.ts';
import { newViewerLinkRow, queuedOutboxRow } from './db.ts';
import { outboxSealContext, type LinkPayload } from './send.ts';
import { newLinkToken, newReplyToken } from './tokens.ts';
import { MAX_GENERATION } from './verp.ts';

// What admins see of deliveries and what they may do about them: GET /v1/deliveries and
// POST /v1/deliveries/:id/retry (http/routes/deliveries.ts), `attune deliveries` (cli/deliveries.ts).
// One practice at a time; references only (delivery, message and patient ids): the address is read
// only when the CLI's operator asks for it, and the stored error text, which can quote a remote
// server (and through it an address or words of the message), is reduced to a code.

/** The last_error a 5.x.x report leaves (delivery-report.ts): such a failure is a bounce. */
const BOUNCE_PREFIX = "the recipient's mail server returned it:";

/**
 * The admin's status (DeliveryStatusSchema) of `deliveries as d` joined to `messages as m`, in SQL,
 * so a filter on it pages correctly. The same rules as effectiveStatus (status.ts), with queued and
 * scheduled told apart by what the outbox holds: never attempted and due later (scheduled), never
 * attempted and due (queued), an attempt that failed for now (retrying: the delivery's attempts are
 * recorded only when an attempt ends, and a retry that succeeds makes it sent).
 */
function statusExpr(t: string): RawBuilder<DeliveryStatus> {
  return sql<DeliveryStatus>`case
    when d.status = 'failed' then
      case when d.last_error like ${`${BOUNCE_PREFIX}%`} then 'bounced' else 'failed' end
    when d.status in ('revoked', 'expired') then d.status
    when m.revoked_at is not null and not (d.method = 'pgp' and d.status <> 'scheduled') then 'revoked'
    when m.expires_at is not null and m.expires_at <= ${t}
      and (d.method = 'link' or d.status in ('queued', 'scheduled')) then 'expired'
    when d.status in ('queued', 'scheduled') then
      case
        when d.attempts > 0 then 'retrying'
        when exists (
          select 1 from outbox o
          where o.delivery_id = d.id and o.kind = 'delivery' and o.done_at is null
            and o.available_at > ${t}
        ) then 'scheduled'
        else 'queued'
      end
    else d.status
  end`;
}

/** When the worker may next take the delivery's live outbox row (null when there is none). */
const nextAttemptExpr = sql<string | null>`(
  select min(o.available_at) from outbox o
  where o.delivery_id = d.id and o.kind = 'delivery' and o.done_at is null and o.permanent_failure = 0
)`;

export interface DeliveryFilter {
  /** Only these deliveries. */
  ids?: readonly string[] | undefined;
  statuses?: readonly DeliveryStatus[] | undefined;
  messageId?: string | undefined;
  /** Deliveries created at or after this time. */
  since?: Date | undefined;
  limit: number;
  /** nextCursor of the previous page. */
  cursor?: string | undefined;
}

/** A page of deliveries with the address of each (the CLI's --show-addresses), by delivery id. */
export interface DeliveryPage extends DeliveryListResponse {
  addresses: Map<string, string>;
}

/** The cursor is opaque to callers: the last row's (created_at, id), base64url JSON. */
function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      typeof v[0] === 'string' &&
      typeof v[1] === 'string' &&
      !Number.isNaN(Date.parse(v[0])) &&
      /^[0-9a-f-]{36}$/.test(v[1])
    )
      return { createdAt: v[0], id: v[1] };
  } catch {
    // not JSON: the same answer as any other bad cursor
  }
  return null;
}

/** The listing's query: one page and one row more (is there a next page?), newest first. */
export function listingQuery(db: Db, practiceId: string, filter: DeliveryFilter, now: Date) {
  const t = nowIso(now);
  const status = statusExpr(t);
  let q = db
    .selectFrom('deliveries as d')
    .innerJoin('messages as m', 'm.id', 'd.message_id')
    .select([
      'd.id',
      'd.message_id',
      'd.patient_id',
      'd.email',
      'd.kind',
      'd.method',
      'd.method_reason',
      'd.attempts',
      'd.last_error',
      'd.created_at',
      'd.sent_at',
      'd.opened_at',
      'd.replied_at',
      status.as('admin_status'),
      nextAttemptExpr.as('next_attempt_at'),
    ])
    .where('d.practice_id', '=', practiceId);
  if (filter.ids) q = q.where('d.id', 'in', [...filter.ids]);
  if (filter.messageId) q = q.where('d.message_id', '=', filter.messageId);
  if (filter.since) q = q.where('d.created_at', '>=', nowIso(filter.since));
  if (filter.statuses && filter.statuses.length > 0) q = q.where(statusExpr(t), 'in', [...filter.statuses]);
  const after = filter.cursor ? decodeCursor(filter.cursor) : null;
  if (after)
    q = q.where((eb) =>
      eb.or([
        eb('d.created_at', '<', after.createdAt),
        eb.and([eb('d.created_at', '=', after.createdAt), eb('d.id', '<', after.id)]),
      ]),
    );
  return q
    .orderBy('d.created_at', 'desc')
    .orderBy('d.id', 'desc')
    .limit(filter.limit + 1);
}

/**
 * One page of a practice's deliveries, newest first (created_at, then id). Throws nothing for a bad
 * cursor: the caller validates it with decodeCursor first (a 400 / exit 2).
 */
export async function listDeliveries(
  db: Db,
  practiceId: string,
  filter: DeliveryFilter,
  now: Date,
): Promise<DeliveryPage> {
  const rows = await listingQuery(db, practiceId, filter, now).execute();
  const page = rows.slice(0, filter.limit);
  const reports =
    page.length === 0
      ? []
      : await db
          .selectFrom('delivery_reports')
          .select(['delivery_id', 'action', 'status', 'received_at', 'stale'])
          .where('practice_id', '=', practiceId)
          .where(
            'delivery_id',
            'in',
            page.map((r) => r.id),
          )
          .orderBy('received_at')
          .orderBy('id')
          .execute();
  const byDelivery = new Map<string, DeliverySummary['reports']>();
  for (const r of reports) {
    const list = byDelivery.get(r.delivery_id) ?? [];
    list.push({
      action:
        r.action === 'failed' || r.action === 'delayed' || r.action === 'auto_reply' ? r.action : 'unknown',
      status: r.status,
      receivedAt: r.received_at,
      stale: Number(r.stale) === 1,
    });
    byDelivery.set(r.delivery_id, list);
  }
  const pending = new Set<DeliveryStatus>(['scheduled', 'queued', 'retrying']);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({
      id: r.id,
      messageId: r.message_id,
      patientId: r.patient_id,
      kind: r.kind === 'cc' ? 'cc' : 'to',
      method: r.method,
      ...(r.method_reason ? { methodReason: r.method_reason } : {}),
      status: r.admin_status,
      attempts: Number(r.attempts),
      nextAttemptAt: pending.has(r.admin_status) ? r.next_attempt_at : null,
      lastError: deliveryError(r.last_error),
      createdAt: r.created_at,
      sentAt: r.sent_at,
      openedAt: r.opened_at,
      repliedAt: r.replied_at,
      reports: byDelivery.get(r.id) ?? [],
    })),
    nextCursor: rows.length > filter.limit && last ? encodeCursor(last.created_at, last.id) : null,
    addresses: new Map(page.map((r) => [r.id, r.email])),
  };
}

/**
 * A stored last_error as a code, with the SMTP reply code and enhanced status when it has them. The
 * texts are the ones the outbox (outbox.ts), the transport (transport.ts classifySmtpError) and the
 * report reader (delivery-report.ts) write; anything else is `other`. Digits and codes only: the
 * rest of the text may quote a remote server, and through it an address or the message.
 */
export function deliveryError(stored: string | null): DeliveryError | null {
  if (!stored) return null;
  const exhausted = /^gave up after \d+ attempts(?::\s*| \()(.*)$/s.exec(stored);
  if (exhausted) {
    const inner = deliveryError(exhausted[1] ?? '');
    return {
      code: 'attempts_exhausted',
      ...(inner && inner.code !== 'other' ? { cause: inner.code } : {}),
      ...codes(stored),
    };
  }
  return { code: errorCode(stored), ...codes(stored) };
}

/**
 * A DeliveryError as one line of text: the code, the last attempt's cause, the SMTP reply code and
 * the enhanced status ("attempts_exhausted (last: relay_deferred) SMTP 451 4.3.0"). What the CLI
 * prints and what the sending clinician reads (GET /v1/messages/:id lastError, via
 * deliveryErrorText): the same words in both, and never the remote server's text.
 */
export function describeDeliveryError(e: DeliveryError): string {
  return [
    e.code,
    ...(e.cause ? [`(last: ${e.cause})`] : []),
    ...(e.smtpCode !== undefined ? [`SMTP ${e.smtpCode}`] : []),
    ...(e.enhancedStatus ? [e.enhancedStatus] : []),
  ].join(' ');
}

/** A stored last_error as describeDeliveryError renders it; null for none. */
export function deliveryErrorText(stored: string | null): string | null {
  const e = deliveryError(stored);
  return e ? describeDeliveryError(e) : null;
}

function errorCode(s: string): DeliveryErrorCode {
  if (s.startsWith(BOUNCE_PREFIX)) return 'bounced';
  if (s.startsWith("delayed by the recipient's mail server:")) return 'remote_delayed';
  if (s.startsWith('the relay did not accept STARTTLS')) return 'relay_tls_required';
  if (s.startsWith('the relay refused')) return 'relay_session_refused';
  if (s.startsWith('patient key unusable')) return 'patient_key_unusable';
  if (
    s.startsWith('stored content failed its integrity check') ||
    s.startsWith('archived content unreadable')
  )
    return 'content_unreadable';
  if (s.startsWith('link token')) return 'link_token_missing';
  if (s.startsWith('file transport:')) return 'mail_folder_error';
  if (s.startsWith('internal error')) return 'internal_error';
  const smtp = /^(?:SMTP (\d{3})|\d+ of \d+ recipients rejected: (\d{3}))/.exec(s);
  const reply = Number(smtp?.[1] ?? smtp?.[2] ?? NaN);
  if (reply >= 500) return 'relay_refused';
  if (reply >= 400) return 'relay_deferred';
  if (/^E[A-Z]+: /.test(s) || s.startsWith('ERROR:')) return 'relay_unreachable';
  return 'other';
}

function codes(s: string): Pick<DeliveryError, 'smtpCode' | 'enhancedStatus'> {
  // Only where a reply code stands in our own wording ("SMTP 550: …"), and an enhanced status only
  // as a word of its own: an address or port in a connection error is neither.
  const reply = /(?:^|: )(?:SMTP |\d+ of \d+ recipients rejected: )?([245]\d\d)(?=[ :-]|$)/.exec(s)?.[1];
  const enhanced = /(?:^|\s)([245]\.\d{1,3}\.\d{1,3})(?=\s|$)/.exec(s)?.[1];
  return {
    ...(reply ? { smtpCode: Number(reply) } : {}),
    ...(enhanced ? { enhancedStatus: enhanced } : {}),
  };
}

export type RetryRefusal =
  /** No such delivery in the practice. */
  | 'not_found'
  /** Not failed (or bounced): it is on its way, went out, or was stopped; `status` says which. */
  | 'not_failed'
  | 'message_revoked'
  | 'message_expired'
  /** An outbox row of the delivery is still live (not a state the worker leaves a failed delivery in). */
  | 'in_flight'
  /** Sent again MAX_GENERATION times already: its return paths have no room for another send. */
  | 'retry_limit';

type Refused = { ok: false; reason: RetryRefusal; status?: DeliveryStatus };

export type RetryResult = { ok: true; delivery: DeliverySummary } | Refused;

export interface RetryContext {
  practiceId: string;
  actor: AuditEventInput['actor'];
  ip?: string | null;
  requestId?: string | null;
}

/**
 * Queues a delivery that failed for good (or bounced) again, with a fresh attempt budget: a new
 * outbox row (the old one keeps its attempts and error, as do delivery_attempts, delivery_reports
 * and the audit trail), the delivery back to queued. Refused, and audited, unless it is failed and
 * its message is neither revoked nor expired. The status check and the change are one conditional
 * update in one transaction, so two retries at once queue it once, and a delivery that went out
 * (sent, opened, replied) is never queued again.
 *
 * A secure link's tokens were erased from the outbox when the delivery failed (only their hashes are
 * stored), so the notice gets a new link and reply token; the old ones stop working, which is right
 * for a notice that never arrived (a bounce may carry it back to anyone). The patient's mark as
 * never having received the message (engagement) is withdrawn: it is on its way again, and is marked
 * again if it fails again. The Message-ID stays the delivery's own, so a report names it as before.
 */
export async function retryDelivery(
  svc: { db: Db; masterKey: MasterKey; now: () => Date },
  ctx: RetryContext,
  deliveryId: string,
): Promise<RetryResult> {
  const now = svc.now();
  const t = nowIso(now);
  const result = await svc.db.transaction().execute(async (tx): Promise<{ ok: true } | Refused> => {
    const d = await tx
      .selectFrom('deliveries as d')
      .innerJoin('messages as m', 'm.id', 'd.message_id')
      .select([
        'd.id',
        'd.message_id',
        'd.method',
        'd.status',
        'd.opened_at',
        'd.replied_at',
        'd.send_generation',
        'm.revoked_at',
        'm.expires_at',
        statusExpr(t).as('admin_status'),
      ])
      .where('d.id', '=', deliveryId)
      .where('d.practice_id', '=', ctx.practiceId)
      .executeTakeFirst();
    if (!d) return { ok: false, reason: 'not_found' };
    const audit = (outcome: 'success' | 'failure', details: AuditDetails) =>
      appendAudit(tx, {
        action: AUDIT.DELIVERY_RETRY,
        outcome,
        actor: ctx.actor,
        practiceId: ctx.practiceId,
        ip: ctx.ip ?? null,
        requestId: ctx.requestId ?? null,
        target: { type: 'delivery', id: d.id },
        details: { messageId: d.message_id, ...details },
      });
    const refuse = async (reason: RetryRefusal): Promise<Refused> => {
      await audit('failure', { reason, status: d.admin_status });
      return { ok: false, reason, status: d.admin_status };
    };
    if (d.revoked_at) return refuse('message_revoked');
    if (d.expires_at !== null && d.expires_at <= t) return refuse('message_expired');
    if (d.status !== 'failed' || d.opened_at !== null || d.replied_at !== null) return refuse('not_failed');
    const link =
      d.method === 'link'
        ? await tx
            .selectFrom('viewer_links')
            .select(['id', 'expires_at', 'revoked_at'])
            .where('delivery_id', '=', d.id)
            .orderBy('created_at', 'desc')
            .executeTakeFirst()
        : undefined;
    if (link?.revoked_at) return refuse('message_revoked');
    if (link && link.expires_at <= t) return refuse('message_expired');
    const live = await tx
      .selectFrom('outbox')
      .select('id')
      .where('delivery_id', '=', d.id)
      .where('kind', '=', 'delivery')
      .where('done_at', 'is', null)
      .executeTakeFirst();
    if (live) return refuse('in_flight');
    if (Number(d.send_generation) >= MAX_GENERATION) return refuse('retry_limit');

    // The guard: only a delivery still failed is queued, whoever else is retrying it right now.
    // A new generation: the send leaves from a return path of its own (verp.ts), so a report about
    // the earlier send that comes after it went out is told apart and changes nothing.
    const requeued = await tx
      .updateTable('deliveries')
      .set((eb) => ({
        status: 'queued',
        attempts: 0,
        last_error: null,
        sent_at: null,
        updated_at: t,
        send_generation: eb('send_generation', '+', 1),
      }))
      .where('id', '=', d.id)
      .where('status', '=', 'failed')
      .returning(['id'])
      .executeTakeFirst();
    if (!requeued) return refuse('not_failed');

    const outboxId = newId();
    let payload: Buffer | null = null;
    if (d.method === 'link') {
      const token = newLinkToken();
      const reply = newReplyToken();
      const sealedPayload: LinkPayload = { token: token.token, replyToken: reply.token };
      payload = Buffer.from(
        sealSecret(svc.masterKey, JSON.stringify(sealedPayload), outboxSealContext(outboxId)),
      );
      if (link) {
        await tx
          .updateTable('viewer_links')
          .set({ token_sha256: token.sha256, reply_token_sha256: reply.sha256 })
          .where('id', '=', link.id)
          .execute();
      } else {
        await tx
          .insertInto('viewer_links')
          .values(
            newViewerLinkRow({
              token_sha256: token.sha256,
              reply_token_sha256: reply.sha256,
              practice_id: ctx.practiceId,
              delivery_id: d.id,
              message_id: d.message_id,
              expires_at: d.expires_at ?? t,
              created_at: t,
            }),
          )
          .execute();
      }
    }
    await tx
      .insertInto('outbox')
      .values(
        queuedOutboxRow({
          id: outboxId,
          practice_id: ctx.practiceId,
          delivery_id: d.id,
          kind: 'delivery',
          payload_ref: d.message_id,
          payload,
          available_at: t,
          created_at: t,
        }),
      )
      .execute();
    await unmarkUndelivered(tx, [d.id]);
    await audit('success', {
      method: d.method,
      was: d.admin_status,
      outboxId,
      generation: Number(d.send_generation) + 1,
    });
    return { ok: true };
  });
  if (!result.ok) return result;
  const delivery = await deliverySummary(svc.db, ctx.practiceId, deliveryId, svc.now());
  return delivery ? { ok: true, delivery } : { ok: false, reason: 'not_found' };
}

/** One delivery of the practice as the listing shows it. */
export async function deliverySummary(
  db: Db,
  practiceId: string,
  deliveryId: string,
  now: Date,
): Promise<DeliverySummary | null> {
  const page = await listDeliveries(db, practiceId, { ids: [deliveryId], limit: 1 }, now);
  return page.items[0] ?? null;
}
