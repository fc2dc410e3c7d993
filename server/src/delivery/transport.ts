import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { ComposedMail } from './mime.ts';

// Where outgoing mail goes. With SMTP_URL: an SMTP relay through nodemailer, STARTTLS required by
// default (HIPAA 164.312(e): transmission security). Without: the embedded default for `npm start`,
// one .eml file per message in DATA_DIR/mail, so a newcomer can open what a patient receives.

export type SendOutcome =
  | { ok: true; response: string }
  | {
      ok: false;
      permanent: boolean;
      error: string;
      /**
       * The relay refused the session itself (connection, greeting, STARTTLS, AUTH, MAIL FROM): a
       * configuration fault of the relay or of SMTP_URL that every message meets alike, for the
       * operator to fix. Always retryable.
       */
      relayFault?: true;
      /**
       * The relay took the message for some recipients and refused the others (RCPT TO): the
       * message is with the relay for `accepted` of them already.
       */
      partial?: PartialRefusal;
    };

/**
 * Which recipients of a send the relay refused at RCPT TO, and how. Recipients are named by their
 * position in the send's `to` (an outcome is stored and logged: no addresses in it), the reply by
 * its code, enhanced status (RFC 3463) and text with addresses redacted: enough for the gateway's
 * delivery status notification (RFC 3464) to the sender.
 */
export interface PartialRefusal {
  accepted: number;
  refused: number;
  refusals?: Array<{ index: number; code: number | null; status: string | null; text: string }>;
}

export interface MailTransport {
  readonly kind: 'smtp' | 'file';
  /** For the start-up banner and logs: never contains credentials. */
  readonly description: string;
  /** `label` names the kind of mail (notice, pgp, code, reply-notice) for file names. */
  send(mail: ComposedMail, label: string): Promise<SendOutcome>;
  close(): Promise<void>;
}

/** SMTP replies may quote the recipient's address: keep addresses out of stored errors and logs. */
export function redactAddresses(s: string): string {
  return s.replace(/<?[^\s<>@]+@[^\s<>@]+>?/g, '<address>').slice(0, 300);
}

export interface SmtpOptions {
  url: string;
  /** Refuse to send unless the server offers STARTTLS (default true). Ignored for smtps:// (TLS from the start). */
  requireTls: boolean;
  /** Pool connections (default true): a busy practice sends many small notices. */
  pool?: boolean;
  maxConnections?: number;
  /** Connection and greeting timeouts, ms. */
  timeoutMs?: number;
}

/**
 * What SMTP_URL means, as connection options (host, port, implicit TLS or STARTTLS, certificate
 * checks, credentials, timeouts) and a description for logs: shared by this transport and the
 * gateway's relay, so the two cannot read the same URL differently.
 */
export function smtpConnectionOptions(opts: SmtpOptions): {
  options: SMTPConnection.Options;
  auth: { user: string; pass: string } | null;
  description: string;
} {
  const u = new URL(opts.url);
  const secure = u.protocol === 'smtps:';
  const port = u.port ? Number(u.port) : secure ? 465 : 587;
  // Only for tests and private relays with self-signed certificates; the name says what it costs.
  const insecureSkipVerify =
    u.searchParams.get('tls.rejectUnauthorized') === 'false' ||
    u.searchParams.get('insecureSkipVerify') === 'true';
  return {
    options: {
      host: u.hostname,
      port,
      secure,
      requireTLS: !secure && opts.requireTls,
      ignoreTLS: !secure && !opts.requireTls && u.searchParams.get('ignoreTLS') === 'true',
      connectionTimeout: opts.timeoutMs ?? 30_000,
      greetingTimeout: opts.timeoutMs ?? 30_000,
      socketTimeout: (opts.timeoutMs ?? 30_000) * 2,
      tls: { minVersion: 'TLSv1.2', ...(insecureSkipVerify ? { rejectUnauthorized: false } : {}) },
      logger: false,
      debug: false,
    },
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : null,
    description: `smtp relay ${u.hostname}:${port} (${secure ? 'implicit TLS' : opts.requireTls ? 'STARTTLS required' : 'STARTTLS optional'})`,
  };
}

export function smtpTransport(opts: SmtpOptions): MailTransport {
  const { options: connection, auth, description } = smtpConnectionOptions(opts);
  const options: SMTPPool.Options = {
    ...connection,
    pool: opts.pool ?? true,
    maxConnections: opts.maxConnections ?? 5,
    maxMessages: 1000,
    ...(auth ? { auth } : {}),
  };
  const transporter = nodemailer.createTransport(options);
  return {
    kind: 'smtp',
    description,
    async send(mail) {
      try {
        const info = await transporter.sendMail({
          envelope: { from: mail.from, to: mail.to },
          raw: mail.raw,
        });
        if (info.rejected.length > 0) return partialRejection(info, mail.to);
        return { ok: true, response: redactAddresses(String(info.response)) };
      } catch (err) {
        return classifySmtpError(err);
      }
    },
    close() {
      transporter.close();
      return Promise.resolve();
    },
  };
}

