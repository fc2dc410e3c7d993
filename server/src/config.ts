import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';

// One typed configuration object, read from environment variables and validated at start-up, so a
// mistake stops the server with a message naming the variable instead of failing at first use.
// Secrets (ATTUNE_MASTER_KEY, passwords inside SMTP_URL / DATABASE_URL) are never echoed.

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .optional()
    .transform((v) => (v === undefined ? def : v === 'true' || v === '1' || v === 'yes'));

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );

const lowerList = list.transform((xs) => xs.map((x) => x.toLowerCase()));

const port = (def: number | undefined) =>
  z.coerce
    .number({ message: 'must be a port number' })
    .int('must be a whole number')
    .min(0, 'must be 0..65535')
    .max(65535, 'must be 0..65535')
    .optional()
    .transform((v) => v ?? def);

const urlWithScheme = (schemes: string[]) =>
  z
    .string()
    .optional()
    .refine(
      (v) => {
        if (v === undefined || v === '') return true;
        try {
          return schemes.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { message: `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}` },
    )
    .transform((v) => (v === '' ? undefined : v));

const positiveInt = (def: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int()
    .positive('must be positive')
    .optional()
    .transform((v) => v ?? def);

const EnvSchema = z.object({
  ATTUNE_ENV: z
    .enum(['development', 'production'], { message: 'must be development or production' })
    .default('development'),
  PORT: port(3000),
  HOST: z.string().min(1).optional(),
  /** Development mode mints tokens for anyone who asks: allowed off loopback only with this switch. */
  ATTUNE_UNSAFE_DEV_ON_NETWORK: bool(false),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: urlWithScheme(['postgres:', 'postgresql:']),
  DATABASE_POOL_MAX: positiveInt(10),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
    .optional(),
  SMTP_URL: urlWithScheme(['smtp:', 'smtps:']),
  SMTP_REQUIRE_TLS: bool(true),
  MAIL_FROM: z.email({ message: 'must be an email address' }).optional(),
  ATTUNE_MASTER_KEY: z.string().optional(),
  PUBLIC_URL: urlWithScheme(['http:', 'https:']),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRUST_PROXY: bool(false),
  CORS_ORIGINS: list,

  PRACTICE_NAME: z.string().min(1).max(200).default('Demo Practice'),
  PRACTICE_DOMAINS: lowerList,
  PRACTICE_REPLY_DOMAIN: z.string().optional(),
  PRACTICE_ENTRA_TENANT_ID: z.string().optional(),

  ADMIN_EMAILS: lowerList,
  AUTO_PROVISION_CLINICIANS: bool(true),

  ENTRA_CLIENT_IDS: list,
  ENTRA_JWKS_URL: z.url().default('https://login.microsoftonline.com/common/discovery/v2.0/keys'),
  ENTRA_ISSUER_TEMPLATE: z.string().default('https://login.microsoftonline.com/{tid}/v2.0'),
  ENTRA_ADMIN_ROLE: z.string().default('Attune.Admin'),

  GOOGLE_CLIENT_IDS: list,
  GOOGLE_JWKS_URL: z.url().default('https://www.googleapis.com/oauth2/v3/certs'),
  GOOGLE_ISSUERS: list,

  DEV_TOKEN_TTL_SECONDS: positiveInt(8 * 3600),
  TOKEN_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(300).default(60),

  MAX_BODY_BYTES: positiveInt(1024 * 1024),
  MAX_MESSAGE_BYTES: positiveInt(40 * 1024 * 1024),
  RATE_LIMIT_PER_MINUTE: positiveInt(600),
  RATE_LIMIT_UNAUTH_PER_MINUTE: positiveInt(60),
  // Signed checkpoints of the audit and archive chains (audit/checkpoint.ts); 0 turns the timer off.
  CHECKPOINT_INTERVAL_SECONDS: z.coerce
    .number({ message: 'must be a number' })
    .int()
    .min(0, 'must be 0 (off) or more')
    .max(7 * 24 * 3600, 'must be at most a week (604800)')
    .default(3600),

  GATEWAY_PORT: port(undefined),

  // HTTPS for `npm start` (Office loads add-ins over HTTPS only). HTTPS=dev uses the certificate
  // of office-addin-dev-certs (~/.office-addin-dev-certs); TLS_CERT_FILE/TLS_KEY_FILE name PEM files.
  HTTPS: z
    .enum(['dev'], {
      message: 'must be dev (or unset; use TLS_CERT_FILE and TLS_KEY_FILE for other certificates)',
    })
    .optional(),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** The built Outlook add-in served at /addin/ (default: addin-outlook/dist). */
  ADDIN_DIR: z.string().min(1).optional(),
  /** Extra origins allowed to frame the add-in (e.g. an on-premises OWA), comma-separated https origins. */
  ADDIN_FRAME_ANCESTORS: list.refine(
    (xs) => xs.every((x) => /^https:\/\/(\*\.)?[a-z0-9.-]+(:\d+)?$/i.test(x)),
    {
      message: 'must be comma-separated https origins such as https://owa.example.org',
    },
  ),
});

export interface Config {
  env: 'development' | 'production';
  isDevelopment: boolean;
  port: number;
  host: string;
  /** Absolute path of the data folder (SQLite file, mail folder, local keys). */
  dataDir: string;
  /** `<dataDir>/mail`: where outgoing mail is written when no SMTP_URL is set. */
  mailDir: string;
  databaseUrl: string | undefined;
  pgPoolMax: number;
  /** PostgreSQL schema (search_path) for all tables; unset: the server's default (public). */
  pgSchema: string | undefined;
  smtpUrl: string | undefined;
  smtpRequireTls: boolean;
  mailFrom: string | undefined;
  /** Raw ATTUNE_MASTER_KEY (parse with crypto's parseMasterKey); `serve` fills it in development. */
  masterKey: string | undefined;
  publicUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  trustProxy: boolean;
  /** ATTUNE_UNSAFE_DEV_ON_NETWORK: development tokens for callers that are not on this machine. */
  unsafeDevOnNetwork: boolean;
  /** Origins allowed to call /v1 from a browser (the add-ins' hosts); ['*'] allows any (bearer tokens, no cookies). */
  corsOrigins: string[];
  practice: {
    name: string;
    domains: string[];
    replyDomain: string | undefined;
    entraTenantId: string | undefined;
  };
  adminEmails: string[];
  autoProvisionClinicians: boolean;
  identity: {
    entra: { clientIds: string[]; jwksUrl: string; issuerTemplate: string; adminRole: string };
    google: { clientIds: string[]; jwksUrl: string; issuers: string[] };
    dev: { enabled: boolean; issuer: string; audience: string; ttlSeconds: number };
    clockSkewSeconds: number;
  };
  limits: {
    maxBodyBytes: number;
    maxMessageBytes: number;
    rateLimitPerMinute: number;
    rateLimitUnauthPerMinute: number;
  };
  gatewayPort: number | undefined;
  /** Seconds between signed chain checkpoints (0: none on a timer; one is still written at shutdown). */
  checkpointIntervalSeconds: number;
  /** Serve HTTPS with these PEM files (absolute paths); undefined = plain HTTP. */
  tls?: { certFile: string; keyFile: string; source: 'files' | 'office-addin-dev-certs' } | undefined;
  /** Folder of the built Outlook add-in served at /addin/; undefined = the add-in package's dist/. */
  addinDir?: string | undefined;
  /** Origins allowed to frame the add-in pages besides Microsoft's Outlook hosts. */
  addinFrameAncestors?: string[];
}

/** Where `npx office-addin-dev-certs install` writes its localhost certificate (under HOME). */
export function devCertsDir(home: string = homedir()): string {
  return join(home, '.office-addin-dev-certs');
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The development issuer's audience; only the built-in issuer uses it. */
export const DEV_AUDIENCE = 'attune-dev';
/**
 * The development issuer's name. Fixed, not derived from PUBLIC_URL or PORT, so `attune token` run
 * with a different environment than the server still matches; the key in DATA_DIR is what binds.
 */
export const DEV_ISSUER = 'urn:attune:dev-issuer';

/**
 * Reads and validates the configuration. Throws ConfigError listing every problem (variable names
 * and rules, never values: a value may be a secret).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty variables count as unset, as shells and .env files often leave them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const isDevelopment = e.ATTUNE_ENV === 'development';
  const port = e.PORT ?? 3000;
  // With a certificate the default public address is https (what the add-in manifest points at).
  const tlsWanted = e.HTTPS !== undefined || e.TLS_CERT_FILE !== undefined || e.TLS_KEY_FILE !== undefined;
  const publicUrl = (e.PUBLIC_URL ?? `${tlsWanted ? 'https' : 'http'}://localhost:${port}`).replace(
    /\/+$/,
    '',
  );
  if (!isDevelopment) {
    if (!e.PUBLIC_URL) problems.push('PUBLIC_URL: required in production (the https address patients open)');
    else if (!publicUrl.startsWith('https://')) problems.push('PUBLIC_URL: must be https:// in production');
    if (!e.ATTUNE_MASTER_KEY)
      problems.push('ATTUNE_MASTER_KEY: required in production (32 random bytes, base64 or hex)');
    if (e.PRACTICE_DOMAINS.length === 0)
      problems.push('PRACTICE_DOMAINS: required in production (e.g. example-clinic.org)');
    if (!e.SMTP_URL)
      problems.push('SMTP_URL: required in production (e.g. smtp://user:pass@relay.example.org:587)');
    if (e.ENTRA_CLIENT_IDS.length === 0 && e.GOOGLE_CLIENT_IDS.length === 0) {
      problems.push(
        'ENTRA_CLIENT_IDS or GOOGLE_CLIENT_IDS: at least one identity provider is required in production',
      );
    }
  }
  // POST /v1/dev/token hands a bearer token to anyone who can reach the server: a development
  // server listens on loopback only unless the operator opts in under an unsafe-sounding name.
  if (isDevelopment && e.HOST !== undefined && !isLoopback(e.HOST) && !e.ATTUNE_UNSAFE_DEV_ON_NETWORK) {
    problems.push(
      'HOST: development mode issues tokens to anyone (POST /v1/dev/token); listen on 127.0.0.1, use ATTUNE_ENV=production, or set ATTUNE_UNSAFE_DEV_ON_NETWORK=true',
    );
  }
  // Behind a reverse proxy the server is on the network whatever HOST says.
  if (isDevelopment && e.TRUST_PROXY && !e.ATTUNE_UNSAFE_DEV_ON_NETWORK) {
    problems.push(
      'TRUST_PROXY: a reverse proxy puts a development server, and its tokens for anyone (POST /v1/dev/token), on the network; use ATTUNE_ENV=production, or set ATTUNE_UNSAFE_DEV_ON_NETWORK=true',
    );
  }
  if (e.ENTRA_ISSUER_TEMPLATE && !e.ENTRA_ISSUER_TEMPLATE.includes('{tid}')) {
    problems.push('ENTRA_ISSUER_TEMPLATE: must contain {tid}');
  }
  const tls = resolveTls(e, cleaned.HOME ?? homedir(), problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = resolve(e.DATA_DIR);
  const domains = e.PRACTICE_DOMAINS.length > 0 ? e.PRACTICE_DOMAINS : ['example.org'];
  return {
    env: e.ATTUNE_ENV,
    isDevelopment,
    port,
    // Development listens on loopback only: a laptop's demo server is not for the network.
    host: e.HOST ?? (isDevelopment ? '127.0.0.1' : '0.0.0.0'),
    dataDir,
    mailDir: resolve(dataDir, 'mail'),
    databaseUrl: e.DATABASE_URL,
    pgPoolMax: e.DATABASE_POOL_MAX,
    pgSchema: e.DATABASE_SCHEMA,
    smtpUrl: e.SMTP_URL,
    smtpRequireTls: e.SMTP_REQUIRE_TLS,
    mailFrom: e.MAIL_FROM,
    masterKey: e.ATTUNE_MASTER_KEY,
    publicUrl,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
    unsafeDevOnNetwork: e.ATTUNE_UNSAFE_DEV_ON_NETWORK,
    corsOrigins: e.CORS_ORIGINS.length > 0 ? e.CORS_ORIGINS : ['*'],
    practice: {
      name: e.PRACTICE_NAME,
      domains,
      replyDomain: e.PRACTICE_REPLY_DOMAIN?.toLowerCase(),
      entraTenantId: e.PRACTICE_ENTRA_TENANT_ID,
    },
    adminEmails: e.ADMIN_EMAILS,
    autoProvisionClinicians: e.AUTO_PROVISION_CLINICIANS,
    identity: {
      entra: {
        clientIds: e.ENTRA_CLIENT_IDS,
        jwksUrl: e.ENTRA_JWKS_URL,
        issuerTemplate: e.ENTRA_ISSUER_TEMPLATE,
        adminRole: e.ENTRA_ADMIN_ROLE,
      },
      google: {
        clientIds: e.GOOGLE_CLIENT_IDS,
        jwksUrl: e.GOOGLE_JWKS_URL,
        issuers:
          e.GOOGLE_ISSUERS.length > 0
            ? e.GOOGLE_ISSUERS
            : ['https://accounts.google.com', 'accounts.google.com'],
      },
      dev: {
        enabled: isDevelopment,
        issuer: DEV_ISSUER,
        audience: DEV_AUDIENCE,
        ttlSeconds: e.DEV_TOKEN_TTL_SECONDS,
      },
      clockSkewSeconds: e.TOKEN_CLOCK_SKEW_SECONDS,
    },
    limits: {
      maxBodyBytes: e.MAX_BODY_BYTES,
      maxMessageBytes: e.MAX_MESSAGE_BYTES,
      rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
      rateLimitUnauthPerMinute: e.RATE_LIMIT_UNAUTH_PER_MINUTE,
    },
    gatewayPort: e.GATEWAY_PORT,
    checkpointIntervalSeconds: e.CHECKPOINT_INTERVAL_SECONDS,
    tls,
    addinDir: e.ADDIN_DIR ? resolve(e.ADDIN_DIR) : undefined,
    addinFrameAncestors: e.ADDIN_FRAME_ANCESTORS,
  };
}

/**
 * TLS files: TLS_CERT_FILE and TLS_KEY_FILE together, or HTTPS=dev for office-addin-dev-certs'
 * localhost certificate. Missing files are a start-up error naming the variable and the fix.
 */
function resolveTls(e: z.infer<typeof EnvSchema>, home: string, problems: string[]): Config['tls'] {
  if (e.TLS_CERT_FILE !== undefined || e.TLS_KEY_FILE !== undefined) {
    if (e.TLS_CERT_FILE === undefined || e.TLS_KEY_FILE === undefined) {
      problems.push(
        'TLS_CERT_FILE and TLS_KEY_FILE: set both (PEM certificate chain and private key) or neither',
      );
      return undefined;
    }
    const certFile = resolve(e.TLS_CERT_FILE);
    const keyFile = resolve(e.TLS_KEY_FILE);
    if (!existsSync(certFile)) problems.push('TLS_CERT_FILE: file not found');
    if (!existsSync(keyFile)) problems.push('TLS_KEY_FILE: file not found');
    return { certFile, keyFile, source: 'files' };
  }
  if (e.HTTPS === 'dev') {
    const dir = devCertsDir(home);
    const certFile = join(dir, 'localhost.crt');
    const keyFile = join(dir, 'localhost.key');
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      problems.push(
        `HTTPS: no development certificate in ${dir}; run \`npx office-addin-dev-certs install\` first`,
      );
    }
    return { certFile, keyFile, source: 'office-addin-dev-certs' };
  }
  return undefined;
}

/** A development configuration rooted in `dataDir`, for tests: `testConfig(dir, { PORT: '0' })`. */
export function testConfig(dataDir: string, env: Record<string, string> = {}): Config {
  // Generous rate limits: suites send many requests from one address; the rate-limit tests set theirs.
  return loadConfig({
    ATTUNE_ENV: 'development',
    PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_MINUTE: '100000',
    RATE_LIMIT_UNAUTH_PER_MINUTE: '100000',
    ...env,
  });
}
