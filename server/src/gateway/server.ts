import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerDataStream,
  type SMTPServerSession,
} from 'smtp-server';
import type { GatewayBackend } from './backend.ts';
import type { GatewayConfig } from './config.ts';
import { fromAddress, parse } from './extract.ts';
import { returnPathDomain } from '../delivery/verp.ts';
import { handleDeliveryReports } from './bounces.ts';
import { handleReplies } from './inbound.ts';
import { ConnectionLimiter, RateLimiter } from './limits.ts';
import { MARKER_HEADER, Marker, headerValues, readHeaders, startsWithHeader } from './marker.ts';
import { handleOutbound } from './outbound.ts';
import { smtpError, type SmtpReply } from './smtp-reply.ts';
import { SenderDomains } from './sender-domains.ts';
import { normalise, parseSources } from './sources.ts';

// The SMTP listener. Two kinds of client reach it:
// - the practice's mail servers (allowed source addresses, or a connector that authenticated over
//   TLS), relaying outbound mail for enforcement;
// - anyone else, who may only deliver to reply addresses in the reply domain (patients answering a
//   notice). Everything else is refused at RCPT with 550: the gateway is never an open relay.
// An allowed source address is not enough to relay: the practice's mail servers are Google's and
// Exchange Online's, whose outbound ranges every other tenant shares. Over an address, only mail of a
// practice is relayed: its envelope sender's domain is a practice's (see senderMayRelay).
// Every handler answers through its callback on every path; no exception escapes to the process.

export type GatewayLog = (event: Record<string, unknown>) => void;

export interface Gateway {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly stats: GatewayStats;
}

export interface GatewayStats {
  connections: number;
  relayed: number;
  secured: number;
  replies: number;
  refused: number;
  tempFailures: number;
}

const MAX_RECIPIENTS = 100;
const REPLY_DOMAINS_TTL_MS = 60_000;
const REPLY_DOMAINS_MIN_GAP_MS = 2_000;
const SENDER_DOMAINS_TTL_MS = 60_000;
const SENDER_DOMAINS_MIN_GAP_MS = 2_000;

