import { createHash, randomBytes } from 'node:crypto';
import { smtpRelayTransport } from '../delivery/smtp-relay.ts';
import { fileTransport, type MailTransport, type PartialRefusal } from '../delivery/transport.ts';
import type { Envelope } from './backend.ts';

// The next hop for mail that needs no conversion: the same destination as delivery (SMTP_URL, read
// by the same smtpConnectionOptions, or the local mail folder when unset), so there is one place that
// decides where mail leaves. The raw bytes go on as received; the gateway only prepends trace
// headers. `send` resolves only when the next hop has accepted the message (its 250) or the file is
// written, so the gateway's own 250 never runs ahead of the message being held somewhere.

export interface Relay {
  send(envelope: Envelope, raw: Buffer): Promise<void>;
  close(): Promise<void>;
}

export class RelayError extends Error {
  override name = 'RelayError';
  constructor(
    readonly permanent: boolean,
    detail: string,
    /** The next hop took the message for some recipients and refused the rest. */
    readonly partial?: PartialRefusal,
  ) {
    super(detail);
  }
}

export function relayVia(transport: MailTransport): Relay {
  return {
    async send(envelope, raw) {
      // The file transport names files by this id: the same message retried lands on the same file.
      // (An SMTP next hop does not use it: no need to search the message for it.)
      let key = '';
      if (transport.kind === 'file') {
        const mid = /^message-id:[ \t]*(.+)$/im
          .exec(raw.subarray(0, 64 * 1024).toString('latin1'))?.[1]
          ?.trim();
        key = mid
          ? createHash('sha256')
              .update(`${mid}|${envelope.from}|${envelope.to.join(',')}`)
              .digest('hex')
          : randomBytes(16).toString('hex');
      }
      const r = await transport.send({ raw, from: envelope.from, to: envelope.to, messageId: key }, 'relay');
      if (!r.ok) throw new RelayError(r.permanent, r.error, r.partial);
    },
    close: () => transport.close(),
  };
}

/** The gateway's relay: its own connections (relaying is its hot path), same destination as delivery. */
export function createRelay(config: {
  smtpUrl: string | undefined;
  smtpRequireTls: boolean;
  mailDir: string;
}): Relay {
  return relayVia(
    config.smtpUrl
      ? smtpRelayTransport({ url: config.smtpUrl, requireTls: config.smtpRequireTls, maxConnections: 10 })
      : fileTransport(config.mailDir),
  );
}
