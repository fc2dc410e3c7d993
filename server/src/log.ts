import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

// Structured JSON logs (pino). What we log is references and measurements only: route patterns,
// status, latency, request id, ids. Never bodies, query strings, email addresses, names or tokens
// (CONVENTIONS 13, ASVS 16.2.5). The redact list is a second line of defence for fields a future
// call might pass by mistake; it is not the policy.
export function createLogger(opts: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: 'attune' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'authorization',
        'headers.authorization',
        'req.headers.authorization',
        'token',
        'body',
        'text',
        'html',
        'subject',
        'email',
        'name',
        'publicKey',
        '*.authorization',
        '*.token',
        '*.body',
        '*.email',
      ],
      censor: '[redacted]',
    },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that writes nothing, for tests and tools. */
export const silentLogger: Logger = pino({ level: 'silent' });
