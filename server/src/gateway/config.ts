import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

// The gateway's settings, read from the environment. Kept in its own block (and its own file) so the
// server's main config can include it without the two drifting: `loadGatewayConfig(process.env)`.

export interface ConnectorCredential {
  user: string;
  password: string;
}

export interface GatewayConfig {
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Address to bind. */
  host: string;
  /** Name in the banner, EHLO reply and the Received header we prepend. */
  hostname: string;
  /**
   * Addresses or CIDR ranges (IPv4 and IPv6) allowed to relay outbound mail through the gateway:
   * the practice's mail servers (Google Workspace, Exchange Online egress ranges).
   */
  allowedSources: string[];
  /** SMTP AUTH credentials of connectors that may relay from anywhere (over TLS only). */
  connectors: ConnectorCredential[];
  /** PEM certificate and key for STARTTLS; without them STARTTLS is not offered. */
  tls: { cert: string; key: string } | null;
  /** Refuse MAIL FROM until the client has upgraded with STARTTLS. */
  requireTls: boolean;
  /** Largest message accepted, in bytes (SIZE extension; over it: 552). */
  maxMessageBytes: number;
  /** Simultaneous connections, in total and per client address. */
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Messages per minute per client address: relaying sources, and everyone else (replies). */
  relayRatePerMinute: number;
  inboundRatePerMinute: number;
  /** Domains of per-message reply addresses (reply+<token>@<domain>); empty: replies off. */
  replyDomains: string[];
  /**
   * Envelope-sender domains relayed for besides the practices' own (practice_domains) and reply
   * domains: GATEWAY_SENDER_DOMAINS, and the domain of MAIL_FROM (Attune's own notices, which come
   * round again when the practice routes all outbound mail through the gateway). Exact domains:
   * a subdomain is relayed for only when listed itself.
   */
  senderDomains: string[];
  /** Local part prefix of reply addresses. */
  replyLocalPrefix: string;
  /** More Received headers than this is a routing loop (RFC 5321 6.3). */
  maxHops: number;
  /**
   * Key for the gateway-processed marker header (GATEWAY_MARKER_SECRET); when unset, startGateway
   * derives one from the master key, so every gateway process of a deployment shares it.
   */
  markerSecret: string | null;
  /** Practice the gateway works for when the sender's address does not say. */
  practiceId: string | null;
  /**
   * From address of the gateway's delivery status notifications (RFC 3464); unset:
   * MAILER-DAEMON@<the practice's domain>.
   */
  dsnFrom: string | null;
  /** Seconds of inactivity before a connection is dropped. */
  socketTimeoutMs: number;
}

export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError';
}

type Env = Record<string, string | undefined>;

function int(env: Env, key: string, def: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new GatewayConfigError(`${key} must be an integer between ${min} and ${max}.`);
  }
  return n;
}

function bool(env: Env, key: string, def: boolean): boolean {
  const raw = env[key]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new GatewayConfigError(`${key} must be true or false.`);
}

