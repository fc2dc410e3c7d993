import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { DEFAULT_POLICY, PolicySchema, type Policy } from '@attune/shared/policy';
import type { SendMessageRequest } from '@attune/shared/api';
import type {
  Envelope,
  GatewayBackend,
  GatewayMail,
  InboundReply,
  OutboundSender,
  ReplyResult,
  SecureSendResult,
  TokenState,
} from './backend.ts';
import { loadGatewayConfig, type GatewayConfig } from './config.ts';
import { smtpRelayTransport } from '../delivery/smtp-relay.ts';
import { relayVia, type Relay } from './relay.ts';
import type { Config } from '../config.ts';
import { generateMasterKey, parseMasterKey, type MasterKey } from '../crypto/index.ts';
import { relayedReference } from '../delivery/gateway-mail.ts';
import { ensurePracticeKeys } from '../delivery/index.ts';
import { openStore } from '../store/index.ts';
import { ensurePractice } from '../store/practices.ts';
import { insertTestClinician, insertTestPatient } from '../store/test-rows.ts';

// Test support: a real downstream SMTP server that records what reaches it, a self-signed
// certificate, a gateway config for loopback, and an in-memory backend for listener-level tests
// (the end-to-end tests use the real store-backed one).

export interface SinkMessage {
  from: string;
  to: string[];
  raw: Buffer;
}

/** The gateway's own relay to a test sink (plain SMTP: the sink offers no STARTTLS). */
export function sinkRelay(sink: Sink): Relay {
  return relayVia(smtpRelayTransport({ url: sink.url, requireTls: false, maxConnections: 10 }));
}

export interface Sink {
  port: number;
  url: string;
  messages: SinkMessage[];
  close(): Promise<void>;
}

/**
 * `refuse` answers RCPT TO for an address with that SMTP code (null: accept), given the envelope
 * sender ('' for MAIL FROM:<>); `refuseSender`, MAIL FROM (as a relay that does not accept our
 * sender does).
 */
