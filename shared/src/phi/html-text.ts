// HTML → plain text for scanning, with an offset map back to the HTML string.
//
// Why not a DOM or an HTML library: this runs in Outlook's send handler, in Apps Script's V8 and on the
// server (shared/ imports no host API), on every send, so it is a single pass over the string into one
// Uint16Array plus two Uint32Arrays of offsets. Every text unit remembers the HTML range it came from
// (a character, a whole entity, or a whole tag for the newline a block element becomes), so a finding in
// the text maps to an HTML range that slices to real source and never cuts an entity or a tag in half.
//
// Rules (close to what a reader sees, not a full HTML5 tree builder):
// - tags are dropped; comments, <!DOCTYPE>, <?…?> and CDATA are dropped;
// - the contents of script, style, head-only and Office-only elements (title, xml, template, noscript…)
//   are dropped;
// - block elements and <br> become a newline; table cells become a space;
// - runs of whitespace collapse to one space (except inside <pre> and <textarea>);
// - character references are decoded: numeric (with the HTML5 repairs) and the common named ones;
//   an unknown name stays as written.

export interface HtmlText {
  /** The text a reader sees, as scanned. */
  text: string;
  /** starts[i]: HTML offset where text unit i came from (inclusive). */
  starts: Uint32Array;
  /** ends[i]: HTML offset where text unit i's source ends (exclusive). */
  ends: Uint32Array;
  /** Text offset where the mail client's own signature element starts (Gmail, Outlook, Apple Mail…). */
  signatureAt?: number;
  /** Text offset where the client's quoted earlier message starts. */
  quoteAt?: number;
}

