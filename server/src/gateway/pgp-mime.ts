import type { MailView } from './extract.ts';
import { parseContentType } from './fast-parse.ts';
import { headerValues, type RawHeaders } from './marker.ts';

// RFC 3156 section 4: an OpenPGP-encrypted message is multipart/encrypted with
// protocol="application/pgp-encrypted" and exactly two parts: an application/pgp-encrypted part
// that says "Version: 1", and an application/octet-stream part holding the ASCII-armored OpenPGP
// message (RFC 4880 section 6). Mail of that shape is already end-to-end encrypted: nothing in its
// body can be read on the way, ours included. Something that only looks like it (a "ciphertext"
// part holding plaintext, another part beside the two, another protocol) is not, and is scanned
// like any mail.

const ARMOR_BEGIN = '-----BEGIN PGP MESSAGE-----';
const ARMOR_END = '-----END PGP MESSAGE-----';

export interface PgpMimeParts {
  /** Index in `mail.attachments` of the application/pgp-encrypted part. */
  version: number;
  /** Index of the application/octet-stream part holding the armored message. */
  ciphertext: number;
}

/** The two parts of a well-formed RFC 3156 message; null for anything else. */
export function pgpMimeParts(mail: MailView, headers: RawHeaders): PgpMimeParts | null {
  const ct = parseContentType(headerValues(headers, 'content-type')[0]);
  if (ct?.type !== 'multipart/encrypted') return null;
  if (ct.params.get('protocol')?.toLowerCase() !== 'application/pgp-encrypted') return null;
  // Nothing readable beside the two parts: no text or HTML body, no third part.
  if ((mail.text ?? '').trim() !== '' || mail.html !== null || mail.attachments.length !== 2) return null;
  const [version, ciphertext] = mail.attachments as [MailView['attachments'][0], MailView['attachments'][0]];
  if (version.contentType.toLowerCase() !== 'application/pgp-encrypted') return null;
  if (!/^\s*Version:[ \t]*1\s*$/.test(version.content.toString('latin1'))) return null;
  if (ciphertext.contentType.toLowerCase() !== 'application/octet-stream') return null;
  return isArmoredPgpMessage(ciphertext.content) ? { version: 0, ciphertext: 1 } : null;
}

/**
 * Whether `content` is one ASCII-armored PGP MESSAGE and nothing else (whitespace aside), whose
 * packets are those of an encrypted message: session keys (public-key or symmetric), then one
 * encrypted data packet that runs to the end. Armor around plaintext, or around anything but
 * encrypted data, is not.
 */
export function isArmoredPgpMessage(content: Buffer): boolean {
  if (content.length > 64 * 1024 * 1024) return false;
  const lines = content
    .toString('latin1')
    .split(/\r?\n/)
    .map((l) => l.trimEnd());
  while (lines.length > 0 && lines[0] === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== ARMOR_BEGIN || lines[lines.length - 1] !== ARMOR_END) return false;
  let i = 1;
  // Armor headers (Version:, Comment:, …), then one blank line (RFC 4880 6.2).
  while (i < lines.length - 1 && lines[i] !== '') {
    if (!/^[A-Za-z][A-Za-z0-9-]*: /.test(lines[i]!)) return false;
    i++;
  }
  if (lines[i] !== '') return false;
  const body = lines.slice(i + 1, -1);
  // An optional CRC-24 line closes the body (RFC 4880 6.1; RFC 9580 6.1 makes it optional).
  const crcLine = body.length > 0 && /^=[A-Za-z0-9+/]{4}$/.test(body[body.length - 1]!) ? body.pop()! : null;
  const b64 = body.join('');
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return false;
  const data = Buffer.from(b64, 'base64');
  // Absent is fine; present and wrong is not. RFC 9580 tells a decrypting implementation not to
  // reject on it, but we decrypt nothing: we decide whether the body may pass unscanned, and armor
  // whose bytes are not those its checksum vouches for was damaged or assembled by hand. Such a
  // message is scanned and secured like any mail, which is the safe side.
  if (crcLine !== null && Buffer.from(crcLine.slice(1), 'base64').readUIntBE(0, 3) !== crc24(data))
    return false;
  const tags = packetTags(data);
  if (!tags || tags.length < 2) return false;
  const last = tags[tags.length - 1]!;
  // 18: SEIPD, 20: AEAD-encrypted (draft / v5), 9: legacy symmetrically encrypted data.
  if (last !== 18 && last !== 20 && last !== 9) return false;
  const keys = tags.slice(0, -1);
  // 1: public-key encrypted session key, 3: symmetric-key one, 10: marker packet.
  return keys.every((t) => t === 1 || t === 3 || t === 10) && keys.some((t) => t === 1 || t === 3);
}

/** The armor checksum (RFC 4880 6.1): CRC-24, initialised to 0xB704CE, generator 0x1864CFB. */
export function crc24(data: Uint8Array): number {
  let crc = 0xb704ce;
  for (const b of data) {
    crc ^= b << 16;
    for (let k = 0; k < 8; k++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** The packet tags of an OpenPGP packet sequence (RFC 4880 4.2), or null if it does not parse. */
function packetTags(data: Buffer): number[] | null {
  const tags: number[] = [];
  let i = 0;
  while (i < data.length) {
    const h = data[i++]!;
    if ((h & 0x80) === 0) return null;
    if (h & 0x40) {
      // New format: the body may come in partial chunks (streamed data packets).
      tags.push(h & 0x3f);
      for (;;) {
        if (i >= data.length) return null;
        const l = data[i++]!;
        let len: number;
        let partial = false;
        if (l < 192) len = l;
        else if (l < 224) {
          if (i >= data.length) return null;
          len = ((l - 192) << 8) + data[i++]! + 192;
        } else if (l === 255) {
          if (i + 4 > data.length) return null;
          len = data.readUInt32BE(i);
          i += 4;
        } else {
          len = 1 << (l & 0x1f);
          partial = true;
        }
        i += len;
        if (i > data.length) return null;
        if (!partial) break;
      }
    } else {
      // Old format: the length type is in the header's low bits; 3 runs to the end.
      tags.push((h >> 2) & 0x0f);
      const lt = h & 3;
      if (lt === 3) return i < data.length ? tags : null;
      const n = lt === 0 ? 1 : lt === 1 ? 2 : 4;
      if (i + n > data.length) return null;
      const len = n === 1 ? data[i]! : n === 2 ? data.readUInt16BE(i) : data.readUInt32BE(i);
      i += n + len;
      if (i > data.length) return null;
    }
  }
  return tags;
}
