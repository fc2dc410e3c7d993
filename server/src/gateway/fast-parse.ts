import addressparser from 'nodemailer/lib/addressparser/index.js';
import type { MailView } from './extract.ts';
import { readHeaders, type RawHeaders } from './marker.ts';

// A fast path for the shape most mail has: one text/plain and/or one text/html part, top level or
// inside one multipart/alternative (or mixed) container, in 7bit/8bit/quoted-printable/base64, in
// UTF-8, ASCII or Latin-1/Windows-1252. It costs a small fraction of mailparser's stream pipeline,
// which matters at gateway rates. Anything else (attachments, nesting, encoded-word subjects, other
// charsets, 8-bit headers, RFC 2231 parameters) returns null and goes to mailparser: the fast path
// only ever declines, it never guesses. parse.test.ts checks it against mailparser on generated mail.

const CHARSETS: Record<string, string> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'us-ascii': 'utf-8',
  ascii: 'utf-8',
  'iso-8859-1': 'windows-1252',
  latin1: 'windows-1252',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
};
const decoders = new Map<string, InstanceType<typeof TextDecoder>>();

interface ContentType {
  type: string;
  params: Map<string, string>;
}

/** `type/subtype; a=b; c="d"` — null when a parameter uses RFC 2231 (name*=) or is malformed. */
export function parseContentType(value: string | undefined): ContentType | null {
  const v = (value ?? 'text/plain').trim();
  const semi = v.indexOf(';');
  const type = (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) return null;
  const params = new Map<string, string>();
  let rest = semi < 0 ? '' : v.slice(semi + 1);
  const re = /^\s*([A-Za-z0-9!#$&^_.+-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*))\s*(?:;|$)/;
  while (rest.trim() !== '') {
    const m = re.exec(rest);
    if (!m) return null;
    const name = m[1]!.toLowerCase();
    if (name.endsWith('*') || /\*\d/.test(name)) return null;
    params.set(name, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''));
    rest = rest.slice(m[0].length);
  }
  return { type, params };
}

function first(h: RawHeaders, name: string): string | undefined {
  for (const [k, v] of h.fields) if (k === name) return v;
  return undefined;
}

function count(h: RawHeaders, name: string): number {
  let n = 0;
  for (const [k] of h.fields) if (k === name) n++;
  return n;
}

function decodeQp(b: Buffer): Buffer {
  const s = b
    .toString('latin1')
    .replace(/[ \t]+(\r?\n)/g, '$1')
    .replace(/=\r?\n/g, '');
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 61 /* = */ && i + 2 < s.length + 0 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out[n++] = parseInt(s.slice(i + 1, i + 3), 16);
      i += 2;
    } else out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}