// The markers mail clients put on the signature they insert and on the quoted message of a reply.
// Gmail: class gmail_signature / gmail_quote; Outlook: id Signature, name _MailAutoSig, divRplyFwdMsg,
// appendonsend; Apple Mail: AppleMailSignature, blockquote type=cite; Thunderbird: moz-signature,
// moz-cite-prefix.
const SIGNATURE_ATTR =
  /gmail_signature|["'\s=]Signature["'\s>]|_MailAutoSig|AppleMailSignature|moz-signature/;
const QUOTE_ATTR = /gmail_quote|divRplyFwdMsg|appendonsend|type\s*=\s*["']?cite|moz-cite-prefix/i;

// Elements whose content is not shown to a reader.
// (Outlook puts <xml> Office settings in the head; svg/math text is drawing, not prose.)
const HIDDEN = new Set(['script', 'style', 'title', 'xml', 'template', 'noscript', 'svg', 'math']);
// Raw-text elements: their content is not markup, so their end tag is searched for literally.
const RAW = new Set([...HIDDEN, 'textarea']);
// prettier-ignore
const BLOCK = new Set([
  'address', 'article', 'aside', 'blockquote', 'body', 'br', 'caption', 'center', 'dd', 'details', 'dialog',
  'div', 'dl', 'dt', 'fieldset', 'figcaption', 'figure', 'footer', 'form', 'h1', 'h2', 'h3', 'h4', 'h5',
  'h6', 'header', 'hr', 'html', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'summary', 'table',
  'tbody', 'tfoot', 'thead', 'tr', 'ul',
]);
const CELL = new Set(['td', 'th']);
const PRE = new Set(['pre', 'textarea', 'listing', 'plaintext']);

// The named references that occur in real mail (Outlook, Gmail, Apple Mail, marketing tools). The full
// HTML5 table has 2,231 names; it would cost more bundle than it saves, and an unknown name stays
// literal, which is safe for scanning.
// prettier-ignore
const NAMED: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', ensp: '\u2002', emsp: '\u2003',
  thinsp: '\u2009', zwnj: '\u200c', zwj: '\u200d', shy: '\u00ad', ndash: '\u2013', mdash: '\u2014',
  lsquo: '\u2018', rsquo: '\u2019', sbquo: '\u201a', ldquo: '\u201c', rdquo: '\u201d', bdquo: '\u201e',
  hellip: '\u2026', bull: '\u2022', middot: '\u00b7', copy: '\u00a9', reg: '\u00ae', trade: '\u2122',
  deg: '\u00b0', plusmn: '\u00b1', times: '\u00d7', divide: '\u00f7', frac12: '\u00bd', frac14: '\u00bc',
  frac34: '\u00be', sect: '\u00a7', para: '\u00b6', cent: '\u00a2', pound: '\u00a3', euro: '\u20ac',
  yen: '\u00a5', laquo: '\u00ab', raquo: '\u00bb', lsaquo: '\u2039', rsaquo: '\u203a', iexcl: '\u00a1',
  iquest: '\u00bf', dagger: '\u2020', Dagger: '\u2021', prime: '\u2032', Prime: '\u2033', larr: '\u2190',
  rarr: '\u2192', uarr: '\u2191', darr: '\u2193', micro: '\u00b5', ordf: '\u00aa', ordm: '\u00ba',
  sup1: '\u00b9', sup2: '\u00b2', sup3: '\u00b3', acute: '\u00b4', uml: '\u00a8', cedil: '\u00b8',
  macr: '\u00af', not: '\u00ac', brvbar: '\u00a6', curren: '\u00a4', szlig: '\u00df',
  Agrave: 'À', Aacute: 'Á', Acirc: 'Â', Atilde: 'Ã', Auml: 'Ä', Aring: 'Å', AElig: 'Æ', Ccedil: 'Ç',
  Egrave: 'È', Eacute: 'É', Ecirc: 'Ê', Euml: 'Ë', Igrave: 'Ì', Iacute: 'Í', Icirc: 'Î', Iuml: 'Ï',
  ETH: 'Ð', Ntilde: 'Ñ', Ograve: 'Ò', Oacute: 'Ó', Ocirc: 'Ô', Otilde: 'Õ', Ouml: 'Ö', Oslash: 'Ø',
  Ugrave: 'Ù', Uacute: 'Ú', Ucirc: 'Û', Uuml: 'Ü', Yacute: 'Ý', THORN: 'Þ', agrave: 'à', aacute: 'á',
  acirc: 'â', atilde: 'ã', auml: 'ä', aring: 'å', aelig: 'æ', ccedil: 'ç', egrave: 'è', eacute: 'é',
  ecirc: 'ê', euml: 'ë', igrave: 'ì', iacute: 'í', icirc: 'î', iuml: 'ï', eth: 'ð', ntilde: 'ñ',
  ograve: 'ò', oacute: 'ó', ocirc: 'ô', otilde: 'õ', ouml: 'ö', oslash: 'ø', ugrave: 'ù', uacute: 'ú',
  ucirc: 'û', uuml: 'ü', yacute: 'ý', thorn: 'þ', yuml: 'ÿ', OElig: 'Œ', oelig: 'œ', Scaron: 'Š',
  scaron: 'š', Yuml: 'Ÿ', tab: '\t', NewLine: '\n', colon: ':', comma: ',', period: '.', excl: '!',
  quest: '?', num: '#', dollar: '$', percnt: '%', lpar: '(', rpar: ')', ast: '*', plus: '+', sol: '/',
  semi: ';', equals: '=', commat: '@', lsqb: '[', rsqb: ']', lowbar: '_', verbar: '|', lcub: '{', rcub: '}',
};
// Names browsers also accept without the semicolon (the legacy subset that appears in mail).
const LEGACY = new Set(['amp', 'lt', 'gt', 'quot', 'nbsp', 'copy', 'reg', 'AMP', 'LT', 'GT', 'QUOT']);
NAMED.AMP = '&';
NAMED.LT = '<';
NAMED.GT = '>';
NAMED.QUOT = '"';

// HTML5 §13.2.5.80: numeric references in 0x80–0x9F mean windows-1252, as mail from Word still writes.
// prettier-ignore
const CP1252: Record<number, number> = {
  0x80: 0x20ac, 0x82: 0x201a, 0x83: 0x0192, 0x84: 0x201e, 0x85: 0x2026, 0x86: 0x2020, 0x87: 0x2021,
  0x88: 0x02c6, 0x89: 0x2030, 0x8a: 0x0160, 0x8b: 0x2039, 0x8c: 0x0152, 0x8e: 0x017d, 0x91: 0x2018,
  0x92: 0x2019, 0x93: 0x201c, 0x94: 0x201d, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02dc,
  0x99: 0x2122, 0x9a: 0x0161, 0x9b: 0x203a, 0x9c: 0x0153, 0x9e: 0x017e, 0x9f: 0x0178,
};

const LT = 0x3c;
const GT = 0x3e;
const AMP = 0x26;
const SEMI = 0x3b;
const NL = 0x0a;
const SPACE = 0x20;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c;
}
function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
function isAlnum(c: number): boolean {
  return isAlpha(c) || (c >= 0x30 && c <= 0x39);
}
function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Converts an HTML string to the text a reader sees, with a per-unit map back to the HTML. */
export function htmlToText(html: string): HtmlText {
  const n = html.length;
  // Every rule emits at most as many units as it consumes (a tag of ≥3 chars → ≤1 newline, an entity of
  // ≥3 chars → ≤2 units), so n units suffice; `emit` still grows defensively.
  let cap = n + 8;
  let starts = new Uint32Array(cap);
  let ends = new Uint32Array(cap);
  let len = 0;
  let lastUnit = NL;
  // The text is built from slices of the HTML (runs of characters copied as they are) and the few
  // units that differ (decoded entities, newlines for tags, one space for a run of whitespace): far
  // cheaper than building it code unit by code unit.
  const pieces: string[] = [];
  let runFrom = 0;
  let runTo = 0;
  let preDepth = 0;
  let signatureAt: number | undefined;
  let quoteAt: number | undefined;

  const emit = (unit: number, from: number, to: number): void => {
    if (len === cap) {
      cap *= 2;
      const s = new Uint32Array(cap);
      s.set(starts);
      starts = s;
      const e = new Uint32Array(cap);
      e.set(ends);
      ends = e;
    }
    starts[len] = from;
    ends[len] = to;
    len++;
    lastUnit = unit;
    if (to === from + 1 && html.charCodeAt(from) === unit) {
      if (from === runTo && runTo > runFrom) {
        runTo++;
        return;
      }
      if (runTo > runFrom) pieces.push(html.slice(runFrom, runTo));
      runFrom = from;
      runTo = to;
      return;
    }
    if (runTo > runFrom) pieces.push(html.slice(runFrom, runTo));
    runFrom = runTo = 0;
    pieces.push(unit === SPACE ? ' ' : unit === NL ? '\n' : String.fromCharCode(unit));
  };
  const last = (): number => (len === 0 ? NL : lastUnit);
  const newline = (from: number, to: number, always: boolean): void => {
    if (len === 0 && !always) return;
    if (!always && last() === NL) return;
    emit(NL, from, to);
  };

  let i = 0;
  while (i < n) {
    const c = html.charCodeAt(i);
    if (c === LT) {
      const next = i + 1 < n ? html.charCodeAt(i + 1) : -1;
      if (next === 0x21 /* ! */) {
        // Comment (incl. Outlook's conditional comments) or <!DOCTYPE>/<![CDATA[…]]>: dropped.
        if (html.startsWith('<!--', i)) {
          const close = html.indexOf('-->', i + 4);
          i = close < 0 ? n : close + 3;
        } else {
          const close = html.indexOf('>', i + 2);
          i = close < 0 ? n : close + 1;
        }
        continue;
      }
      if (next === 0x3f /* ? */) {
        const close = html.indexOf('>', i + 2);
        i = close < 0 ? n : close + 1;
        continue;
      }
      const closing = next === 0x2f; /* / */
      const nameStart = closing ? i + 2 : i + 1;
      if (nameStart >= n || !isAlpha(html.charCodeAt(nameStart))) {
        // A lone "<" (e.g. "a < b") is text.
        emitText(c, i);
        i++;
        continue;
      }
      let j = nameStart;
      while (j < n) {
        const d = html.charCodeAt(j);
        if (!(isAlnum(d) || d === 0x3a /* : */ || d === 0x2d /* - */ || d === 0x5f)) break;
        j++;
      }
      const name = html.slice(nameStart, j).toLowerCase();
      // Find the tag's end, skipping quoted attribute values (a ">" inside quotes does not end it).
      let quote = 0;
      let prevSignificant = 0;
      while (j < n) {
        const d = html.charCodeAt(j);
        if (quote) {
          if (d === quote) quote = 0;
        } else if (d === GT) {
          break;
        } else if ((d === 0x22 || d === 0x27) && prevSignificant === 0x3d /* = */) {
          quote = d;
        }
        if (!isSpace(d)) prevSignificant = d;
        j++;
      }
      const tagEnd = j < n ? j + 1 : n; // an unterminated tag runs to the end, as in browsers
      if (!closing && tagEnd - nameStart > name.length + 6) {
        const attrs = html.slice(nameStart + name.length, tagEnd);
        if (signatureAt === undefined && SIGNATURE_ATTR.test(attrs)) signatureAt = len;
        if (quoteAt === undefined && QUOTE_ATTR.test(attrs)) quoteAt = len;
      }
      const selfClosing = tagEnd >= 2 && html.charCodeAt(tagEnd - 2) === 0x2f;
      if (!closing && RAW.has(name) && !selfClosing) {
        const close = findEndTag(html, name, tagEnd);
        if (HIDDEN.has(name)) {
          i = close.after;
          continue;
        }
        // textarea: its text is shown (decoded, whitespace kept).
        preDepth++;
        runText(tagEnd, close.at);
        preDepth--;
        newline(close.at, close.after, false);
        i = close.after;
        continue;
      }
      if (BLOCK.has(name)) newline(i, tagEnd, name === 'br');
      else if (CELL.has(name) && !closing && len > 0 && !isSpace(last())) emit(SPACE, i, tagEnd);
      if (PRE.has(name))
        preDepth = closing ? Math.max(0, preDepth - 1) : selfClosing ? preDepth : preDepth + 1;
      i = tagEnd;
      continue;
    }
    if (c !== AMP && !isSpace(c)) {
      i = plainRun(i);
      continue;
    }
    i = textAt(i, n);
  }

  // Fast path: a run of characters that are copied as they are (no markup, entity or whitespace).
  function plainRun(from: number): number {
    let j = from + 1;
    while (j < n) {
      const d = html.charCodeAt(j);
      if (d === LT || d === AMP || isSpace(d)) break;
      j++;
    }
    if (len + (j - from) > cap) {
      while (len + (j - from) > cap) cap *= 2;
      const s2 = new Uint32Array(cap);
      s2.set(starts);
      starts = s2;
      const e2 = new Uint32Array(cap);
      e2.set(ends);
      ends = e2;
    }
    for (let k = from; k < j; k++) {
      starts[len] = k;
      ends[len] = k + 1;
      len++;
    }
    lastUnit = html.charCodeAt(j - 1);
    if (from === runTo && runTo > runFrom) {
      runTo = j;
    } else {
      if (runTo > runFrom) pieces.push(html.slice(runFrom, runTo));
      runFrom = from;
      runTo = j;
    }
    return j;
  }

  // Text from `from` to `to` (exclusive) with entities decoded.
  function runText(from: number, to: number): void {
    let k = from;
    while (k < to) k = textAt(k, to);
  }

  // Handles one character or character reference at k; returns the next offset.
  function textAt(k: number, limit: number): number {
    const c = html.charCodeAt(k);
    // CR LF inside <pre> is one line break.
    if (c === 0x0d && preDepth > 0 && html.charCodeAt(k + 1) === NL) return k + 1;
    if (c === AMP) {
      const ref = decodeReference(html, k, limit);
      if (ref) {
        for (let u = 0; u < ref.value.length; u++) emitText(ref.value.charCodeAt(u), k, ref.end);
        return ref.end;
      }
    }
    emitText(c, k, k + 1);
    return k + 1;
  }

  function emitText(c: number, from: number, to: number = from + 1): void {
    if (preDepth === 0 && isSpace(c)) {
      if (len === 0 || isSpace(last())) return;
      emit(SPACE, from, to);
      return;
    }
    emit(c === 0x0d && preDepth > 0 ? NL : c, from, to);
  }

  if (runTo > runFrom) pieces.push(html.slice(runFrom, runTo));
  const out: HtmlText = {
    text: pieces.join(''),
    starts: starts.subarray(0, len),
    ends: ends.subarray(0, len),
  };
  if (signatureAt !== undefined) out.signatureAt = signatureAt;
  if (quoteAt !== undefined) out.quoteAt = quoteAt;
  return out;
}

