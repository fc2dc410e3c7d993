import { randomBytes } from 'node:crypto';
import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Envelope } from './backend.ts';

// The next hop for mail that needs no conversion: the same place delivery sends to (SMTP_URL, or the
// local mail folder when unset). The raw bytes go on as received; the gateway only prepends trace
// headers. A relay resolves only when the next hop has accepted the message (its 250) or the file is
// on disk and synced, so the gateway's own 250 never runs ahead of durability.

export interface Relay {
  send(envelope: Envelope, raw: Buffer): Promise<void>;
  close(): void;
}

export function createSmtpRelay(url: string, opts: { maxConnections?: number } = {}): Relay {
  // A pool keeps connections to the next hop open: the gateway's latency is mostly this relay.
  const sep = url.includes('?') ? '&' : '?';
  const transport = nodemailer.createTransport(`${url}${sep}pool=true&maxConnections=${opts.maxConnections ?? 8}&maxMessages=1000000`);
  return {
    async send(envelope, raw) {
      await transport.sendMail({ envelope: { from: envelope.from, to: envelope.to }, raw });
    },
    close() {
      transport.close();
    },
  };
}

export function createFolderRelay(dir: string): Relay {
  let ready: Promise<unknown> | null = null;
  return {
    async send(envelope, raw) {
      ready ??= mkdir(dir, { recursive: true });
      await ready;
      const name = `${Date.now()}-${randomBytes(8).toString('hex')}`;
      const tmp = join(dir, `.${name}.tmp`);
      const fh = await open(tmp, 'wx', 0o600);
      try {
        // The envelope rides along as X-Envelope headers: the folder stands in for an SMTP peer.
        await fh.writeFile(
          Buffer.concat([
            Buffer.from(`X-Envelope-From: <${envelope.from}>\r\nX-Envelope-To: ${envelope.to.map((t) => `<${t}>`).join(', ')}\r\n`),
            raw,
          ]),
        );
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(dir, `${name}.eml`));
      const d = await open(dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    },
    close() {},
  };
}