export async function startSink(
  opts: { refuse?: (address: string, from: string) => number | null; refuseSender?: number } = {},
): Promise<Sink> {
  const messages: SinkMessage[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    disableReverseLookup: true,
    onMailFrom(_address, _session, cb) {
      if (opts.refuseSender === undefined) return cb();
      cb(Object.assign(new Error('Sender not allowed'), { responseCode: opts.refuseSender }));
    },
    onRcptTo(address, session, cb) {
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const code = opts.refuse?.(address.address, from) ?? null;
      if (code === null) return cb();
      cb(Object.assign(new Error(code >= 500 ? 'No such user' : 'Try again later'), { responseCode: code }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        cb();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export { selfSignedCert } from '../testing/tls.ts';

export function testGatewayConfig(
  env: Record<string, string> = {},
  over: Partial<GatewayConfig> = {},
): GatewayConfig {
  return {
    ...loadGatewayConfig({
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_HOSTNAME: 'gw.test',
      GATEWAY_REPLY_DOMAIN: 'reply.clinic.test',
      ...env,
    }),
    ...over,
  };
}

/** A nodemailer client; `raw` keeps the exact bytes we want the gateway to see. */
export function client(
  port: number,
  opts: { requireTLS?: boolean; ignoreTLS?: boolean; auth?: { user: string; pass: string } } = {},
) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: opts.ignoreTLS ?? !opts.requireTLS,
    requireTLS: opts.requireTLS ?? false,
    tls: { rejectUnauthorized: false },
    ...(opts.auth ? { auth: opts.auth } : {}),
  });
}

export function rawMessage(p: {
  from: string;
  to: string;
  subject: string;
  text: string;
  messageId?: string;
  extraHeaders?: string;
}): Buffer {
  return Buffer.from(
    `From: ${p.from}\r\nTo: ${p.to}\r\nSubject: ${p.subject}\r\nDate: Sun, 22 Nov 2026 07:00:00 +0000\r\n` +
      `Message-ID: ${p.messageId ?? `<${Math.random().toString(36).slice(2)}@clinic.test>`}\r\n${p.extraHeaders ?? ''}` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${p.text.replace(/\r?\n/g, '\r\n')}\r\n`,
  );
}

/** Backend of plain data structures over a real relay: for tests of the SMTP behaviour itself. */
export class MemoryBackend implements GatewayBackend {
  readonly secured: Array<{ sender: OutboundSender; request: SendMessageRequest }> = [];
  readonly replies: InboundReply[] = [];
  readonly tokens = new Map<
    string,
    { state: TokenState; messageId: string; patientId: string; sentAt: number }
  >();
  readonly clinicians = new Map<string, string>();
  readonly patients = new Set<string>();
  /** Secured message ids and the (lower-case) recipients each was sent to. */
  readonly securedIds = new Map<string, string[]>();
  /** Link and reply tokens of secured messages: token -> message id. */
  readonly linkTokens = new Map<string, string>();
  /** Mail the gateway queued (delivery status notifications). */
  readonly queued: GatewayMail[] = [];
  /** The practices' own reply domains (replyDomains), and how often the gateway read them. */
  readonly practiceReplyDomains: string[] = [];
  replyDomainReads = 0;
  /** The practices' own mail domains (practiceDomains): the senders relayed for. */
  readonly senderDomains: string[] = ['clinic.test'];
  failDomains = false;
  policy: Policy = DEFAULT_POLICY;
  failRelay = false;
  failQueue = false;

  private readonly masterKey = testMasterKey();

  constructor(private readonly next: Relay) {}

  setPolicy(p: Partial<Policy>): void {
    this.policy = PolicySchema.parse({ ...this.policy, ...p });
  }

  resolveSender(email: string): Promise<OutboundSender | null> {
    const id = this.clinicians.get(email.toLowerCase());
    return Promise.resolve(id ? { practiceId: 'p1', clinicianId: id, email, policy: this.policy } : null);
  }
  knownPatients(_p: string, emails: readonly string[]): Promise<Set<string>> {
    return Promise.resolve(new Set(emails.filter((e) => this.patients.has(e))));
  }
  isSecuredMessage(_p: string, id: string, recipients: readonly string[]): Promise<boolean> {
    const sentTo = this.securedIds.get(id);
    return Promise.resolve(sentTo !== undefined && recipients.every((r) => sentTo.includes(r.toLowerCase())));
  }
  noticeTokenMessage(_p: string, token: string): Promise<string | null> {
    return Promise.resolve(this.linkTokens.get(token) ?? null);
  }
  secureSend(sender: OutboundSender, request: SendMessageRequest): Promise<SecureSendResult> {
    this.secured.push({ sender, request });
    return Promise.resolve({ ok: true, messageId: `m${this.secured.length}` });
  }
  practiceDomain(): Promise<string | null> {
    return Promise.resolve('clinic.test');
  }
  /** Keyed like the store's, under this backend's own master key. */
  relayedReference(transactionKey: string): string {
    return relayedReference(this.masterKey, transactionKey);
  }
  /** Like the store's: a Message-ID already queued is not queued again. */
  queueMail(mail: GatewayMail): Promise<void> {
    if (this.failQueue) return Promise.reject(new Error('outbox unavailable'));
    if (!this.queued.some((q) => q.messageId === mail.messageId)) this.queued.push(mail);
    return Promise.resolve();
  }
  async relay(envelope: Envelope, raw: Buffer): Promise<void> {
    if (this.failRelay) throw Object.assign(new Error('next hop down'), { code: 'ECONNREFUSED' });
    await this.next.send(envelope, raw);
  }
  replyDomains(): Promise<string[]> {
    this.replyDomainReads++;
    return Promise.resolve([...this.practiceReplyDomains]);
  }
  practiceDomains(): Promise<string[]> {
    if (this.failDomains) return Promise.reject(new Error('database down'));
    return Promise.resolve([...this.senderDomains]);
  }
  replyTokenState(token: string): Promise<TokenState> {
    return Promise.resolve(this.tokens.get(token)?.state ?? 'unknown');
  }
  acceptReply(reply: InboundReply): Promise<ReplyResult> {
    const t = this.tokens.get(reply.token);
    if (!t) return Promise.resolve({ ok: false, reason: 'unknown_token' });
    if (t.state !== 'valid')
      return Promise.resolve({ ok: false, reason: t.state === 'revoked' ? 'revoked' : 'expired' });
    this.replies.push(reply);
    const latencyMs = reply.receivedAt.getTime() - t.sentAt;
    return Promise.resolve({
      ok: true,
      replyId: `r${this.replies.length}`,
      messageId: t.messageId,
      patientId: t.patientId,
      latencyMs,
    });
  }
}

/**
 * A practice with keys, one clinician and one patient, in the store `config` points at (the crash
 * test and the benchmark seed it before starting the gateway process).
 */
export async function seedPractice(
  config: Config,
  people: { clinician: string; patient: string },
): Promise<{ practiceId: string }> {
  const store = await openStore(config);
  try {
    const { practiceId } = await ensurePractice(store.db, {
      name: config.practice.name,
      domains: config.practice.domains,
      replyDomain: config.practice.replyDomain,
    });
    const mk = parseMasterKey(config.masterKey);
    if (!mk.ok) throw new Error('seedPractice needs ATTUNE_MASTER_KEY');
    await ensurePracticeKeys(store.db, mk.masterKey, practiceId);
    await insertTestClinician(store.db, practiceId, { email: people.clinician, name: null });
    await insertTestPatient(store.db, practiceId, { email: people.patient, name: null });
    return { practiceId };
  } finally {
    await store.close();
  }
}

/** A fresh master key, parsed (for the in-memory backend's keyed references). */
function testMasterKey(): MasterKey {
  const mk = parseMasterKey(generateMasterKey());
  if (!mk.ok) throw new Error('generated master key did not parse');
  return mk.masterKey;
}