function list(env: Env, key: string): string[] | undefined {
  const raw = env[key];
  if (raw === undefined) return undefined;
  return raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A PEM given inline, or a path to a file holding it. */
function pem(env: Env, key: string): string | undefined {
  const raw = env[key]?.trim();
  if (!raw) return undefined;
  if (raw.startsWith('-----BEGIN')) return raw.replace(/\\n/g, '\n');
  try {
    return readFileSync(raw, 'utf8');
  } catch {
    throw new GatewayConfigError(`${key}: cannot read the file it names.`);
  }
}

export function isDomain(d: string): boolean {
  return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(d) || d === 'localhost';
}

function dsnFrom(env: Env): string | null {
  const raw = env['GATEWAY_DSN_FROM']?.trim();
  if (!raw) return null;
  const at = raw.lastIndexOf('@');
  if (
    at <= 0 ||
    !/^[!#-'*+\-/-9=?A-Z^-~.]+$/.test(raw.slice(0, at)) ||
    !isDomain(raw.slice(at + 1).toLowerCase())
  )
    throw new GatewayConfigError(
      'GATEWAY_DSN_FROM must be an email address (e.g. MAILER-DAEMON@clinic.example).',
    );
  return raw;
}

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const cert = pem(env, 'GATEWAY_TLS_CERT');
  const key = pem(env, 'GATEWAY_TLS_KEY');
  if ((cert === undefined) !== (key === undefined)) {
    throw new GatewayConfigError('GATEWAY_TLS_CERT and GATEWAY_TLS_KEY must be set together.');
  }
  const requireTls = bool(env, 'GATEWAY_REQUIRE_TLS', false);
  if (requireTls && !cert) {
    throw new GatewayConfigError('GATEWAY_REQUIRE_TLS needs GATEWAY_TLS_CERT and GATEWAY_TLS_KEY.');
  }
  const connectors = (list(env, 'GATEWAY_AUTH_USERS') ?? []).map((entry) => {
    const i = entry.indexOf(':');
    if (i <= 0 || i === entry.length - 1) {
      throw new GatewayConfigError('GATEWAY_AUTH_USERS entries are user:password.');
    }
    return { user: entry.slice(0, i), password: entry.slice(i + 1) };
  });
  for (const c of connectors) {
    // Connector passwords guard an outbound relay: refuse guessable ones.
    if (c.password.length < 16)
      throw new GatewayConfigError('GATEWAY_AUTH_USERS passwords need 16+ characters.');
  }
  // The practice's reply domain (notices' reply addresses) plus any the gateway is told about.
  const replyDomains = [
    ...new Set(
      [...(list(env, 'GATEWAY_REPLY_DOMAIN') ?? []), ...(list(env, 'PRACTICE_REPLY_DOMAIN') ?? [])].map((d) =>
        d.toLowerCase(),
      ),
    ),
  ];
  for (const d of replyDomains) {
    if (!isDomain(d))
      throw new GatewayConfigError('GATEWAY_REPLY_DOMAIN must be a domain name (or a comma-separated list).');
  }
  const mailFrom = env['MAIL_FROM']?.trim().toLowerCase();
  const senderDomains = [
    ...new Set([
      ...(list(env, 'GATEWAY_SENDER_DOMAINS') ?? []).map((d) => d.toLowerCase()),
      ...(mailFrom?.includes('@') ? [mailFrom.slice(mailFrom.lastIndexOf('@') + 1)] : []),
    ]),
  ];
  for (const d of senderDomains) {
    if (!isDomain(d))
      throw new GatewayConfigError(
        'GATEWAY_SENDER_DOMAINS (and the domain of MAIL_FROM) must be domain names (a comma-separated list).',
      );
  }
  return {
    port: int(env, 'GATEWAY_PORT', 2525, 0, 65535),
    host: env['GATEWAY_HOST']?.trim() || '0.0.0.0',
    hostname: env['GATEWAY_HOSTNAME']?.trim() || hostname(),
    // Loopback by default, so a fresh install relays nothing from the network.
    allowedSources: list(env, 'GATEWAY_ALLOWED_SOURCES') ?? ['127.0.0.1', '::1'],
    connectors,
    tls: cert && key ? { cert, key } : null,
    requireTls,
    maxMessageBytes: int(env, 'GATEWAY_MAX_MESSAGE_BYTES', 36 * 1024 * 1024, 1024, 200 * 1024 * 1024),
    maxConnections: int(env, 'GATEWAY_MAX_CONNECTIONS', 500, 1, 100_000),
    maxConnectionsPerIp: int(env, 'GATEWAY_MAX_CONNECTIONS_PER_IP', 100, 1, 100_000),
    relayRatePerMinute: int(env, 'GATEWAY_RELAY_RATE_PER_MINUTE', 60_000, 1, 10_000_000),
    inboundRatePerMinute: int(env, 'GATEWAY_INBOUND_RATE_PER_MINUTE', 60, 1, 10_000_000),
    replyDomains,
    senderDomains,
    replyLocalPrefix: env['GATEWAY_REPLY_PREFIX']?.trim() || 'reply',
    maxHops: int(env, 'GATEWAY_MAX_HOPS', 30, 2, 200),
    markerSecret: env['GATEWAY_MARKER_SECRET']?.trim() || null,
    practiceId: env['GATEWAY_PRACTICE_ID']?.trim() || null,
    dsnFrom: dsnFrom(env),
    socketTimeoutMs: int(env, 'GATEWAY_SOCKET_TIMEOUT_MS', 60_000, 1000, 3_600_000),
  };
}
