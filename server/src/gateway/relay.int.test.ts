import { createServer, type AddressInfo, type Socket } from 'node:net';
import fc from 'fast-check';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream.js';
import { createInterface } from 'node:readline';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import type { MailTransport } from '../delivery/transport.ts';
import { envelopeAddress, smtpData, smtpRelayTransport } from '../delivery/smtp-relay.ts';
import { selfSignedCert } from './testing.ts';

// The gateway's relay connections against real smtp-server next hops that misbehave on purpose:
// the bytes arrive unchanged, connections are reused and bounded, refusals keep their meaning
// (5xx permanent, 4xx and "down" temporary), a connection the next hop dropped is replaced without
// failing the message, and STARTTLS, when required, is never skipped.

interface Hop {
  port: number;
  url: string;
  received: Buffer[];
  /** Sessions (connections) the hop has seen. */
  connections: () => number;
  /** Drop every open client connection (as a next hop ending idle sessions does). */
  dropAll: () => void;
  close: () => Promise<void>;
}

const hops: Hop[] = [];
const transports: MailTransport[] = [];

async function startHop(
  over: Partial<SMTPServerOptions> = {},
  onMessage?: (raw: Buffer) => Error | null,
  listenPort = 0,
): Promise<Hop> {
  const received: Buffer[] = [];
  let connections = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    disableReverseLookup: true,
    onConnect(_s, cb) {
      connections++;
      cb();
    },
    onData(stream, _s, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const err = onMessage?.(raw) ?? null;
        if (err) return cb(err);
        received.push(raw);
        cb();
      });
    },
    ...over,
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  const sockets = new Set<Socket>();
  server.server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const hop: Hop = {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    connections: () => connections,
    dropAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
  hops.push(hop);
  return hop;
}

function relayTo(
  url: string,
  opts: { requireTls?: boolean; maxConnections?: number; maxMessages?: number } = {},
) {
  const t = smtpRelayTransport({ url, requireTls: opts.requireTls ?? false, timeoutMs: 5_000, ...opts });
  transports.push(t);
  return t;
}

const mail = (raw: string | Buffer, to = ['vendor@example.com']) => ({
  from: 'office@clinic.test',
  to,
  raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw),
  messageId: '',
});

const MESSAGE =
  'From: office@clinic.test\r\nTo: vendor@example.com\r\nSubject: Order\r\n\r\n' +
  'Line one.\r\n.A line that starts with a dot\r\n..two dots\r\n.\r\nlast line, no newline at the end';

afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  for (const h of hops.splice(0)) await h.close();
});