function findEndTag(html: string, name: string, from: number): { at: number; after: number } {
  let k = from;
  for (;;) {
    k = html.indexOf('</', k);
    if (k < 0) return { at: html.length, after: html.length };
    if (html.slice(k + 2, k + 2 + name.length).toLowerCase() === name) {
      const after = html.charCodeAt(k + 2 + name.length);
      if (Number.isNaN(after) || isSpace(after) || after === GT || after === 0x2f) {
        const close = html.indexOf('>', k + 2 + name.length);
        return { at: k, after: close < 0 ? html.length : close + 1 };
      }
    }
    k += 2;
  }
}

function decodeReference(html: string, k: number, limit: number): { value: string; end: number } | null {
  const p = k + 1;
  if (p >= limit) return null;
  if (html.charCodeAt(p) === 0x23 /* # */) {
    let q = p + 1;
    const hex = q < limit && (html.charCodeAt(q) | 0x20) === 0x78; /* x */
    if (hex) q++;
    const digitsStart = q;
    let code = 0;
    while (q < limit) {
      const d = html.charCodeAt(q);
      if (hex ? !isHex(d) : !(d >= 0x30 && d <= 0x39)) break;
      // Saturate instead of overflowing: anything past U+10FFFF is replaced below.
      if (code <= 0x10ffff) code = code * (hex ? 16 : 10) + parseInt(html[q] ?? '0', 16);
      q++;
    }
    if (q === digitsStart) return null;
    if (q < limit && html.charCodeAt(q) === SEMI) q++;
    return { value: codePointString(code), end: q };
  }
  let q = p;
  while (q < limit && q - p < 32 && isAlnum(html.charCodeAt(q))) q++;
  if (q === p) return null;
  const name = html.slice(p, q);
  const value = Object.prototype.hasOwnProperty.call(NAMED, name) ? NAMED[name] : undefined;
  if (value === undefined) return null;
  if (q < limit && html.charCodeAt(q) === SEMI) return { value, end: q + 1 };
  return LEGACY.has(name) ? { value, end: q } : null;
}

function codePointString(code: number): string {
  if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
  const mapped = CP1252[code];
  return String.fromCodePoint(mapped ?? code);
}

/**
 * Maps a text range [start, end) to the HTML range it came from. The result always slices the HTML at
 * unit boundaries (whole characters, entities and tags).
 */
export function mapToHtml(
  ht: HtmlText,
  start: number,
  end: number,
  htmlLength: number,
): { start: number; end: number } {
  const len = ht.starts.length;
  if (start >= len) return { start: htmlLength, end: htmlLength };
  const s = ht.starts[Math.max(0, start)] ?? htmlLength;
  if (end <= start) return { start: s, end: s };
  const e = ht.ends[Math.min(len, end) - 1] ?? htmlLength;
  return { start: s, end: Math.max(s, e) };
}
