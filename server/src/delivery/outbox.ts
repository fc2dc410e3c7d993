import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { appendAudit, AUDIT } from '../audit/index.ts';
import {
  checkContentMac,
  decryptFromArchive,
  encryptAndSign,
  openSecret,
  readPublicKey,
  sealSecret,
} from '../crypto/index.ts';
import { markUndelivered, unmarkUndelivered } from '../engagement/events-store.ts';
import { getPolicy, newId, nowIso, type Tx } from '../store/index.ts';
import type { DeliveriesTable, OutboxTable } from '../store/schema.ts';
import { ddb, newViewerLinkRow } from './db.ts';
import {
  composeFailureNotice,
  composeRelayFailureNotice,
  FAILURE_NOTICE_KIND,
  FAILURE_NOTICE_WINDOW_MS,
  queueFailureNotice,
  queueRelayFailureNotice,
  RELAY_FAILURE_NOTICE_KIND,
} from './failure-notice.ts';
import { GATEWAY_MAIL_KIND, openGatewayMail } from './gateway-mail.ts';
import { getKeyring } from './keyring.ts';
import {
  composeInnerEntity,
  composePgpMime,
  composeSimple,
  oneTimeCodeNotice,
  replyNotice,
  SECURED_HEADER,
  secureLinkNotice,
  type ComposedMail,
} from './mime.ts';
import { replyTokenFor } from './reply-token.ts';
import { outboxSealContext, type LinkPayload } from './send.ts';
import { mailIdentity, type DeliveryServices, type MailIdentity, type StoredContent } from './services.ts';
import { newLinkToken, newReplyToken } from './tokens.ts';
import { returnPathFor } from './verp.ts';

// The durable outbox worker. Rows are claimed with a lease (PostgreSQL: FOR UPDATE SKIP LOCKED, so
// several servers share the queue; SQLite: one atomic UPDATE … RETURNING, SQLite has one writer),
// sent, and marked. The attempt counter is raised at claim time, so a process that dies mid-send
// still uses up an attempt and a crash loop ends in a permanent failure instead of spinning.
//
// Idempotency: each delivery's Message-ID is fixed when the message is accepted. A crash after the
// relay accepted and before the row is marked leaves the lease to expire; the row is then sent again
// with the same Message-ID: at most one duplicate (which mail systems can collapse), never zero.
//
// Only a crash may cost that duplicate, never a slow batch: each row's outcome is recorded as soon
// as its send ends (not after the batch), the leases of the rows still in hand are renewed while the
// batch runs (heartbeat), and right before each send the row is checked to be still ours with a
// lease that outlasts the send (gate); a row whose lease ran out is left to whoever claims it next.

export interface OutboxOptions {
  workerId?: string;
  batchSize?: number;
  concurrency?: number;
  /** How long a claim holds; an unfinished row is retried after it. */
  leaseMs?: number;
  pollMs?: number;
  /** Delay after a kick, so a burst of sends is claimed together (ms). */
  kickDelayMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
  /** Fault injection for tests: runs after the relay accepted, before the row is marked. */
  afterSend?: (row: OutboxTable) => void | Promise<void>;
  /**
   * How long the sender's failure notice waits for more failures of the same message before it
   * goes (failure-notice.ts; at most its one-minute window). Default: the whole window.
   */
  failureNoticeDelayMs?: number;
}

type Outcome =
  | { kind: 'sent'; detail: string }
  | { kind: 'retry'; detail: string }
  | { kind: 'failed'; detail: string }
  | { kind: 'skipped'; detail: string; deliveryStatus?: 'revoked' | 'expired' };

export const DEFAULT_MAX_ATTEMPTS = 8;

type Done = { row: OutboxTable; outcome: Outcome; ms: number };
/** What the check right before a send found: go ahead, an outcome instead, or the row is not ours. */
type Gate = { kind: 'go' } | { kind: 'lost' } | Outcome;
type Prefetched = { d: DeliveriesTable; m: { revoked_at: string | null; expires_at: string | null } };