describe('gateway relay connections', () => {
  it('delivers the raw bytes unchanged, over at most maxConnections reused connections', async () => {
    const hop = await startHop();
    const relay = relayTo(hop.url, { maxConnections: 3 });
    const results = await Promise.all(Array.from({ length: 40 }, () => relay.send(mail(MESSAGE), 'relay')));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(hop.received).toHaveLength(40);
    // smtp-server hands over the data with its final CRLF; the message had none of its own.
    for (const r of hop.received) expect(r.toString('latin1')).toBe(`${MESSAGE}\r\n`);
    expect(hop.connections()).toBeGreaterThanOrEqual(1);
    expect(hop.connections()).toBeLessThanOrEqual(3);
  });

  it('opens a new connection after maxMessages on one', async () => {
    const hop = await startHop();
    const relay = relayTo(hop.url, { maxConnections: 1, maxMessages: 2 });
    for (let i = 0; i < 5; i++) expect((await relay.send(mail(MESSAGE), 'relay')).ok).toBe(true);
    expect(hop.connections()).toBe(3);
  });

  it('reports refusals as the next hop meant them, and keeps using the connection', async () => {
    const hop = await startHop(
      {
        onRcptTo(address, _s, cb) {
          if (address.address.startsWith('nobody@')) {
            return cb(Object.assign(new Error('No such user'), { responseCode: 550 }));
          }
          if (address.address.startsWith('later@')) {
            return cb(Object.assign(new Error('Try later'), { responseCode: 451 }));
          }
          cb();
        },
      },
      (raw) =>
        raw.includes('REFUSE-ME') ? Object.assign(new Error('Content refused'), { responseCode: 554 }) : null,
    );
    const relay = relayTo(hop.url, { maxConnections: 1 });
    const permanent = await relay.send(mail(MESSAGE, ['nobody@example.com']), 'relay');
    expect(permanent).toMatchObject({ ok: false, permanent: true });
    const temporary = await relay.send(mail(MESSAGE, ['later@example.com']), 'relay');
    expect(temporary).toMatchObject({ ok: false, permanent: false });
    const content = await relay.send(mail(`${MESSAGE}\r\nREFUSE-ME`), 'relay');
    expect(content).toMatchObject({ ok: false, permanent: true });
    // One recipient refused for good, one accepted: reported as refused (the sender hears of it),
    // with how many have the message already.
    const partial = await relay.send(mail(MESSAGE, ['vendor@example.com', 'nobody@example.com']), 'relay');
    expect(partial).toMatchObject({ ok: false, permanent: true, partial: { accepted: 1, refused: 1 } });
    expect(JSON.stringify(partial)).not.toMatch(/nobody@/);
    // One refused only for now (451): temporary, so the message is tried again for it, not dropped.
    const partialLater = await relay.send(
      mail(MESSAGE, ['vendor@example.com', 'later@example.com', 'nobody@example.com']),
      'relay',
    );
    expect(partialLater).toMatchObject({ ok: false, permanent: false, partial: { accepted: 1, refused: 2 } });
    expect((await relay.send(mail(MESSAGE), 'relay')).ok).toBe(true);
    expect(hop.connections()).toBe(1);
  });

  it('replaces a connection the next hop dropped while it was idle, without failing the message', async () => {
    const hop = await startHop();
    const relay = relayTo(hop.url, { maxConnections: 2 });
    await Promise.all([relay.send(mail(MESSAGE), 'relay'), relay.send(mail(MESSAGE), 'relay')]);
    hop.dropAll();
    // Sent at once, before or after the pool has noticed: either way they arrive.
    const after = await Promise.all([relay.send(mail(MESSAGE), 'relay'), relay.send(mail(MESSAGE), 'relay')]);
    expect(after.every((r) => r.ok)).toBe(true);
    expect(hop.received).toHaveLength(4);
  });

  it('reports a next hop that is down as temporary, and sends once it is back', async () => {
    const hop = await startHop();
    const port = hop.port;
    await hop.close();
    hops.splice(hops.indexOf(hop), 1);
    const relay = relayTo(`smtp://127.0.0.1:${port}`, { maxConnections: 2 });
    const down = await Promise.all([relay.send(mail(MESSAGE), 'relay'), relay.send(mail(MESSAGE), 'relay')]);
    for (const r of down) expect(r).toMatchObject({ ok: false, permanent: false });
    const again = await startHop({}, undefined, port);
    expect((await relay.send(mail(MESSAGE), 'relay')).ok).toBe(true);
    expect(again.received).toHaveLength(1);
  });

  it('gives the next hop an internationalised domain as its A-label, as the composer did', async () => {
    // smtp-server shows domains decoded, so this hop is a plain socket that records the commands.
    const lines: string[] = [];
    const server = createServer((sock) => {
      let data = false;
      sock.write('220 hop\r\n');
      createInterface({ input: sock, crlfDelay: Infinity }).on('line', (line) => {
        if (data) {
          if (line === '.') {
            data = false;
            sock.write('250 queued\r\n');
          }
          return;
        }
        lines.push(line);
        if (/^EHLO/i.test(line)) sock.write('250-hop\r\n250 8BITMIME\r\n');
        else if (/^DATA/i.test(line)) {
          data = true;
          sock.write('354 go on\r\n');
        } else if (/^QUIT/i.test(line)) sock.end('221 bye\r\n');
        else sock.write('250 ok\r\n');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const relay = relayTo(`smtp://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const r = await relay.send(mail(MESSAGE, ['info@bücher.example', 'vendor@example.com']), 'relay');
      expect(r.ok).toBe(true);
      expect(lines.filter((l) => /^RCPT/i.test(l))).toEqual([
        'RCPT TO:<info@xn--bcher-kva.example>',
        'RCPT TO:<vendor@example.com>',
      ]);
    } finally {
      await relay.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(envelopeAddress('Vendor@Example.com')).toBe('Vendor@Example.com');
    expect(envelopeAddress('jöran@bücher.example')).toBe('jöran@bücher.example');
    expect(envelopeAddress('')).toBe('');
  });

  it('never sends in clear when STARTTLS is required, and uses it (with AUTH) when offered', async () => {
    const plain = await startHop();
    const refused = await relayTo(plain.url, { requireTls: true }).send(mail(MESSAGE), 'relay');
    expect(refused).toMatchObject({ ok: false, permanent: false });
    expect(plain.received).toHaveLength(0);

    const { key, cert } = selfSignedCert();
    let secureAuth = false;
    const tlsHop = await startHop({
      key,
      cert,
      disabledCommands: [],
      authOptional: false,
      onAuth(auth, session, cb) {
        secureAuth = session.secure === true;
        if (auth.username === 'relay-user' && auth.password === 'p@ss word')
          return cb(null, { user: 'relay' });
        cb(new Error('bad credentials'));
      },
    });
    const relay = relayTo(
      `smtp://relay-user:${encodeURIComponent('p@ss word')}@127.0.0.1:${tlsHop.port}?tls.rejectUnauthorized=false`,
      { requireTls: true },
    );
    expect((await relay.send(mail(MESSAGE), 'relay')).ok).toBe(true);
    expect(secureAuth).toBe(true);
    expect(tlsHop.received).toHaveLength(1);
  });

  it("writes DATA exactly as nodemailer's DataStream would (line ends, dot-stuffing, the final dot)", async () => {
    const viaDataStream = (raw: Buffer): Promise<Buffer> =>
      new Promise((resolve) => {
        const ds = new DataStream();
        const out: Buffer[] = [];
        ds.on('data', (c: Buffer) => out.push(c));
        ds.on('end', () => resolve(Buffer.concat(out)));
        ds.end(raw);
      });
    // Short runs of the bytes that matter, so every neighbourhood of CR, LF and dots comes up.
    const bytes = fc
      .uint8Array({ maxLength: 24 })
      .map((a) => Buffer.from(a.map((b) => [0x0d, 0x0a, 0x2e, 0x41, 0x20][b % 5]!)));
    await fc.assert(
      fc.asyncProperty(bytes, async (raw) => {
        expect(smtpData(raw).toString('latin1')).toBe((await viaDataStream(raw)).toString('latin1'));
      }),
      { numRuns: 2000 },
    );
    for (const raw of ['', '.', 'a', 'a\r', 'a\n', 'a\r\n', MESSAGE, `${MESSAGE}\r\n`]) {
      expect(smtpData(Buffer.from(raw)).toString('latin1')).toBe(
        (await viaDataStream(Buffer.from(raw))).toString('latin1'),
      );
    }
  });
});
