import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

// Test support: a real SMTP server in-process (smtp-server), playing the practice's relay. It can
// refuse (4xx or 5xx) the next N messages, offer STARTTLS or not, and require AUTH.
// Not imported by production code.

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: Buffer;
  secure: boolean;
  user: string | undefined;
}

export interface SmtpSink {
  port: number;
  received: ReceivedMail[];
  /** Refuse the next `count` messages at DATA with this reply code. */
  refuseNext(count: number, code: number): void;
  /** smtp://127.0.0.1:<port> with optional credentials; STARTTLS uses smtp-server's self-signed cert. */
  url(opts?: { user?: string; pass?: string }): string;
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

export async function startSmtpSink(
  opts: { starttls?: boolean; auth?: { user: string; pass: string } } = {},
): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  let refuse = { count: 0, code: 451 };
  const options: SMTPServerOptions = {
    secure: false,
    hideSTARTTLS: opts.starttls === false,
    ...(opts.starttls === false ? { disabledCommands: ['STARTTLS'] } : {}),
    authOptional: !opts.auth,
    // Plain AUTH is only offered over TLS unless allowed; the tests use STARTTLS when they test AUTH.
    allowInsecureAuth: false,
    logger: false,
    size: 50 * 1024 * 1024,
    onAuth(auth, _session, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass)
        cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (refuse.count > 0) {
          refuse.count--;
          const err = Object.assign(new Error(refuse.code >= 500 ? 'Message rejected' : 'Try again later'), {
            responseCode: refuse.code,
          });
          cb(err);
          return;
        }
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
        });
        cb();
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server as unknown as { server: { address(): AddressInfo } }).server.address().port;
  return {
    port,
    received,
    refuseNext(count, code) {
      refuse = { count, code };
    },
    url(o = {}) {
      const cred = o.user ? `${encodeURIComponent(o.user)}:${encodeURIComponent(o.pass ?? '')}@` : '';
      return `smtp://${cred}127.0.0.1:${port}/?tls.rejectUnauthorized=false`;
    },
    async waitFor(n, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > until) throw new Error(`expected ${n} messages, got ${received.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
