import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Loop prevention. Every message the gateway relays gets a marker header carrying an HMAC of its
// Message-ID, so a message routed back to us (a transport rule without the exception) is recognised
// as already processed, while a sender cannot forge the marker to skip scanning. Independently,
// more Received headers than `maxHops` means a routing loop (RFC 5321 section 6.3).

export const MARKER_HEADER = 'X-Attune-Gateway';

/**
 * The marker key of a deployment: GATEWAY_MARKER_SECRET, else derived from ATTUNE_MASTER_KEY (never
 * the key itself), so every gateway process (and the server's outbox, which marks its own mail)
 * recognises the others' output across restarts; null when neither is set (each process then
 * draws its own).
 */
export function markerSecretFor(
  configured: string | null | undefined,
  masterKey: string | undefined,
): string | null {
  if (configured) return configured;
  if (!masterKey) return null;
  return createHmac('sha256', masterKey).update('attune:gateway-marker:v1').digest('base64url');
}

/**
 * The marker header line for a composed message, prepended to its raw bytes: Attune's own mail
 * (notices, PGP/MIME messages, one-time codes, reply notices) is composed PHI-free or encrypted
 * and must pass a gateway the practice routes all outbound mail through unchanged. Its
 * X-Attune-Secured stamp covers only a notice sent within 48 hours of its message; a scheduled
 * send, a notice retried for days or a one-time code asked for a week later would be scanned,
 * taken for PHI to a patient (a link, or the patient's name in their address) from an address no
 * clinician owns, and refused.
 */
export function markRaw(raw: Buffer, messageId: string, marker: Marker): Buffer {
  const stamp = marker.stamp(messageId);
  return stamp ? Buffer.concat([Buffer.from(`${MARKER_HEADER}: ${stamp}\r\n`, 'latin1'), raw]) : raw;
}

export class Marker {
  private readonly key: Buffer;
  constructor(secret: string | null) {
    this.key = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
  }

  private mac(messageId: string): string {
    return createHmac('sha256', this.key)
      .update(`attune-gateway:v1:${messageId}`)
      .digest('base64url')
      .slice(0, 32);
  }

  /** The header value to stamp; null when there is no Message-ID to bind it to. */
  stamp(messageId: string | null): string | null {
    return messageId ? `v1 ${this.mac(messageId)}` : null;
  }

  /** How many of `headerValues` are our marker `stamp` (the value stamp() gave for this message). */
  static count(headerValues: readonly string[], stamp: string | null): number {
    if (!stamp) return 0;
    const expected = Buffer.from(stamp);
    let n = 0;
    for (const v of headerValues) {
      const got = Buffer.from(v.trim());
      if (got.length === expected.length && timingSafeEqual(got, expected)) n++;
    }
    return n;
  }
}

export interface RawHeaders {
  /** Unfolded header fields in order: [lower-case name, value]. */
  fields: Array<[string, string]>;
  /** Byte offset of the body (after the blank line), or raw.length when there is none. */
  bodyOffset: number;
}

/** Split the header block without decoding anything: cheap, and tolerant of bare LF line ends. */
export function readHeaders(raw: Buffer, limit = 256 * 1024): RawHeaders {
  const head = raw.subarray(0, Math.min(raw.length, limit)).toString('latin1');
  const m = /\r?\n\r?\n/.exec(head);
  const end = m ? m.index : head.length;
  const bodyOffset = m ? m.index + m[0].length : raw.length;
  const fields: Array<[string, string]> = [];
  for (const line of head.slice(0, end).split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length > 0) {
      const last = fields[fields.length - 1]!;
      last[1] += ' ' + line.trim();
      continue;
    }
    const i = line.indexOf(':');
    if (i > 0) fields.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
  }
  return { fields, bodyOffset };
}

export function headerValues(h: RawHeaders, name: string): string[] {
  const n = name.toLowerCase();
  return h.fields.filter(([k]) => k === n).map(([, v]) => v);
}

/** RFC 5322 field name: printable ASCII except colon, then a colon. */
export function startsWithHeader(raw: Buffer): boolean {
  const first = raw.subarray(0, 1000).toString('latin1');
  return /^[!-9;-~]+[ \t]*:/.test(first);
}
