import { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { AppEnv } from './types.ts';

// Reading a request body the short way. Under @hono/node-server, c.req is a lazy stand-in for a
// fetch Request: the first use of its body builds the real one (undici Request, an AbortController,
// a web stream over the Node request), and answering then aborts that controller. For a body of
// known length that nothing has touched yet, reading the Node request directly gives the same
// bytes for a fraction of the CPU (bench:server). Everything else (app.request() in tests, chunked
// bodies, which limitBody has already read and replaced) takes c.req.text() as before.

/** The body as text (UTF-8, a leading byte-order mark dropped, as Request.text() does). */
export async function readBodyText(c: Context<AppEnv>): Promise<string> {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (
    !(incoming instanceof IncomingMessage) ||
    c.req.header('transfer-encoding') !== undefined ||
    !/^\d{1,15}$/.test(c.req.header('content-length') ?? '') ||
    // Untouched: no reader, nothing read, not flowing (a web stream over it would be).
    incoming.readableDidRead ||
    incoming.readableFlowing !== null ||
    incoming.listenerCount('data') > 0 ||
    incoming.destroyed
  ) {
    return c.req.text();
  }
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', done);
      incoming.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer) => chunks.push(chunk);
    const onEnd = () => done();
    const onClose = () => done(new Error('the request was closed before its body was read'));
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', done);
    incoming.once('close', onClose);
  });
  // Read: the unread-body check (middleware/unread-body.ts) must not take it for an unread one.
  c.set('bodyRead', true);
  const text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