function decodePart(headers: RawHeaders, body: Buffer, ct: ContentType): string | null {
  if (count(headers, 'content-transfer-encoding') > 1) return null;
  const cte = (first(headers, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  let bytes: Buffer;
  if (cte === '7bit' || cte === '8bit' || cte === 'binary') bytes = body;
  else if (cte === 'quoted-printable') bytes = decodeQp(body);
  else if (cte === 'base64') {
    const b64 = body.toString('latin1').replace(/[\s]+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return null;
    bytes = Buffer.from(b64, 'base64');
  } else return null;
  const declared = ct.params.get('charset')?.toLowerCase();
  let enc: string;
  if (declared === undefined) {
    // No charset: US-ASCII by RFC 2045; with 8-bit bytes, let mailparser make its guess.
    if (bytes.some((x) => x >= 0x80)) return null;
    enc = 'utf-8';
  } else {
    const e = CHARSETS[declared];
    if (!e) return null;
    enc = e;
  }
  let dec = decoders.get(enc);
  if (!dec) {
    dec = new TextDecoder(enc);
    decoders.set(enc, dec);
  }
  return dec.decode(bytes);
}

const LF = 0x0a;
const CR = 0x0d;

/** Whether body[from, to) is spaces and tabs only, after `dashes` leading '-' when given. */
function blankTail(body: Buffer, from: number, to: number, dashes: boolean): boolean {
  let k = from;
  if (dashes) {
    if (to - k < 2 || body[k] !== 0x2d || body[k + 1] !== 0x2d) return false;
    k += 2;
  }
  for (; k < to; k++) if (body[k] !== 0x20 && body[k] !== 0x09) return false;
  return true;
}

/**
 * The parts of a multipart body (views into it, no copies): a delimiter is a line that is
 * `--boundary` with only spaces or tabs after it, the closing one `--boundary--`; the line break
 * before a delimiter belongs to it. Null unless the closing delimiter comes after at least one part.
 */
export function splitMultipart(body: Buffer, boundary: string): Buffer[] | null {
  if (!boundary || boundary.length > 200) return null;
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const parts: Buffer[] = [];
  let start = -1;
  let pos = 0;
  for (;;) {
    const p = body.indexOf(delim, pos);
    if (p < 0) return null;
    const eol = body.indexOf(LF, p + delim.length);
    if (p > 0 && body[p - 1] !== LF) {
      pos = p + 1;
      continue;
    }
    // The line without its line break (\n or \r\n).
    let bare = eol < 0 ? body.length : eol;
    if (eol >= 0 && bare > p && body[bare - 1] === CR) bare--;
    const closing = blankTail(body, p + delim.length, bare, true);
    if (!closing && !blankTail(body, p + delim.length, bare, false)) {
      pos = p + 1;
      continue;
    }
    if (start >= 0) {
      let end = p;
      if (end > start && body[end - 1] === LF) {
        end--;
        if (end > start && body[end - 1] === CR) end--;
      }
      parts.push(body.subarray(start, end));
    }
    if (closing) return parts.length > 0 ? parts : null;
    if (eol < 0) return null;
    start = eol + 1;
    pos = start;
  }
}

// The shapes most From and Cc fields have: `addr@example.com`, `<addr@example.com>` or
// `Plain Name <addr@example.com>` (letters, digits, spaces, dots, apostrophes and hyphens in the name).
// They read the same through addressparser (parse.test.ts checks it); anything else goes to it.
const ADDR = String.raw`[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*`;
const SIMPLE_ADDRESS = new RegExp(String.raw`^(?:(${ADDR})|(?:[A-Za-z0-9][A-Za-z0-9 .'-]*? +)?<(${ADDR})>)$`);

/** Addresses (lower-case) in one address field value. */
export function fieldAddresses(value: string): string[] {
  const m = SIMPLE_ADDRESS.exec(value);
  if (m) return [(m[1] ?? m[2]!).toLowerCase()];
  const out: string[] = [];
  for (const a of addressparser(value, { flatten: true })) {
    if (a.address) out.push(a.address.toLowerCase());
  }
  return out;
}

function addressesOf(h: RawHeaders, name: string): string[] | null {
  const out: string[] = [];
  for (const [k, v] of h.fields) {
    if (k === name) out.push(...fieldAddresses(v));
  }
  return out;
}

export function fastParse(raw: Buffer, headers: RawHeaders = readHeaders(raw)): MailView | null {
  // 8-bit header bytes (SMTPUTF8, or mis-encoded) and encoded words need mailparser's decoders.
  for (let i = 0; i < headers.bodyOffset; i++) if (raw[i]! >= 0x80) return null;
  if (count(headers, 'content-type') > 1 || count(headers, 'subject') > 1) return null;
  const subject = first(headers, 'subject') ?? '';
  if (subject.includes('=?')) return null;
  const ct = parseContentType(first(headers, 'content-type'));
  if (!ct) return null;
  const body = raw.subarray(headers.bodyOffset);
  let text: string | undefined;
  let html: string | null = null;

  const take = (h: RawHeaders, b: Buffer, c: ContentType): boolean => {
    const disp = first(h, 'content-disposition');
    if (disp && !/^\s*inline\s*$/i.test(disp)) return false;
    if (c.params.has('name')) return false;
    const decoded = decodePart(h, b, c);
    if (decoded === null) return false;
    if (c.type === 'text/plain' && text === undefined) text = decoded;
    else if (c.type === 'text/html' && html === null) html = decoded;
    else return false;
    return true;
  };

  if (ct.type === 'text/plain' || ct.type === 'text/html') {
    if (!take(headers, body, ct)) return null;
  } else if (ct.type === 'multipart/alternative' || ct.type === 'multipart/mixed') {
    const parts = splitMultipart(body, ct.params.get('boundary') ?? '');
    if (!parts) return null;
    for (const p of parts) {
      const ph = readHeaders(p);
      for (let i = 0; i < ph.bodyOffset; i++) if (p[i]! >= 0x80) return null;
      const pct = parseContentType(first(ph, 'content-type'));
      if (!pct || (pct.type !== 'text/plain' && pct.type !== 'text/html')) return null;
      if (!take(ph, p.subarray(ph.bodyOffset), pct)) return null;
    }
  } else return null;

  const from = addressesOf(headers, 'from');
  const cc = addressesOf(headers, 'cc');
  if (!from || !cc) return null;
  return { subject: subject.trim(), text, html, from, cc, attachments: [] };
}
