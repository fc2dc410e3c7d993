// Phones, faxes, e-mail addresses, URLs and IP addresses (45 CFR 164.514(b)(2)(i)(D)-(F), (N), (O)).
import {
  before,
  digitCount,
  eachMatch,
  eachMatchAtWords,
  eachMatchAtWordsAnd,
  GATE_DIGIT,
  GATE_SMALL_NUMBER,
  type Candidate,
  type ScanContext,
  pushMatch,
} from '../candidate.ts';
import { digitsOf, ipv4Valid, ipv6Valid, nanpValid } from '../validators.ts';

// "www." in any case: what text.toLowerCase().includes('www.') finds (only W and w lower-case to w),
// without lower-casing the whole text.
const WWW_RE = /www\./i;

// North American numbers: optional +1, area code with or without parentheses, optional extension.
const NANP_RE =
  /(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-]?)\d{3}[ .-]?\d{4}(?:[ ]*(?:x|ext\.?|extension)[ ]*\d{1,6})?(?![\w])/gi;
// E.164 style international numbers: +CC then 2-5 groups; total 8-15 digits (checked below).
const INTL_RE = /(?<![\w+])(?:\+|00)\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w])/g;
// Trunk-prefixed national numbers (UK 020 7946 0958, 07700 900123, EU 0341 8387176).
const TRUNK_RE = /(?<![\w+])\(?0\d{1,4}\)?(?:[ .-]?\d{2,8}){1,4}(?![\w])/g;
// Any run of digit groups; only reported after an explicit phone cue.
const GENERIC_RE = /(?<![\w+])\(?\d{2,5}\)?(?:[ .-]?\d{2,8}){0,4}(?:[ ]*(?:x|ext\.?)[ ]*\d{1,6})?(?![\w])/gi;
const PHONE_CUE =
  /(?:\b(?:tel|telephone|phone|ph|cell|cellphone|mobile|mob|call|text|txt|pager|page|pg|beeper|fax|contact|number|no|home|work|office|reach|dial|desk|direct|landline|whatsapp|sms|answering|registered|extension|ext)\b\.?[\s:#.-]*(?:no\.?|number(?: is)?|#|is|at|me at|me on|us at|us on|on)?[\s:#.-]*$)|#\s*$/i;
const PHONE_CUE_AFTER = /^[ \t]*-?[ \t]*(?:office|fax|mobile|cell|home|work|phone|tel|desk)\b/i;
const FAX_CUE = /\bfax\b[^\n]{0,20}$/;

const EMAIL_RE =
  /(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,24}(?![\w])/g;
const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/gi;
const IPV4_RE = /(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)/g;
const IPV6_RE =
  /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])/g;

// Cheap gate before the IPv6 pattern, which would otherwise start at every hex digit: two colons
// at most five characters apart with only hex digits between them.
function ipv6Hint(text: string): boolean {
  let i = text.indexOf(':');
  while (i >= 0) {
    let k = i + 1;
    while (k < text.length && k - i <= 5 && /[0-9a-fA-F]/.test(text[k]!)) k++;
    if (text[k] === ':') return true;
    i = text.indexOf(':', i + 1);
  }
  return false;
}

// Speed: every phone pattern's match starts with a digit at a word start (GATE_DIGIT), or with
// "+" or "(": the patterns are tried only there (candidate.ts eachMatchAtWordsAnd).
const NO_STARTS: readonly number[] = [];
/** Positions of "+" and "(" in the text, in order. */
function plusParenStarts(text: string): readonly number[] {
  let p = text.indexOf('+');
  let q = text.indexOf('(');
  if (p < 0 && q < 0) return NO_STARTS;
  const at: number[] = [];
  while (p >= 0 || q >= 0) {
    if (q < 0 || (p >= 0 && p < q)) {
      at.push(p);
      p = text.indexOf('+', p + 1);
    } else {
      at.push(q);
      q = text.indexOf('(', q + 1);
    }
  }
  return at;
}

