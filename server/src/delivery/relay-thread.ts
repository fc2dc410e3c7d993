import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ComposedMail } from './mime.ts';
import type { SmtpOptions, MailTransport, SendOutcome } from './transport.ts';

// The outbox's SMTP relay (smtp-relay.ts smtpRelayTransport) on a thread of its own. Talking SMTP
// is CPU on the event loop for every notice: the MAIL/RCPT/DATA exchange, dot-stuffing, TLS records
// both ways and the socket system calls, about a sixth of the loop's time per secure send
// (bench:server, perf on the server's main thread). The loop is the serial part of the server, so
// that work goes to a worker thread, which runs the very same transport; only the composed message
// (from, to, raw bytes, Message-ID) crosses, and the outcome comes back. Messages composed within
// one turn of the event loop cross in one postMessage, and so do the outcomes that arrive together.
//
// Nothing about delivery changes: the outbox still records each outcome in the database, and if the
// thread dies the messages in flight come back as retryable failures (the row is sent again with
// the same Message-ID, as after a crash: at most one duplicate, never a loss). A new thread is
// started for the next message.

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// The sources are TypeScript: tsx's CommonJS hook compiles them in this thread, whatever loader the
// main thread uses (attune's bin, node --import tsx, vitest).
require(workerData.tsx).register();
const { smtpRelayTransport } = require(workerData.relay);
const transport = smtpRelayTransport(workerData.options);
let out = [];
const flush = () => {
  const batch = out;
  out = [];
  parentPort.postMessage(batch);
};
const reply = (id, outcome) => {
  if (out.length === 0) setImmediate(flush);
  out.push({ id, outcome });
};
parentPort.on('message', (batch) => {
  for (const m of batch) {
    if (m.close) {
      transport.close().finally(() => parentPort.close());
      continue;
    }
    const mail = { from: m.from, to: m.to, messageId: m.messageId, raw: Buffer.from(m.raw.buffer, m.raw.byteOffset, m.raw.byteLength) };
    transport.send(mail, m.label).then(
      (outcome) => reply(m.id, outcome),
      (e) => reply(m.id, { ok: false, permanent: false, error: 'relay thread: ' + String((e && e.code) || 'error') }),
    );
  }
});
`;

type Job = { id: number; from: string; to: string[]; messageId: string; label: string; raw: Uint8Array };

class RelayThread {
  readonly worker: Worker;
  readonly pending = new Map<number, (o: SendOutcome) => void>();
  private queued: Job[] = [];
  dead = false;
  readonly exited: Promise<void>;

  constructor(options: SmtpOptions) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        tsx: fileURLToPath(import.meta.resolve('tsx/cjs/api')),
        relay: fileURLToPath(new URL('./smtp-relay.ts', import.meta.url)),
        options,
      },
    });
    this.worker.unref(); // idle, it must not keep the process alive
    this.worker.on('message', (batch: Array<{ id: number; outcome: SendOutcome }>) => {
      for (const { id, outcome } of batch) {
        const resolve = this.pending.get(id);
        if (!resolve) continue;
        this.pending.delete(id);
        resolve(outcome);
      }
      if (this.pending.size === 0) this.worker.unref();
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    const fail = (reason: string) => {
      this.dead = true;
      for (const resolve of this.pending.values())
        resolve({ ok: false, permanent: false, error: `relay thread ${reason}` });
      this.pending.clear();
    };
    this.worker.on('error', (err: Error) =>
      fail(`failed (${(err as NodeJS.ErrnoException).code ?? err.name})`),
    );
    this.worker.on('exit', (code) => fail(`exited (${code})`));
  }

  send(job: Job): Promise<SendOutcome> {
    return new Promise<SendOutcome>((resolve) => {
      if (this.pending.size === 0) this.worker.ref(); // in flight, the process must wait for it
      this.pending.set(job.id, resolve);
      if (this.queued.length === 0) setImmediate(() => this.flush());
      this.queued.push(job);
    });
  }

  private flush(): void {
    const batch = this.queued;
    this.queued = [];
    if (this.dead) return; // 'exit' has answered them
    // Each message's bytes are a copy of their own, moved to the thread rather than copied again.
    this.worker.postMessage(
      batch,
      batch.map((j) => j.raw.buffer as ArrayBuffer),
    );
  }

  close(): Promise<void> {
    if (this.dead) return Promise.resolve();
    this.worker.ref();
    this.worker.postMessage([{ close: true }]);
    return this.exited;
  }
}

/**
 * smtpRelayTransport(options), run on a worker thread: the same connections, STARTTLS, AUTH, reuse
 * and retry rules and the same outcomes, with the SMTP work off the event loop.
 */
export function threadedRelayTransport(
  options: SmtpOptions & { maxMessages?: number; idleMs?: number },
  description: string,
): MailTransport {
  let thread: RelayThread | null = null;
  let closed = false;
  let nextId = 1;
  return {
    kind: 'smtp',
    description,
    send(mail: ComposedMail, label: string): Promise<SendOutcome> {
      if (closed) return Promise.resolve({ ok: false, permanent: false, error: 'ECONNECTION: relay closed' });
      if (!thread || thread.dead) thread = new RelayThread(options);
      return thread.send({
        id: nextId++,
        from: mail.from,
        to: mail.to,
        messageId: mail.messageId,
        label,
        raw: new Uint8Array(mail.raw),
      });
    },
    async close() {
      closed = true;
      if (thread) await thread.close();
    },
  };
}
