import type { Config } from '../config.ts';
import { parseMasterKey, type MasterKey } from '../crypto/index.ts';
import type { AppDeps } from '../http/types.ts';
import type {
  DeliveryReport,
  DeliveryReportResult,
  InboundReply,
  OutboundSender,
  ReplyResult,
  SecureSendResult,
} from '../gateway/backend.ts';
import { availableParallelism } from 'node:os';
import { threadedRelayTransport } from './relay-thread.ts';
import { smtpRelayTransport } from './smtp-relay.ts';
import { Marker, markRaw, markerSecretFor } from '../gateway/marker.ts';
import type { Pipeline } from '../gateway/store-backend.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/index.ts';
import type { SendMessageRequest } from '@attune/shared/api';
import { createCommitQueue } from './commit-queue.ts';
import { recordDeliveryReport } from './delivery-report.ts';
import { queueGatewayMail, relayedReference } from './gateway-mail.ts';
import { OutboxWorker, type OutboxOptions } from './outbox.ts';
import { acceptReply } from './reply.ts';
import { sendSecureMessage } from './send.ts';
import type { DeliveryServices } from './services.ts';
import { createMailTransport, smtpConnectionOptions, type MailTransport } from './transport.ts';
import { deliveryOfReturnPath } from './verp.ts';

// The delivery module's entry point for startServer: one services object, the outbox worker and the
// pipeline the SMTP gateway calls (the same functions as POST /v1/messages and the viewer's reply).

export { sendSecureMessage } from './send.ts';
export type { SendContext, SendResult } from './send.ts';
export { acceptReply, readReply, resolveLink } from './reply.ts';
export { messageStatus, revokeMessage } from './status.ts';
export { messageNotice } from './notice.ts';
export { OutboxWorker, SimulatedCrash } from './outbox.ts';
export type { OutboxOptions } from './outbox.ts';
export { createMailTransport, fileTransport, smtpTransport } from './transport.ts';
export type { MailTransport } from './transport.ts';
export { ensurePracticeKeys, getKeyring } from './keyring.ts';
export type { DeliveryServices } from './services.ts';

export interface Delivery {
  services: DeliveryServices;
  worker: OutboxWorker;
  pipeline: Pipeline;
  /** Starts the outbox worker. */
  start(): void;
  /** Stops the worker (waiting for the batch in hand) and closes the transport. */
  stop(): Promise<void>;
}

/**
 * Where the outbox sends. With SMTP_URL: persistent nodemailer SMTPConnections to the relay
 * (smtp-relay.ts smtpRelayTransport, shared with the gateway's relay): each notice, already
 * composed (mime.ts), goes as MAIL/RCPT/DATA on an open connection, with the same STARTTLS, AUTH
 * and certificate settings (smtpConnectionOptions). nodemailer's pooled transport built a message
 * object, parsed addresses and streamed the raw bytes through a MIME tree for every notice, which
 * was most of the outbox's CPU per delivery (bench:server). With more than one core that relay runs
 * on a worker thread (relay-thread.ts), off the event loop; ATTUNE_SMTP_THREAD=0 keeps it on the
 * loop. Without SMTP_URL: the mail folder.
 */
function deliveryTransport(config: Config): MailTransport {
  if (!config.smtpUrl) return createMailTransport(config);
  const opts = { url: config.smtpUrl, requireTls: config.smtpRequireTls, maxConnections: 5 };
  const threaded =
    process.env['ATTUNE_SMTP_THREAD'] !== undefined
      ? process.env['ATTUNE_SMTP_THREAD'] !== '0'
      : availableParallelism() > 1;
  const relay = threaded
    ? threadedRelayTransport(opts, smtpConnectionOptions(opts).description)
    : smtpRelayTransport(opts);
  const secret = markerSecretFor(process.env['GATEWAY_MARKER_SECRET']?.trim(), config.masterKey);
  return secret ? markedTransport(relay, new Marker(secret)) : relay;
}

/**
 * Every message the outbox sends carries the gateway's marker (gateway/marker.ts markRaw): a
 * practice that routes all outbound mail through the gateway, the relay included, gets Attune's own
 * notices, PGP/MIME messages and codes through it unscanned, as mail the gateway already processed.
 */
function markedTransport(inner: MailTransport, marker: Marker): MailTransport {
  return {
    kind: inner.kind,
    description: inner.description,
    send: (mail, label) => inner.send({ ...mail, raw: markRaw(mail.raw, mail.messageId, marker) }, label),
    close: () => inner.close(),
  };
}