/** Exponential backoff with "equal jitter": half fixed, half random, capped. */
export function backoffMs(attempt: number, base: number, max: number, random: () => number): number {
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export class OutboxWorker {
  readonly workerId: string;
  private readonly o: Required<Omit<OutboxOptions, 'afterSend' | 'workerId'>> &
    Pick<OutboxOptions, 'afterSend'>;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = 0;
  private running: Promise<void> | null = null;
  private stopped = true;
  private again = false;

  constructor(
    private readonly svc: DeliveryServices,
    opts: OutboxOptions = {},
  ) {
    this.workerId = opts.workerId ?? `w-${randomUUID().slice(0, 8)}`;
    this.o = {
      batchSize: opts.batchSize ?? 50,
      concurrency: opts.concurrency ?? 8,
      leaseMs: opts.leaseMs ?? 120_000,
      pollMs: opts.pollMs ?? 1_000,
      kickDelayMs: opts.kickDelayMs ?? 20,
      maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      backoffBaseMs: opts.backoffBaseMs ?? 30_000,
      backoffMaxMs: opts.backoffMaxMs ?? 2 * 3_600_000,
      random: opts.random ?? Math.random,
      afterSend: opts.afterSend,
      failureNoticeDelayMs: opts.failureNoticeDelayMs ?? FAILURE_NOTICE_WINDOW_MS,
    };
  }

  /** How long a failure notice waits for more failures of its message (OutboxOptions). */
  get failureNoticeDelayMs(): number {
    return this.o.failureNoticeDelayMs;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and waits for the batch in hand to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /**
   * Run soon (after a commit that queued work). Kicks within a short window share one run, so a
   * burst of sends is claimed as one batch: each claim and each batch record is a synced commit.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer && this.timerDue <= Date.now() + this.o.kickDelayMs) return;
    this.schedule(this.o.kickDelayMs);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = Date.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.loop().finally(() => {
        this.running = null;
      });
    }, ms);
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    let n = 0;
    this.again = false;
    try {
      do n = await this.runOnce();
      while (!this.stopped && n >= this.o.batchSize);
    } catch (err) {
      this.svc.logger.error({ err: errorCode(err), worker: this.workerId }, 'outbox run failed');
    }
    this.schedule(this.again ? this.o.kickDelayMs : this.o.pollMs);
  }

  /**
   * Claims one batch of due rows and sends them (concurrently, up to `concurrency`), recording each
   * row's outcome as soon as its send ends: a 2xx is durable before the next row goes, and a batch
   * that takes longer than its lease cannot have rows already sent claimed and sent again.
   * Concurrent records share a synced commit (svc.commit). Returns how many rows were claimed.
   */
  async runOnce(): Promise<number> {
    // Oldest due first: UPDATE … RETURNING hands rows back in no particular order.
    const rows = (await this.claim()).sort((x, y) => x.available_at.localeCompare(y.available_at));
    if (rows.length === 0) return 0;
    const pending = new Set(rows.map((r) => r.id));
    const heartbeat = this.heartbeat(pending);
    try {
      const pre = await this.prefetch(rows);
      let i = 0;
      const work = async () => {
        while (i < rows.length) {
          const row = rows[i++]!;
          const started = Date.now();
          const outcome = await this.process(row, pre);
          pending.delete(row.id);
          if (outcome) {
            const done: Done = { row, outcome, ms: Date.now() - started };
            await this.svc.commit((tx) => this.recordAll(tx, [done]));
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.o.concurrency, rows.length) }, work));
    } finally {
      await heartbeat.stop();
    }
    return rows.length;
  }

  /**
   * Renews the lease of the batch's rows not yet finished every third of a lease, so a long batch
   * or a slow send keeps its rows; a process that dies stops renewing and its rows come free after
   * one lease, as before. Only rows still ours and still leased are renewed: one whose lease ran
   * out may have been claimed by another worker, and the gate will not send it.
   */
  private heartbeat(pending: Set<string>): { stop(): Promise<void> } {
    let beat: Promise<void> | null = null;
    const timer = setInterval(
      () => {
        if (beat || pending.size === 0) return;
        const ids = [...pending];
        beat = this.svc
          .commit((tx) => this.renew(tx, ids))
          .then(
            () => undefined,
            (err: unknown) => {
              this.svc.logger.error(
                { err: errorCode(err), worker: this.workerId },
                'outbox lease renewal failed',
              );
            },
          )
          .finally(() => {
            beat = null;
          });
      },
      Math.max(1, Math.floor(this.o.leaseMs / 3)),
    );
    timer.unref();
    return {
      stop: async () => {
        clearInterval(timer);
        await beat;
      },
    };
  }

  /** Extends our unexpired leases on `ids` to a full lease from now; returns the ids renewed. */
  private async renew(tx: Tx, ids: string[]): Promise<Set<string>> {
    const now = this.svc.now();
    const renewed = await tx
      .updateTable('outbox')
      .set({ claimed_until: nowIso(new Date(now.getTime() + this.o.leaseMs)) })
      .where('id', 'in', ids)
      .where('claimed_by', '=', this.workerId)
      .where('done_at', 'is', null)
      .where('claimed_until', '>', nowIso(now))
      .returning(['id'])
      .execute();
    return new Set(renewed.map((r) => r.id));
  }

  /**
   * Right before a send: is the row still ours, with at least half a lease left (renewed if not, so
   * the send cannot outlast it), and may it still go (not revoked, not expired)? Read fresh, not
   * from the batch's prefetch: a revoke that committed before this read is seen here and nothing
   * is sent; one that commits after it finds the row leased (in flight) and leaves it to us.
   */
  private async gate(row: OutboxTable): Promise<Gate> {
    const db = this.svc.db;
    const now = this.svc.now();
    const t = nowIso(now);
    const current = await db
      .selectFrom('outbox')
      .select(['claimed_by', 'claimed_until', 'done_at'])
      .where('id', '=', row.id)
      .executeTakeFirst();
    if (!current || current.claimed_by !== this.workerId || current.done_at !== null) return { kind: 'lost' };
    if (!current.claimed_until || current.claimed_until <= t) return { kind: 'lost' };
    if (row.kind === 'delivery' && row.delivery_id) {
      const state = await db
        .selectFrom('deliveries')
        .innerJoin('messages', 'messages.id', 'deliveries.message_id')
        .select(['deliveries.status', 'messages.revoked_at', 'messages.expires_at'])
        .where('deliveries.id', '=', row.delivery_id)
        .executeTakeFirst();
      if (state && (state.revoked_at || state.status === 'revoked'))
        return { kind: 'skipped', detail: 'revoked before sending', deliveryStatus: 'revoked' };
      if (state?.expires_at && state.expires_at <= t)
        return { kind: 'skipped', detail: 'expired before sending', deliveryStatus: 'expired' };
    }
    const halfLease = nowIso(new Date(now.getTime() + this.o.leaseMs / 2));
    if (current.claimed_until < halfLease) {
      const renewed = await this.svc.commit((tx) => this.renew(tx, [row.id]));
      if (!renewed.has(row.id)) return { kind: 'lost' };
    }
    return { kind: 'go' };
  }

  /**
   * The delivery and message rows of a claimed batch, read in one query instead of two per row. The
   * checks made on them (revoked, expired) are the same as before; they are as fresh as the claim.
   */
  private async prefetch(rows: OutboxTable[]): Promise<Map<string, Prefetched>> {
    const ids = rows.filter((r) => r.kind === 'delivery' && r.delivery_id).map((r) => r.delivery_id!);
    if (ids.length === 0) return new Map();
    const found = await this.svc.db
      .selectFrom('deliveries')
      .innerJoin('messages', 'messages.id', 'deliveries.message_id')
      .selectAll('deliveries')
      .select(['messages.revoked_at as message_revoked_at', 'messages.expires_at as message_expires_at'])
      .where('deliveries.id', 'in', ids)
      .execute();
    return new Map(
      found.map(({ message_revoked_at, message_expires_at, ...d }) => [
        d.id,
        { d, m: { revoked_at: message_revoked_at, expires_at: message_expires_at } },
      ]),
    );
  }

  // The claim and the outcomes go through the group commit (svc.commit) like the sends: under load
  // they share the sends' synced commit instead of each costing one more (on SQLite, an fsync taken
  // on the event loop). The claim is still durable before anything is sent, so a crash mid-send
  // has used up its attempt.
  private claim(): Promise<OutboxTable[]> {
    return this.svc.commit((tx) => this.claimIn(tx));
  }

  private async claimIn(db: Tx): Promise<OutboxTable[]> {
    const now = this.svc.now();
    const t = nowIso(now);
    const until = nowIso(new Date(now.getTime() + this.o.leaseMs));
    const due = db
      .selectFrom('outbox')
      .select('id')
      .where('done_at', 'is', null)
      .where('permanent_failure', '=', 0)
      .where('available_at', '<=', t)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', t)]))
      .orderBy('available_at')
      .limit(this.o.batchSize);
    return db
      .updateTable('outbox')
      .set({ claimed_by: this.workerId, claimed_until: until, attempts: sql<number>`attempts + 1` })
      .where('id', 'in', this.svc.dialect === 'postgres' ? due.forUpdate().skipLocked() : due)
      .returningAll()
      .execute();
  }

  /** The outcome to record, or null when nothing may be recorded (a simulated crash, a lost lease). */
  private async process(row: OutboxTable, pre: Map<string, Prefetched>): Promise<Outcome | null> {
    let outcome: Outcome;
    if (row.attempts > this.o.maxAttempts) {
      // Claimed more often than allowed without ever being marked: the process died each time.
      outcome = {
        kind: 'failed',
        detail: `gave up after ${this.o.maxAttempts} attempts (${row.last_error ?? 'no result recorded'})`,
      };
    } else {
      try {
        const result = await this.attempt(row, pre);
        if (!result) return null; // our lease ran out before the send: the next claimant sends it
        outcome = result;
      } catch (err) {
        if (err instanceof SimulatedCrash) return null; // test: leave the claim to expire, as a crash would
        // A bug or an unreachable database: record a retry; the lease guards against a lost update.
        this.svc.logger.error({ err: errorCode(err), outboxId: row.id }, 'outbox row failed');
        outcome = { kind: 'retry', detail: `internal error (${errorCode(err)})` };
      }
    }
    if (outcome.kind === 'retry' && row.attempts >= this.o.maxAttempts) {
      outcome = { kind: 'failed', detail: `gave up after ${row.attempts} attempts: ${outcome.detail}` };
    }
    return outcome;
  }

  /** The outcome, or null when the row is no longer ours to send or record (see gate). */
  private async attempt(row: OutboxTable, pre: Map<string, Prefetched>): Promise<Outcome | null> {
    let mail: ComposedMail | Outcome;
    let label: string;
    switch (row.kind) {
      case 'delivery': {
        label = 'notice';
        const composed = await this.composeDelivery(row, pre.get(row.delivery_id ?? ''));
        if (!composed) return null; // the row stopped being ours during a fallback to a link
        mail = composed;
        break;
      }
      case 'otp':
        label = 'code';
        mail = await this.composeOtp(row);
        break;
      case 'reply_notice':
        label = 'reply-notice';
        mail = await this.composeReplyNotice(row);
        break;
      case GATEWAY_MAIL_KIND:
        label = 'report';
        mail = await openGatewayMail(this.svc, row);
        break;
      case FAILURE_NOTICE_KIND:
        label = 'failure-notice';
        mail = await composeFailureNotice(this.svc, row);
        break;
      case RELAY_FAILURE_NOTICE_KIND:
        label = 'failure-notice';
        mail = await composeRelayFailureNotice(this.svc, row);
        break;
      default:
        return { kind: 'failed', detail: `unknown outbox kind` };
    }
    if ('kind' in mail) return mail;
    if (row.kind === 'delivery' && mail.raw.includes('multipart/encrypted')) label = 'pgp';
    const gate = await this.gate(row);
    if (gate.kind === 'lost') return null;
    if (gate.kind !== 'go') return gate;
    const result = await this.svc.transport.send(mail, label);
    if (result.ok) {
      if (this.o.afterSend) await this.o.afterSend(row);
      return { kind: 'sent', detail: result.response };
    }
    if (result.relayFault) this.relayFault(result.error);
    return result.permanent
      ? { kind: 'failed', detail: result.error }
      : { kind: 'retry', detail: result.error };
  }

  private relayFaultLoggedAt = 0;

  /**
   * The relay refuses our session (bad credentials, relaying denied): no message can leave until the
   * operator fixes SMTP_URL or the relay, so say so loudly, once a minute rather than once a row. The
   * error is the relay's reply with addresses redacted (redactAddresses): no PHI.
   */
  private relayFault(error: string): void {
    if (Date.now() - this.relayFaultLoggedAt < 60_000) return;
    this.relayFaultLoggedAt = Date.now();
    this.svc.logger.error(
      { worker: this.workerId, error },
      'the SMTP relay refuses our session: mail stays queued and is retried; check SMTP_URL and the relay',
    );
  }

  private async composeDelivery(
    row: OutboxTable,
    pre: Prefetched | undefined,
  ): Promise<ComposedMail | Outcome | null> {
    const db = this.svc.db;
    if (!row.delivery_id) return { kind: 'failed', detail: 'delivery row missing' };
    const d =
      pre?.d ??
      (await db.selectFrom('deliveries').selectAll().where('id', '=', row.delivery_id).executeTakeFirst());
    if (!d) return { kind: 'failed', detail: 'delivery row missing' };
    const m =
      pre?.m ??
      (await db
        .selectFrom('messages')
        .select(['revoked_at', 'expires_at'])
        .where('id', '=', d.message_id)
        .executeTakeFirstOrThrow());
    const now = nowIso(this.svc.now());
    if (m.revoked_at || d.status === 'revoked')
      return { kind: 'skipped', detail: 'revoked before sending', deliveryStatus: 'revoked' };
    if (m.expires_at && m.expires_at <= now)
      return { kind: 'skipped', detail: 'expired before sending', deliveryStatus: 'expired' };
    const identity = await mailIdentity(this.svc, row.practice_id);
    const messageId = d.smtp_message_id ?? `<${d.id}@${identity.domain}>`;
    const mail =
      d.method === 'link'
        ? await this.composeLinkNotice(row, d, m, identity, messageId)
        : await this.composePgp(row, d, m, identity, messageId);
    if (!mail || 'kind' in mail) return mail;
    // VERP: the envelope sender names this delivery and this send of it (its generation: a retry
    // by an admin is a new one), with a MAC, at the reply domain the gateway takes mail for, so a
    // bounce from the recipient's server after our relay's 250 comes back to it and is read
    // (gateway/delivery-status.ts) as about this send. No reply domain: the From address, as before.
    const returnPath = identity.replyDomain
      ? returnPathFor(this.svc.masterKey, d.id, identity.replyDomain, Number(d.send_generation))
      : null;
    return returnPath ? { ...mail, from: returnPath } : mail;
  }

  private async composeLinkNotice(
    row: OutboxTable,
    d: Pick<DeliveriesTable, 'email' | 'message_id'>,
    m: Prefetched['m'],
    identity: MailIdentity,
    messageId: string,
    sealedPayload: Buffer | null = row.payload,
  ): Promise<ComposedMail | Outcome> {
    if (!sealedPayload) return { kind: 'failed', detail: 'link token missing' };
    const opened = openSecret(this.svc.masterKey, sealedPayload.toString('utf8'), outboxSealContext(row.id));
    if (!opened.ok) return { kind: 'failed', detail: `link token unreadable (${opened.reason})` };
    const payload = JSON.parse(opened.plaintext.toString('utf8')) as LinkPayload;
    const url = `${this.svc.config.publicUrl}/m/${payload.token}`;
    // The reply address has its own token: the link token must not travel in an address.
    const replyToken = await replyTokenFor(this.svc, row, payload);
    const content = secureLinkNotice({
      practiceName: identity.practiceName,
      url,
      expiresAt: m.expires_at ?? nowIso(this.svc.now()),
      codeRequired: await this.codeRequired(row.practice_id),
      now: this.svc.now(),
    });
    return composeSimple({
      from: identity.from,
      to: d.email,
      replyTo: `reply+${replyToken}@${identity.domain}`,
      messageId,
      content,
      headers: { [SECURED_HEADER]: d.message_id },
    });
  }

  // PGP/MIME: decrypt our archived copy, build the inner entity, sign with the practice key and
  // encrypt to the patient's key as registered now (it may have been revoked or have expired since
  // the send). A key that cannot be used any more falls back to a secure link (keyUnusable).
  private async composePgp(
    row: OutboxTable,
    d: DeliveriesTable,
    m: Prefetched['m'],
    identity: MailIdentity,
    messageId: string,
  ): Promise<ComposedMail | Outcome | null> {
    const db = this.svc.db;
    const patient = d.patient_id
      ? await db
          .selectFrom('patients')
          .select(['public_key'])
          .where('id', '=', d.patient_id)
          .executeTakeFirst()
      : undefined;
    if (!patient?.public_key) return this.keyUnusable(row, d, m, identity, messageId, 'removed');
    const key = await readPublicKey(patient.public_key, this.svc.now());
    if (!key.ok) return this.keyUnusable(row, d, m, identity, messageId, keyReason(key.reason));
    const keyring = await getKeyring(db, this.svc.masterKey, row.practice_id);
    const body = await db
      .selectFrom('messages')
      .select(['body_ct', 'body_mac'])
      .where('id', '=', d.message_id)
      .executeTakeFirstOrThrow();
    // Before decrypting and signing with the practice's key: content the master key does not vouch
    // for (replaced in the database) is never sent. Failed for good, said without content to the
    // sender (the delivery's last error), logged by reference for the operator.
    const mac = checkContentMac(
      this.svc.masterKey,
      'messages',
      { id: d.message_id, practiceId: row.practice_id, bodyCt: body.body_ct },
      body.body_mac,
    );
    if (!mac.ok) {
      this.svc.logger.error(
        {
          event: 'content_unreadable',
          kind: 'message',
          id: d.message_id,
          reason: mac.reason,
          outboxId: row.id,
        },
        'a stored message fails its integrity check and was not sent: check the store with attune verify',
      );
      return { kind: 'failed', detail: `stored content failed its integrity check (${mac.reason})` };
    }
    const plain = await decryptFromArchive(body.body_ct, keyring.archive.privateKey);
    if (!plain.ok) return { kind: 'failed', detail: `archived content unreadable (${plain.reason})` };
    const content = JSON.parse(Buffer.from(plain.data).toString('utf8')) as StoredContent;
    const inner = await composeInnerEntity({
      from: identity.from,
      to: d.email,
      content: {
        subject: content.subject,
        text: content.text,
        html: content.html,
        attachments: content.attachments.map((a) => ({
          filename: a.filename,
          contentType: a.contentType,
          content: Buffer.from(a.contentBase64, 'base64'),
        })),
      },
    });
    let armored: string;
    try {
      armored = await encryptAndSign({
        data: inner,
        encryptionKeys: key.key,
        signingKey: keyring.signing.privateKey,
      });
    } catch (err) {
      // A key that passed the checks above and still cannot be encrypted to (an algorithm or
      // packet OpenPGP.js refuses at encryption time): the same as any unusable key. The error's
      // name only: its message may quote key material.
      this.svc.logger.warn(
        { event: 'pgp_encrypt_failed', deliveryId: d.id, err: errorCode(err) },
        'encryption to a patient key failed',
      );
      return this.keyUnusable(row, d, m, identity, messageId, 'encryption failed');
    }
    return composePgpMime({
      from: identity.from,
      to: d.email,
      messageId,
      outerSubject: `Secure message from ${identity.practiceName}`,
      armoredMessage: armored,
      headers: { [SECURED_HEADER]: d.message_id },
    });
  }

  /**
   * The patient's stored key cannot be used now. Where the practice's policy allows secure links
   * (pgpFallbackToLink, the default) the delivery becomes one, at delivery time, because only then
   * is the key's state known (a key valid at send time may have expired while the message waited
   * for its scheduled hour or for retries): a link and reply token are issued, the delivery's
   * method and reason, the sealed payload and the audit event are committed in one transaction
   * before the notice is composed, so a retry of the row sends the same link and a crash leaves a
   * consistent link delivery. Only while the row is still ours (our claim); null when it is not.
   * Where links are not allowed: failed, with the reason for the sender (and their failure notice).
   */
  private async keyUnusable(
    row: OutboxTable,
    d: DeliveriesTable,
    m: Prefetched['m'],
    identity: MailIdentity,
    messageId: string,
    why: string,
  ): Promise<ComposedMail | Outcome | null> {
    const reason = `patient key unusable: ${why}`;
    const { policy } = await getPolicy(this.svc.db, row.practice_id);
    const audit = (tx: Tx, outcome: 'success' | 'failure') =>
      appendAudit(tx, {
        action: AUDIT.DELIVERY_FALLBACK,
        outcome,
        actor: { type: 'system', id: this.workerId },
        practiceId: row.practice_id,
        target: { type: 'delivery', id: d.id },
        details: {
          messageId: d.message_id,
          reason: why,
          method: outcome === 'success' ? 'link' : 'none',
        },
      });
    if (!policy.pgpFallbackToLink || !m.expires_at) {
      await this.svc.commit((tx) => audit(tx, 'failure'));
      return {
        kind: 'failed',
        detail: `${reason}; the practice's policy does not allow a secure link instead`,
      };
    }
    const expiresAt = m.expires_at;
    const link = newLinkToken();
    const reply = newReplyToken();
    const sealed = Buffer.from(
      sealSecret(
        this.svc.masterKey,
        JSON.stringify({ token: link.token, replyToken: reply.token } satisfies LinkPayload),
        outboxSealContext(row.id),
      ),
    );
    const t = nowIso(this.svc.now());
    const ours = await this.svc.commit(async (tx) => {
      const held = await tx
        .updateTable('outbox')
        .set({ payload: sealed })
        .where('id', '=', row.id)
        .where('claimed_by', '=', this.workerId)
        .where('done_at', 'is', null)
        .returning(['id'])
        .executeTakeFirst();
      if (!held) return false;
      const changed = await tx
        .updateTable('deliveries')
        .set({ method: 'link', method_reason: reason, updated_at: t })
        .where('id', '=', d.id)
        .where('method', '=', 'pgp')
        .returning(['id'])
        .executeTakeFirst();
      if (!changed) return false;
      await tx
        .insertInto('viewer_links')
        .values(
          newViewerLinkRow({
            token_sha256: link.sha256,
            reply_token_sha256: reply.sha256,
            practice_id: row.practice_id,
            delivery_id: d.id,
            message_id: d.message_id,
            expires_at: expiresAt,
            created_at: t,
          }),
        )
        .execute();
      await audit(tx, 'success');
      return true;
    });
    if (!ours) return null;
    return this.composeLinkNotice(row, d, m, identity, messageId, sealed);
  }

  private readonly codePolicy = new Map<string, { at: number; value: boolean }>();

  /** Whether notices mention the code step; only the wording depends on it, so 5 s of caching is fine. */
  private async codeRequired(practiceId: string): Promise<boolean> {
    const hit = this.codePolicy.get(practiceId);
    if (hit && Date.now() - hit.at < 5_000) return hit.value;
    const value = (await getPolicy(this.svc.db, practiceId)).policy.viewerSecondFactor;
    this.codePolicy.set(practiceId, { at: Date.now(), value });
    return value;
  }

  private async composeOtp(row: OutboxTable): Promise<ComposedMail | Outcome> {
    if (!row.payload) return { kind: 'failed', detail: 'code missing' };
    const opened = openSecret(this.svc.masterKey, row.payload.toString('utf8'), outboxSealContext(row.id));
    if (!opened.ok) return { kind: 'failed', detail: `code unreadable (${opened.reason})` };
    const { code, minutes } = JSON.parse(opened.plaintext.toString('utf8')) as {
      code: string;
      minutes: number;
    };
    const d = row.delivery_id
      ? await this.svc.db
          .selectFrom('deliveries')
          .select(['email'])
          .where('id', '=', row.delivery_id)
          .executeTakeFirst()
      : undefined;
    if (!d) return { kind: 'failed', detail: 'delivery row missing' };
    const identity = await mailIdentity(this.svc, row.practice_id);
    return composeSimple({
      from: identity.from,
      to: d.email,
      messageId: `<otp-${row.id}@${identity.domain}>`,
      content: oneTimeCodeNotice({ practiceName: identity.practiceName, code, minutes }),
    });
  }

  private async composeReplyNotice(row: OutboxTable): Promise<ComposedMail | Outcome> {
    const db = this.svc.db;
    const reply = row.payload_ref
      ? await db
          .selectFrom('replies')
          .select(['id', 'message_id'])
          .where('id', '=', row.payload_ref)
          .executeTakeFirst()
      : undefined;
    if (!reply) return { kind: 'failed', detail: 'reply missing' };
    const clinician = await db
      .selectFrom('messages')
      .innerJoin('clinicians', 'clinicians.id', 'messages.clinician_id')
      .select(['clinicians.email'])
      .where('messages.id', '=', reply.message_id)
      .executeTakeFirst();
    if (!clinician) return { kind: 'failed', detail: 'clinician missing' };
    const flags = row.payload
      ? (JSON.parse(row.payload.toString('utf8')) as { urgent?: boolean; otherSender?: boolean })
      : {};
    const identity = await mailIdentity(this.svc, row.practice_id);
    return composeSimple({
      from: identity.from,
      to: clinician.email,
      messageId: `<reply-${row.id}@${identity.domain}>`,
      content: replyNotice({
        practiceName: identity.practiceName,
        reference: reply.id,
        urgent: flags.urgent === true,
        otherSender: flags.otherSender === true,
      }),
    });
  }

  /**
   * Records outcomes in the caller's transaction (runOnce passes one row as its send ends; the group
   * commit joins concurrent ones). Sent rows take a few statements together (one multi-row insert of
   * the attempts, one update of the outbox rows, one of their deliveries); the rest go row by row.
   */
  private async recordAll(tx: Tx, done: Done[]): Promise<void> {
    const t = nowIso(this.svc.now());
    const x = ddb(tx);
    // Attempt records, 9 values a row: chunks of 100 rows stay far below any bind-parameter limit.
    for (let k = 0; k < done.length; k += 100) {
      await x
        .insertInto('delivery_attempts')
        .values(
          done.slice(k, k + 100).map(({ row, outcome, ms }) => ({
            id: newId(),
            practice_id: row.practice_id,
            outbox_id: row.id,
            delivery_id: row.delivery_id,
            attempt: row.attempts,
            at: t,
            outcome: outcome.kind,
            detail: outcome.detail.slice(0, 500),
            duration_ms: ms,
          })),
        )
        .execute();
    }
    const sent = done.filter((d) => d.outcome.kind === 'sent');
    for (const d of done) if (d.outcome.kind !== 'sent') await this.recordOther(tx, d.row, d.outcome);
    // The sealed link token or code is no longer needed once sent: only its hash remains. A reply
    // notice keeps its payload (no secret in it).
    for (const keepPayload of [false, true]) {
      const ids = sent.filter((d) => (d.row.kind === 'reply_notice') === keepPayload).map((d) => d.row.id);
      if (ids.length === 0) continue;
      // Only the claimant may finish a row: if our lease ran out and another worker took it, its
      // result wins and ours is just the attempt record above.
      const marked = await tx
        .updateTable('outbox')
        .set({
          done_at: t,
          claimed_until: null,
          permanent_failure: 0,
          last_error: null,
          ...(keepPayload ? {} : { payload: null }),
        })
        .where('id', 'in', ids)
        .where('claimed_by', '=', this.workerId)
        .where('done_at', 'is', null)
        .returning(['id'])
        .execute();
      const mine = new Set(marked.map((r) => r.id));
      // Never move a delivery backwards: a re-send after a crash may find it opened already. A PGP
      // delivery marked revoked is the exception: the relay took it, the patient has the content,
      // and the status must not claim otherwise (a revoke during the send, see revokeMessage).
      const byAttempts = new Map<number, string[]>();
      const notMine: string[] = [];
      for (const { row } of sent) {
        if (!row.delivery_id || row.kind !== 'delivery') continue;
        if (!mine.has(row.id)) notMine.push(row.delivery_id);
        else byAttempts.set(row.attempts, [...(byAttempts.get(row.attempts) ?? []), row.delivery_id]);
      }
      if (notMine.length > 0) {
        // Our lease ran out mid-send and the row was finished by someone else (another worker, or
        // a revoke that took it for unsent): their record stands, but not a 'revoked' that is false.
        const wentOut = await tx
          .updateTable('deliveries')
          .set({ status: 'sent', sent_at: sql<string>`coalesce(sent_at, ${t})`, updated_at: t })
          .where('id', 'in', notMine)
          .where('method', '=', 'pgp')
          .where('status', '=', 'revoked')
          .returning(['id'])
          .execute();
        // The patient has it after all: the revoke's "never received" mark goes too. (A revoke marks
        // a PGP delivery revoked only while finishing its outbox row, so a row still ours, below,
        // never carries one.)
        await unmarkUndelivered(
          tx,
          wentOut.map((d) => d.id),
        );
      }
      for (const [attempts, deliveryIds] of byAttempts) {
        await tx
          .updateTable('deliveries')
          .set({
            status: sql<string>`case when status in ('queued', 'scheduled') or (status = 'revoked' and method = 'pgp') then 'sent' else status end`,
            sent_at: sql<string>`coalesce(sent_at, ${t})`,
            attempts,
            last_error: null,
            updated_at: t,
          })
          .where('id', 'in', deliveryIds)
          .execute();
      }
    }
  }

  /** The outcome of one row other than sent (a retry, a failure, a skip); its attempt is recorded. */
  private async recordOther(
    tx: Tx,
    row: OutboxTable,
    outcome: Exclude<Outcome, { kind: 'sent' }>,
  ): Promise<void> {
    const now = this.svc.now();
    const t = nowIso(now);
    // Only the claimant may finish the row: if our lease ran out and another worker took it, its
    // result wins and ours is just the attempt record.
    const mine = (q: ReturnType<typeof tx.updateTable<'outbox'>>) =>
      q.where('id', '=', row.id).where('claimed_by', '=', this.workerId).where('done_at', 'is', null);
    if (outcome.kind === 'retry') {
      const delay = backoffMs(row.attempts, this.o.backoffBaseMs, this.o.backoffMaxMs, this.o.random);
      await mine(tx.updateTable('outbox'))
        .set({
          available_at: nowIso(new Date(now.getTime() + delay)),
          claimed_by: null,
          claimed_until: null,
          last_error: outcome.detail,
        })
        .execute();
      if (row.delivery_id) {
        await tx
          .updateTable('deliveries')
          .set({ attempts: row.attempts, last_error: outcome.detail, updated_at: t })
          .where('id', '=', row.delivery_id)
          .execute();
      }
      return;
    }
    const res = await mine(tx.updateTable('outbox'))
      .set({
        done_at: t,
        claimed_until: null,
        permanent_failure: outcome.kind === 'failed' ? 1 : 0,
        last_error: outcome.detail,
        // The sealed link token or code is no longer needed: only its hash remains.
        payload: row.kind === 'reply_notice' ? row.payload : null,
      })
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return;
    // A relayed message's copy that failed for good: its sender hears of it (gateway-mail.ts).
    if (row.kind === GATEWAY_MAIL_KIND && outcome.kind === 'failed')
      await queueRelayFailureNotice(
        tx,
        { id: row.id, practiceId: row.practice_id, ref: row.payload_ref },
        now,
        this.o.failureNoticeDelayMs,
      );
    if (!row.delivery_id || row.kind !== 'delivery') return;
    if (outcome.kind === 'failed') {
      const failed = await tx
        .updateTable('deliveries')
        .set({ status: 'failed', attempts: row.attempts, last_error: outcome.detail, updated_at: t })
        .where('id', '=', row.delivery_id)
        .returning(['message_id'])
        .executeTakeFirst();
      // The sender hears of it by email (PHI-free, one per message per burst), in this transaction.
      if (failed)
        await queueFailureNotice(
          tx,
          { practiceId: row.practice_id, messageId: failed.message_id },
          now,
          this.o.failureNoticeDelayMs,
        );
    } else if (outcome.deliveryStatus) {
      await tx
        .updateTable('deliveries')
        .set({ status: outcome.deliveryStatus, updated_at: t })
        .where('id', '=', row.delivery_id)
        .where('status', 'in', ['queued', 'scheduled'])
        .execute();
    }
    // Refused for good, or stopped before it went out (revoked, expired): the patient never got
    // it, so it must not wait for their answer (engagement/events-store.ts).
    const reason = outcome.kind === 'failed' ? 'failed' : outcome.deliveryStatus;
    if (reason) await markUndelivered(tx, [row.delivery_id], reason, now);
  }
}

/** Thrown by a test's afterSend hook to play a process crash between SMTP accept and the update. */
export class SimulatedCrash extends Error {
  constructor() {
    super('simulated crash');
    this.name = 'SimulatedCrash';
  }
}

/** A readPublicKey reason in the words the sender sees. */
function keyReason(reason: string): string {
  switch (reason) {
    case 'expired':
      return 'expired';
    case 'revoked':
      return 'revoked';
    case 'no_encryption_key':
      return 'no encryption subkey';
    default:
      return reason.replace(/_/g, ' ');
  }
}

function errorCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; name?: unknown };
    if (typeof e.code === 'string') return e.code;
    if (typeof e.name === 'string') return e.name;
  }
  return 'error';
}