/** An "@" between characters an address can have there (every EMAIL_RE match holds one). */
function emailHint(text: string): boolean {
  for (let i = text.indexOf('@'); i >= 0; i = text.indexOf('@', i + 1)) {
    if (i === 0 || i + 1 >= text.length) continue;
    const b = text.charCodeAt(i - 1);
    const a = text.charCodeAt(i + 1);
    if (isAlnum(a) && (isAlnum(b) || b === 46 || b === 95 || b === 37 || b === 43 || b === 45)) return true;
  }
  return false;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

// Where each pattern can start, from its first characters (eachMatchAtWordsAnd `can`): tests of
// a few characters instead of a try of the pattern at every number.
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
/**
 * NANP_RE: "+", "(", "1" or three digits first, and at least 10 digits (the number's own) in its
 * first 17 characters, with only separators between them.
 */
function nanpCan(text: string, p: number): boolean {
  const c = text.charCodeAt(p);
  if (
    c !== 43 &&
    c !== 40 &&
    c !== 49 &&
    !(isDigit(text.charCodeAt(p + 1)) && isDigit(text.charCodeAt(p + 2)))
  )
    return false;
  // Up to its tenth digit a match holds only digits, "+", "(", ")", " ", "." and "-": stop at
  // anything else (most numbers in clinical text end at a "/", "," or letter).
  const end = Math.min(text.length, p + 17);
  if (end - p < 10) return false;
  let n = 0;
  for (let k = p; k < end; k++) {
    const d = text.charCodeAt(k);
    if (isDigit(d)) {
      if (++n >= 10) return true;
    } else if (d !== 32 && d !== 46 && d !== 45 && d !== 40 && d !== 41 && d !== 43) return false;
  }
  return false;
}
/** INTL_RE: "+" or "00". */
function intlCan(text: string, p: number): boolean {
  const c = text.charCodeAt(p);
  return c === 43 || (c === 48 && text.charCodeAt(p + 1) === 48);
}
/** TRUNK_RE: "0" and a digit, maybe after "(". */
function trunkCan(text: string, p: number): boolean {
  if (text.charCodeAt(p) === 40) p++;
  return text.charCodeAt(p) === 48 && isDigit(text.charCodeAt(p + 1));
}
/**
 * GENERIC_RE: two digits, maybe after "(", and a number the callback can keep: it wants four
 * digits or more, so a run of two or three must go on (a digit after ")", a digit after one of
 * " .-", or " "/"x"/"ext" for an extension). Most numbers in clinical text stop there, and their
 * match would cover no other start.
 */
function genericCan(text: string, p: number): boolean {
  if (text.charCodeAt(p) === 40) p++;
  let k = p;
  while (isDigit(text.charCodeAt(k))) k++;
  if (k - p < 2) return false;
  if (k - p >= 4) return true;
  let c = text.charCodeAt(k);
  if (c === 41) {
    c = text.charCodeAt(++k);
    if (isDigit(c)) return true;
  }
  if (c === 46 || c === 45) return isDigit(text.charCodeAt(k + 1));
  return c === 32 || c === 120 || c === 88 || c === 101 || c === 69;
}
/** IPV4_RE: four groups of one to three digits joined by "." (\d{1,3}(?:\.\d{1,3}){3}). */
function ipv4Can(text: string, p: number): boolean {
  // Four groups of one to three digits, joined by ".".
  let k = p;
  for (let g = 0; g < 4; g++) {
    if (g > 0 && text.charCodeAt(k++) !== 46) return false;
    const s = k;
    while (k < s + 4 && isDigit(text.charCodeAt(k))) k++;
    if (k === s || k - s > 3) return false;
  }
  return true;
}

function phoneType(ctx: ScanContext, start: number): 'PHONE' | 'FAX' {
  return FAX_CUE.test(before(ctx.text, start, 24)) ? 'FAX' : 'PHONE';
}

export function recognizeContact(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  const wantPhone = ctx.wants('PHONE') || ctx.wants('FAX');
  // Each phone form needs a number of digits (the pattern's or the check below): skip the patterns
  // the text has too few digits for.
  const digits = wantPhone ? digitCount(ctx) : 0;
  const extra = digits >= 4 ? plusParenStarts(text) : NO_STARTS;
  if (digits >= 10)
    eachMatchAtWordsAnd(
      ctx,
      GATE_DIGIT,
      extra,
      NANP_RE,
      (m) => {
        const s = m.index;
        const raw = m[0];
        const core = raw.replace(/\s*(?:x|ext\.?|extension)\s*\d+$/i, '');
        if (!nanpValid(core)) return;
        // 10 bare digits are as likely an account or record number: need a cue or separators.
        const separated = /[ .()-]/.test(core);
        const cue = PHONE_CUE.test(before(text, s, 30));
        if (!separated && !cue) return;
        out.push({
          type: phoneType(ctx, s),
          start: s,
          end: s + raw.length,
          confidence: cue ? 0.95 : 0.9,
          reason: 'North American phone number',
        });
      },
      nanpCan,
    );
  // Every international number opens with "+" or "00".
  if (digits >= 8 && (text.includes('+') || text.includes('00')))
    eachMatchAtWordsAnd(
      ctx,
      GATE_DIGIT,
      extra,
      INTL_RE,
      (m) => {
        // "00" international prefix only with separators (bare 00482913 is a record number).
        if (m[0].startsWith('00') && !/[ .-]/.test(m[0])) return;
        const n = digitsOf(m[0]).length;
        if (n < 8 || n > 15) return;
        const raw = m[0].replace(/[ .-]+$/, '');
        out.push({
          type: phoneType(ctx, m.index),
          start: m.index,
          end: m.index + raw.length,
          confidence: 0.9,
          reason: 'International phone number (E.164)',
        });
      },
      intlCan,
    );
  if (digits >= 9)
    eachMatchAtWordsAnd(
      ctx,
      GATE_DIGIT,
      extra,
      TRUNK_RE,
      (m) => {
        const n = digitsOf(m[0]).length;
        if (n < 9 || n > 12) return;
        if (!/[ .-]/.test(m[0]) && !/^\(/.test(m[0])) {
          if (!PHONE_CUE.test(before(text, m.index, 30))) return;
        }
        // Dates such as 01-02-2020 have the same shape: leave them to the date recognizer.
        if (/^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$/.test(m[0])) return;
        const cue = PHONE_CUE.test(before(text, m.index, 30));
        pushMatch(
          out,
          m,
          phoneType(ctx, m.index),
          cue ? 0.9 : 0.7,
          'National phone number with trunk prefix',
        );
      },
      trunkCan,
    );
  if (digits >= 4)
    eachMatchAtWordsAnd(
      ctx,
      GATE_DIGIT,
      extra,
      GENERIC_RE,
      (m) => {
        const n = digitsOf(m[0]).length;
        if (n < 4 || n > 15) return;
        // A label before ("Phone: ...") or, in signatures, right after ("... office", "...-Fax").
        const cueAfter =
          n >= 7 && PHONE_CUE_AFTER.test(text.slice(m.index + m[0].length, m.index + m[0].length + 12));
        if (!cueAfter && !PHONE_CUE.test(before(text, m.index, 30))) return;
        if (/^\d{1,2}[./-]\d{1,2}(?:[./-]\d{2,4})?$/.test(m[0])) return;
        // Pagers are 4-5 digits; otherwise a phone has at least 7.
        const cueText = before(text, m.index, 30);
        if (
          n < 7 &&
          !/\b(?:pager|page|pg|beeper|ext|extension|x)\b[\s:#.]*(?:(?:no\.?|number|#)[\s:#.]*)?$/.test(
            cueText,
          )
        )
          return;
        pushMatch(out, m, phoneType(ctx, m.index), 0.8, 'Number after a phone cue');
      },
      genericCan,
    );
  if (ctx.wants('EMAIL') && emailHint(text)) {
    eachMatch(EMAIL_RE, text, (m) => {
      pushMatch(out, m, 'EMAIL', 0.95, 'E-mail address');
    });
  }
  if (ctx.wants('URL') && (text.includes('://') || WWW_RE.test(text))) {
    eachMatch(URL_RE, text, (m) => {
      const raw = m[0].replace(/[.,;:!?)\]}>]+$/, '');
      if (raw.length < 8) return;
      out.push({
        type: 'URL',
        start: m.index,
        end: m.index + raw.length,
        confidence: 0.85,
        reason: 'Web address',
      });
    });
  }
  if (ctx.wants('IP')) {
    // An IPv4 address starts with a number of one to three digits (word gate, candidate.ts).
    if (digitCount(ctx) >= 4)
      eachMatchAtWords(
        ctx,
        GATE_SMALL_NUMBER,
        IPV4_RE,
        (m) => {
          if (!ipv4Valid(m[0])) return;
          // "62/39/7.41.29.3": the last values of a slashed series (a blood gas), not an address.
          if (m.index >= 2 && text.charCodeAt(m.index - 1) === 47 && /\d/.test(text[m.index - 2]!)) return;
          pushMatch(out, m, 'IP', 0.9, 'IPv4 address');
        },
        ipv4Can,
      );
    if (ipv6Hint(text))
      eachMatch(IPV6_RE, text, (m) => {
        const raw = m[0];
        if (!/[0-9a-f]/i.test(raw) || (raw.match(/:/g)?.length ?? 0) < 2) return;
        if (!ipv6Valid(raw)) return;
        // Times like 10:30:00 are not addresses: require a hex letter, "::" or 4+ groups.
        if (!/[a-f]/i.test(raw) && !raw.includes('::') && raw.split(':').length < 5) return;
        out.push({
          type: 'IP',
          start: m.index,
          end: m.index + raw.length,
          confidence: 0.9,
          reason: 'IPv6 address',
        });
      });
  }
}