export function createDelivery(opts: {
  config: Config;
  store: Store;
  logger: Logger;
  now?: () => Date;
  transport?: MailTransport;
  worker?: OutboxOptions;
  /** The resolved master key (startServer's, which may come from DATA_DIR/master.key in development). */
  masterKey?: MasterKey;
}): Delivery {
  const mk = opts.masterKey
    ? { ok: true as const, masterKey: opts.masterKey }
    : parseMasterKey(opts.config.masterKey);
  if (!mk.ok) {
    throw new Error(
      mk.reason === 'missing'
        ? 'ATTUNE_MASTER_KEY is not set (32 random bytes, base64 or hex)'
        : 'ATTUNE_MASTER_KEY must be 32 bytes, as 64 hex digits or base64',
    );
  }
  let worker: OutboxWorker | null = null;
  // SQLite: the group's WAL fsync runs off the event loop (commit-queue.ts).
  const queue = createCommitQueue(opts.store.db, opts.store.syncWal ? { syncWal: opts.store.syncWal } : {});
  const services: DeliveryServices = {
    db: opts.store.db,
    dialect: opts.store.dialect,
    config: opts.config,
    masterKey: mk.masterKey,
    transport: opts.transport ?? deliveryTransport(opts.config),
    logger: opts.logger,
    now: opts.now ?? (() => new Date()),
    kick: () => worker?.kick(),
    commit: (fn) => queue.run(fn),
  };
  worker = new OutboxWorker(services, opts.worker);
  const w = worker;

  const pipeline: Pipeline = {
    async secureSend(
      sender: OutboundSender,
      request: SendMessageRequest,
      ctx: { idempotencyKey: string | null },
    ): Promise<SecureSendResult> {
      if (!sender.clinicianId)
        return {
          ok: false,
          reason: 'sender_unknown',
          detail: 'The sender is not a clinician of the practice.',
        };
      const r = await sendSecureMessage(
        services,
        {
          practiceId: sender.practiceId,
          clinicianId: sender.clinicianId,
          idempotencyKey: ctx.idempotencyKey,
          channel: 'gateway',
        },
        request,
      );
      if (r.ok) return { ok: true, messageId: r.response.id };
      if (r.code === 'blocked_by_policy')
        return { ok: false, reason: 'blocked_by_policy', detail: r.reasons.join('; ') || r.message };
      return { ok: false, reason: 'invalid', detail: r.message };
    },
    queueMail: (mail) => queueGatewayMail(services, mail),
    relayedReference: (transactionKey) => relayedReference(services.masterKey, transactionKey),
    returnPathDelivery: (address) => deliveryOfReturnPath(services.masterKey, address),
    acceptDeliveryReport: (report: DeliveryReport): Promise<DeliveryReportResult> =>
      recordDeliveryReport(services, report, { failureNoticeDelayMs: w.failureNoticeDelayMs }),
    async acceptReply(reply: InboundReply): Promise<ReplyResult> {
      const r = await acceptReply(services, {
        token: reply.token,
        text: reply.text,
        source: 'email',
        receivedAt: reply.receivedAt,
        raw: reply.raw,
        sender: reply.from,
      });
      if (!r.ok) return r;
      return {
        ok: true,
        replyId: r.replyId,
        messageId: r.messageId,
        patientId: r.patientId,
        latencyMs: r.latencyMs,
      };
    },
  };

  return {
    services,
    worker: w,
    pipeline,
    start: () => w.start(),
    async stop() {
      await w.stop();
      await services.transport.close();
    },
  };
}

// One Delivery per store: the route modules (mounted by createApp) and startServer (which starts
// and stops the worker) reach the same instance through the app's deps.
const byStore = new WeakMap<object, Delivery>();

function isMasterKey(v: unknown): v is MasterKey {
  return (
    typeof v === 'object' && v !== null && 'id' in v && 'key' in v && Buffer.isBuffer((v as MasterKey).key)
  );
}

/** The delivery module for an app's deps (created on first use; startServer starts its worker). */
export function deliveryFor(
  deps: Pick<AppDeps, 'config' | 'store' | 'logger' | 'services' | 'now'>,
): Delivery {
  const hit = byStore.get(deps.store);
  if (hit) return hit;
  const services = deps.services ?? {};
  const injected = services['delivery'];
  if (injected && typeof injected === 'object' && 'services' in injected) {
    byStore.set(deps.store, injected as Delivery);
    return injected as Delivery;
  }
  const masterKey = services['masterKey'];
  const d = createDelivery({
    config: deps.config,
    store: deps.store,
    logger: deps.logger,
    ...(deps.now ? { now: deps.now } : {}),
    ...(isMasterKey(masterKey) ? { masterKey } : {}),
  });
  byStore.set(deps.store, d);
  return d;
}