/**
 * A send the relay accepted for some recipients and refused at RCPT TO for others. Permanent only
 * when every refusal was a 5xx: a 4xx (mailbox busy, greylisting, over quota for now) is retried,
 * and a retry goes to all recipients again, so those already served may get the message twice:
 * at least once, never lost for the ones refused for now.
 */
export function partialRejection(
  info: {
    accepted: unknown[];
    rejected: unknown[];
    rejectedErrors?: Array<{ responseCode?: number; response?: string; recipient?: unknown }>;
  },
  to: readonly string[] = [],
): SendOutcome & { ok: false } {
  const errors = info.rejectedErrors ?? [];
  const permanent =
    errors.length > 0 && errors.every((e) => typeof e.responseCode === 'number' && e.responseCode >= 500);
  const first = errors[0]?.response ?? 'no reason given';
  return {
    ok: false,
    permanent,
    error: redactAddresses(
      `${info.rejected.length} of ${info.accepted.length + info.rejected.length} recipients rejected: ${first}`,
    ),
    partial: {
      accepted: info.accepted.length,
      refused: info.rejected.length,
      refusals: errors.flatMap((e) => {
        const index = typeof e.recipient === 'string' ? to.indexOf(e.recipient) : -1;
        if (index < 0) return [];
        const reply = String(e.response ?? '');
        return [
          {
            index,
            code: typeof e.responseCode === 'number' ? e.responseCode : null,
            status: /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply)?.[1] ?? null,
            text: redactAddresses(reply.replace(/[^\x20-\x7e]+/g, ' ')).slice(0, 200),
          },
        ];
      }),
    },
  };
}

export function classifySmtpError(err: unknown): SendOutcome & { ok: false } {
  const e = err as {
    responseCode?: number;
    code?: string;
    message?: string;
    response?: string;
    command?: string;
  };
  const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const text = redactAddresses(e.response ?? e.message ?? 'unknown error');
  // A relay that does not do STARTTLS is a configuration fault to fix, not a reason to drop the
  // message (and never to send it in clear): keep retrying until the bounded attempts run out.
  if (e.command === 'STARTTLS' || e.code === 'ETLS') {
    return {
      ok: false,
      permanent: false,
      error: `the relay did not accept STARTTLS, which is required: ${text}`,
    };
  }
  // A 5xx condemns this message only when it answers this message's recipients or content (RCPT TO,
  // DATA). Before that, at the greeting, AUTH (535 bad credentials) or MAIL FROM (530 authentication
  // required, 550 relaying denied: the relay does not accept our sender), it says the relay is not
  // set up for us; every queued message would meet the same refusal and be dropped on its first
  // attempt. Those are retried with backoff, and flagged so the worker tells the operator.
  // 552 at MAIL FROM is the exception: the declared SIZE is over the relay's limit (RFC 1870).
  const perMessage =
    e.command === undefined ||
    e.command === 'RCPT TO' ||
    e.command === 'DATA' ||
    (e.command === 'MAIL FROM' && code === 552);
  if (code !== undefined && code >= 500 && code < 600) {
    return perMessage
      ? { ok: false, permanent: true, error: `SMTP ${code}: ${text}` }
      : {
          ok: false,
          permanent: false,
          relayFault: true,
          error: `the relay refused the session at ${e.command ?? 'connect'}: SMTP ${code}: ${text}`,
        };
  }
  if (code !== undefined) return { ok: false, permanent: false, error: `SMTP ${code}: ${text}` };
  if (e.code === 'EAUTH') {
    return { ok: false, permanent: false, relayFault: true, error: `the relay refused AUTH: ${text}` };
  }
  // Connection refused, timeouts, TLS not offered: the relay may come back; retry with backoff.
  return { ok: false, permanent: false, error: `${e.code ?? 'ERROR'}: ${text}` };
}

/**
 * One .eml per message in `dir`. The file is named by the Message-ID's hash, so a retry of the same
 * message overwrites its own file instead of adding a duplicate; written to a temp name and renamed,
 * so a reader never sees half a message.
 */
export function fileTransport(dir: string): MailTransport {
  let made = false;
  return {
    kind: 'file',
    description: `mail folder ${dir} (no SMTP_URL set: one .eml file per message)`,
    async send(mail, label) {
      try {
        if (!made) {
          await mkdir(dir, { recursive: true, mode: 0o700 });
          made = true;
        }
        const id = createHash('sha256').update(mail.messageId).digest('hex').slice(0, 16);
        const name = `${label.replace(/[^a-z0-9-]/gi, '') || 'mail'}-${id}.eml`;
        const tmp = join(dir, `.${name}.tmp`);
        await writeFile(tmp, mail.raw, { mode: 0o600 });
        await rename(tmp, join(dir, name));
        return { ok: true, response: `written ${name}` };
      } catch (err) {
        return {
          ok: false,
          permanent: false,
          error: `file transport: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        };
      }
    },
    close: () => Promise.resolve(),
  };
}

export function createMailTransport(config: {
  smtpUrl: string | undefined;
  smtpRequireTls: boolean;
  mailDir: string;
}): MailTransport {
  return config.smtpUrl
    ? smtpTransport({ url: config.smtpUrl, requireTls: config.smtpRequireTls })
    : fileTransport(config.mailDir);
}