export function createGateway(
  config: GatewayConfig,
  backend: GatewayBackend,
  log: GatewayLog = () => {},
): Gateway {
  const sources = parseSources(config.allowedSources);
  const connections = new ConnectionLimiter(config.maxConnectionsPerIp);
  const relayRate = new RateLimiter(config.relayRatePerMinute);
  const inboundRate = new RateLimiter(config.inboundRatePerMinute);
  const marker = new Marker(config.markerSecret);
  const holding = new WeakSet<SMTPServerSession>();
  const charged = new WeakSet<object>();
  const stats: GatewayStats = {
    connections: 0,
    relayed: 0,
    secured: 0,
    replies: 0,
    refused: 0,
    tempFailures: 0,
  };
  const replyDomains = new Set(config.replyDomains.map((d) => d.toLowerCase()));
  // A practice's own reply domain may be added or changed while we run (attune practice
  // set-domains): re-read them every REPLY_DOMAINS_TTL_MS in the background, and at once (at most
  // every REPLY_DOMAINS_MIN_GAP_MS) when a reply address names a domain we do not know, so its
  // first reply is not refused; no query per message otherwise. Domains are only added: a reply to
  // a notice sent under a practice's previous domain is still taken (its token decides).
  let domainsReadAt = Date.now(); // startGateway read them just now
  let domainsMissedAt = 0;
  let domainsReading: Promise<void> | null = null;
  const readReplyDomains = (): Promise<void> => {
    if (!backend.replyDomains) return Promise.resolve();
    return (domainsReading ??= backend
      .replyDomains()
      .then(
        (ds) => {
          for (const d of ds) replyDomains.add(d.toLowerCase());
        },
        (err: unknown) => log({ event: 'gateway.reply_domains_failed', error: errorName(err) }),
      )
      .finally(() => {
        domainsReadAt = Date.now();
        domainsReading = null;
      }));
  };
  const replyRe = new RegExp(`^${escapeRe(config.replyLocalPrefix)}\\+([A-Za-z0-9_-]{16,128})@([^@]+)$`, 'i');

  const replyToken = (address: string): string | null => {
    const m = replyRe.exec(address);
    // The token keeps its case (it is the secret); the rest of the address is case-insensitive.
    return m && replyDomains.has(m[2]!.toLowerCase()) ? m[1]! : null;
  };
  // A delivery's return path (VERP, delivery/verp.ts): bounce+<id>[-<generation>]-<MAC>@<reply
  // domain>. Its MAC is checked at RCPT, before anything else is done with it.
  const isReturnPath = (address: string): boolean => {
    const domain = returnPathDomain(address);
    return domain !== null && replyDomains.has(domain);
  };
  /** 'reply' (reply+<token>@), 'report' (a return path) or 'other', for one kind per transaction. */
  const kindOf = (address: string): 'reply' | 'report' | 'other' =>
    replyToken(address) !== null ? 'reply' : isReturnPath(address) ? 'report' : 'other';
  const inReplyDomain = (address: string): boolean =>
    replyDomains.has(address.slice(address.lastIndexOf('@') + 1).toLowerCase());
  const mayRelay = (session: SMTPServerSession): boolean =>
    sources.allows(session.remoteAddress) || Boolean(session.user);
  const practiceDomains = new SenderDomains(
    () => backend.practiceDomains(),
    (err) => log({ event: 'gateway.sender_domains_failed', error: errorName(err) }),
    SENDER_DOMAINS_TTL_MS,
    SENDER_DOMAINS_MIN_GAP_MS,
  );
  const extraSenderDomains = new Set(config.senderDomains);
  /**
   * Whether mail from `address` is a practice's: its domain is a practice's own (practice_domains),
   * a reply domain (Attune's notices come from notices@<reply domain>) or GATEWAY_SENDER_DOMAINS /
   * MAIL_FROM's. Exact domains only: a subdomain may be delegated to someone else (a newsletter
   * service), so it is relayed for only when registered itself. Only the envelope sender is
   * checked, not the header From: a practice's user may send as an alias or group of the practice
   * (still its domain), and a forged From over a practice's own envelope is that practice's own user,
   * whom its mail server authenticated; the header From is checked for a null sender (processMessage).
   */
  const senderMayRelay = async (address: string | null): Promise<'known' | 'unknown' | 'unavailable'> => {
    const domain = domainOf(address);
    if (!domain) return 'unknown';
    if (extraSenderDomains.has(domain) || replyDomains.has(domain)) return 'known';
    return practiceDomains.check(domain);
  };

  const received = (session: SMTPServerSession): string => {
    const proto = `ESMTP${session.secure ? 'S' : ''}${session.user ? 'A' : ''}`;
    const helo = (session.hostNameAppearsAs || 'unknown').replace(/[^\w.:[\]-]/g, '');
    const date = new Date().toUTCString().replace('GMT', '+0000');
    return `Received: from ${helo} ([${normalise(session.remoteAddress)}])\r\n\tby ${config.hostname} (Attune gateway) with ${proto} id ${session.id};\r\n\t${date}\r\n`;
  };

  const server = new SMTPServer({
    name: config.hostname,
    banner: 'Attune gateway',
    size: config.maxMessageBytes,
    maxClients: config.maxConnections,
    socketTimeout: config.socketTimeoutMs,
    logger: false,
    disableReverseLookup: true,
    hideSTARTTLS: config.tls === null,
    ...(config.tls ? { key: config.tls.key, cert: config.tls.cert, minVersion: 'TLSv1.2' as const } : {}),
    // Connectors authenticate; nobody else needs to. AUTH is offered only over TLS.
    authOptional: true,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    disabledCommands: config.connectors.length === 0 ? ['AUTH'] : [],

    onConnect(session, cb) {
      const ip = normalise(session.remoteAddress);
      if (!connections.acquire(ip)) {
        log({ event: 'gateway.conn_limited' });
        cb(smtpError(421, '4.7.0 Too many connections from your address, try again later'));
        return;
      }
      holding.add(session);
      stats.connections++;
      cb();
    },

    onClose(session) {
      if (holding.delete(session)) connections.release(normalise(session.remoteAddress));
    },

    onAuth(auth, session, cb) {
      const c = config.connectors.find((x) => safeEqual(x.user, auth.username ?? ''));
      if (!c || !safeEqual(c.password, auth.password ?? '')) {
        log({ event: 'gateway.auth_failed' });
        cb(smtpError(535, '5.7.8 Authentication credentials invalid'));
        return;
      }
      cb(null, { user: c.user });
    },

    onMailFrom(_address: SMTPServerAddress, session, cb) {
      if (config.requireTls && !session.secure) {
        cb(smtpError(530, '5.7.0 Must issue a STARTTLS command first'));
        return;
      }
      cb();
    },

    onRcptTo(address: SMTPServerAddress, session, cb) {
      void (async (): Promise<void> => {
        const rcpt = address.address.trim();
        const already = session.envelope.rcptTo.map((a) => a.address);
        if (already.length >= MAX_RECIPIENTS) throw smtpError(452, '4.5.3 Too many recipients');
        if (Date.now() - domainsReadAt > REPLY_DOMAINS_TTL_MS) void readReplyDomains();
        let token = replyToken(rcpt);
        if (!token && Date.now() - domainsMissedAt > REPLY_DOMAINS_MIN_GAP_MS && replyRe.test(rcpt)) {
          domainsMissedAt = Date.now();
          await readReplyDomains();
          token = replyToken(rcpt);
        }
        const firstKind = already.length > 0 ? kindOf(already[0]!) : null;
        const firstIsReply = firstKind === null ? null : firstKind === 'reply';
        if (isReturnPath(rcpt)) {
          // A delivery status notification about one of our deliveries goes to its one return
          // path: alone in its transaction. Forged or mistyped: refused on the MAC, nothing looked up.
          if (firstKind !== null)
            throw smtpError(452, '4.5.3 Send delivery reports in a separate transaction');
          chargeOnce(session, inboundRate);
          if (!backend.returnPathDelivery?.(rcpt)) {
            log({ event: 'gateway.return_path_refused' });
            throw smtpError(550, '5.1.1 No such recipient');
          }
          return;
        }
        if (firstKind === 'report') throw smtpError(452, '4.5.3 Send other mail in a separate transaction');
        if (token) {
          // One kind per transaction: a 452 makes the client send the rest separately (RFC 5321 3.3).
          if (firstIsReply === false) throw smtpError(452, '4.5.3 Send replies in a separate transaction');
          chargeOnce(session, inboundRate);
          const state = await backend.replyTokenState(token);
          if (state !== 'valid') {
            log({ event: 'gateway.reply_token_refused', state });
            throw smtpError(550, '5.1.1 Unknown or expired reply address');
          }
          return;
        }
        if (inReplyDomain(rcpt)) throw smtpError(550, '5.1.1 No such recipient');
        if (!mayRelay(session)) {
          log({ event: 'gateway.relay_denied', reason: 'source' });
          throw smtpError(550, '5.7.1 Relaying denied');
        }
        if (firstIsReply === true) throw smtpError(452, '4.5.3 Send outbound mail in a separate transaction');
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address.trim() : '';
        if (from === '') {
          // A null sender is a delivery report (RFC 5321 4.5.5), which goes to the one reverse path
          // of the message it reports on: to more than one recipient it is no report but the classic
          // way to relay spam with no return address. Its header From is checked once it has come
          // (processMessage).
          if (already.length > 0) {
            log({
              event: 'gateway.relay_denied',
              reason: 'null_sender_recipients',
              rcpts: already.length + 1,
            });
            throw smtpError(550, '5.7.1 Relaying denied: a null-sender message goes to one recipient');
          }
        } else if (!session.user) {
          // An authenticated connector is the practice's own (its password is no other tenant's);
          // an allowed address may be any tenant of Google's or Microsoft's.
          const known = await senderMayRelay(from);
          if (known === 'unavailable') throw smtpError(451, '4.3.0 Temporary failure, try again later');
          if (known === 'unknown') {
            // Domains and counts only: never a local part, a subject or a body.
            log({
              event: 'gateway.relay_denied',
              reason: 'sender_domain',
              senderDomain: domainOf(from),
              rcpts: already.length + 1,
            });
            throw smtpError(550, '5.7.1 Relaying denied: sender not in a practice domain');
          }
        }
        chargeOnce(session, relayRate);
      })().then(
        () => cb(),
        (err: unknown) => cb(asSmtpError(err, log)),
      );
    },

    onData(stream: SMTPServerDataStream, session, cb) {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (err: Error | null, message?: string): void => {
        if (done) return;
        done = true;
        if (err) cb(err);
        else cb(null, message);
      };
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= config.maxMessageBytes) chunks.push(c);
      });
      stream.on('error', () => finish(smtpError(451, '4.3.0 Transfer interrupted')));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          stats.refused++;
          finish(smtpError(552, '5.3.4 Message exceeds the size limit'));
          return;
        }
        const raw = Buffer.concat(chunks, size);
        processMessage(session, raw).then(
          (reply) => {
            if (reply.code === 250) finish(null, reply.message);
            else {
              if (reply.code >= 500) stats.refused++;
              else stats.tempFailures++;
              finish(smtpError(reply.code, reply.message));
            }
          },
          (err: unknown) => {
            stats.tempFailures++;
            // Nothing was acknowledged: a 451 leaves the message with the sender's server, which retries.
            log({ event: 'gateway.error', error: errorName(err) });
            finish(smtpError(451, '4.3.0 Temporary failure, try again later'));
          },
        );
      });
    },
  });

  function chargeOnce(session: SMTPServerSession, limiter: RateLimiter): void {
    if (charged.has(session.envelope)) return;
    if (!limiter.take(normalise(session.remoteAddress))) {
      throw smtpError(451, '4.7.1 Rate limit exceeded, try again later');
    }
    charged.add(session.envelope);
  }

  async function processMessage(session: SMTPServerSession, raw: Buffer): Promise<SmtpReply> {
    const rcpts = session.envelope.rcptTo.map((a) => a.address.trim());
    const envelope = {
      from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      to: rcpts.map((r) => r.toLowerCase()),
    };
    if (!startsWithHeader(raw)) {
      return { code: 550, message: '5.6.0 Malformed message: no RFC 5322 header' };
    }
    const headers = readHeaders(raw);
    const messageId = headerValues(headers, 'message-id')[0]?.trim() || null;
    const hops = headerValues(headers, 'received').length;
    const stamp = marker.stamp(messageId);
    const ours = Marker.count(headerValues(headers, MARKER_HEADER), stamp);
    if (hops >= config.maxHops || ours >= 2) {
      log({ event: 'gateway.loop', hops, markers: ours });
      return { code: 554, message: '5.4.6 Routing loop detected' };
    }
    // A report to a delivery's return path (its MAC checked at RCPT): read as a report, not as mail.
    const deliveries = rcpts.flatMap((r) => {
      const ref = isReturnPath(r) ? backend.returnPathDelivery?.(r) : null;
      return ref ? [ref] : [];
    });
    if (deliveries.length > 0) return handleDeliveryReports(backend, deliveries, raw, log);

    let mail;
    try {
      mail = await parse(raw, headers);
    } catch {
      return { code: 550, message: '5.6.0 Malformed message: MIME structure could not be parsed' };
    }

    const tokens = rcpts.map(replyToken).filter((t): t is string => t !== null);
    if (tokens.length > 0) {
      const auto = headerValues(headers, 'auto-submitted')[0]?.trim().toLowerCase();
      const isReport = /^\s*multipart\/report/i.test(headerValues(headers, 'content-type')[0] ?? '');
      if (!envelope.from || isReport || (auto && auto !== 'no')) {
        // Bounces and auto-replies (RFC 3834) are not the patient answering: accept and drop them,
        // so they neither bounce back nor count as engagement.
        log({ event: 'gateway.reply_auto_dropped' });
        return { code: 250, message: '2.0.0 Accepted' };
      }
      const r = await handleReplies(backend, tokens, envelope, raw, mail, log);
      if (r.code === 250) stats.replies++;
      return r;
    }

    if (envelope.from === '' && ours === 0 && !session.user) {
      // A null sender over an allowed address: relayed only when it is a practice's report (its
      // header From in a practice's domain, as the gateway's own MAILER-DAEMON@<practice domain>)
      // or Attune's own mail coming round again (our marker, which no stranger can make). Anything
      // else is a stranger's message with no return address.
      const from = fromAddress(mail);
      const known = await senderMayRelay(from);
      if (known === 'unavailable') return { code: 451, message: '4.3.0 Temporary failure, try again later' };
      if (known === 'unknown') {
        log({
          event: 'gateway.relay_denied',
          reason: 'null_sender_from',
          fromDomain: domainOf(from),
          rcpts: rcpts.length,
        });
        return { code: 550, message: '5.7.1 Relaying denied: sender not in a practice domain' };
      }
    }

    const result = await handleOutbound(
      {
        backend,
        log,
        reports: { hostname: config.hostname, from: config.dsnFrom, practiceId: config.practiceId },
        stampForRelay: (bytes) => {
          const prefix = received(session) + (stamp ? `${MARKER_HEADER}: ${stamp}\r\n` : '');
          return Buffer.concat([Buffer.from(prefix, 'latin1'), bytes]);
        },
      },
      envelope,
      raw,
      mail,
      headers,
      { alreadyProcessed: ours >= 1, messageId },
    );
    if (result.kind === 'secured') stats.secured++;
    else if (result.kind.startsWith('relayed')) stats.relayed++;
    log({
      event: 'gateway.outbound',
      outcome: result.kind,
      code: result.reply.code,
      bytes: raw.length,
      rcpts: rcpts.length,
    });
    return result.reply;
  }

  // smtp-server reports socket-level problems (resets, TLS handshake failures) here; without a
  // listener an 'error' event would crash the process.
  server.on('error', (err: Error) => log({ event: 'gateway.socket_error', error: errorName(err) }));

  return {
    stats,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (e: Error): void => reject(e);
        server.server.once('error', onError);
        server.listen(config.port, config.host, () => {
          server.server.off('error', onError);
          resolve(server.server.address() as AddressInfo);
        });
      });
    },
    close() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The lower-case domain of an address; null when it has none. */
function domainOf(address: string | null): string | null {
  const at = address ? address.lastIndexOf('@') : -1;
  return address && at > 0 && at < address.length - 1 ? address.slice(at + 1).toLowerCase() : null;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function errorName(err: unknown): string {
  // Names and codes only: messages from parsers or drivers may quote the content.
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; code?: unknown };
    return [e.name, e.code].filter((v) => typeof v === 'string').join(':') || 'Error';
  }
  return 'Error';
}

function asSmtpError(err: unknown, log: GatewayLog): Error {
  if (err instanceof Error && typeof (err as { responseCode?: unknown }).responseCode === 'number')
    return err;
  log({ event: 'gateway.error', error: errorName(err) });
  return smtpError(451, '4.3.0 Temporary failure, try again later');
}
