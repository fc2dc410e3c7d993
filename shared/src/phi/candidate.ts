// What recognizers emit before overlap resolution. Kept separate from Finding so recognizers
// never build the public object (no `text` slice until a candidate survives).
import { byGateOff, byGateStarts, gateStartBits, gateStartPos, wordGate, type Tokens } from './tokens.ts';
import type { Finding, PhiType } from './types.ts';

export interface Candidate {
  type: PhiType;
  start: number;
  end: number;
  confidence: number;
  reason: string;
  grade?: Finding['grade'];
}

export interface ScanContext {
  readonly text: string;
  /** True when the text is mostly upper case (nursing shorthand, some EHR exports). */
  readonly upper: boolean;
  /** Set of types the caller wants; recognizers skip work for types not wanted. */
  readonly wants: (t: PhiType) => boolean;
  /** The text's tokens, computed once per scan. */
  readonly toks?: Tokens;
  /** The text lower-cased, computed on first use (lowerText: for literal gates), then kept. */
  lower: string | undefined;
}

const WORDS_CACHE = new WeakMap<ScanContext, Set<string>>();
/**
 * The set of lower-cased words of the text (letters/digits runs), built once per scan on first
 * use: label gates ask "does the word 'mrn' occur?" with one lookup instead of a text search.
 */
export function wordSet(ctx: ScanContext): Set<string> {
  let w = WORDS_CACHE.get(ctx);
  if (w === undefined) {
    const toks = ctx.toks;
    if (toks) {
      // (The token arrays run past the last token: their length is not the count.)
      w = new Set<string>();
      for (let k = 0; k < toks.count; k++) w.add(toks.lower[k]!);
    } else w = new Set(lowerText(ctx).match(WORD_RE) ?? []);
    WORDS_CACHE.set(ctx, w);
  }
  return w;
}
const WORD_RE = /[\p{L}\p{N}]+/gu;

/**
 * The scanned text lower-cased, computed on first use and kept on the context: most scans never
 * need it (the literal gates it serves fall back to it only when word gates are unsafe).
 */
export function lowerText(ctx: ScanContext): string {
  return (ctx.lower ??= ctx.text.toLowerCase());
}

/**
 * A pattern that finds any of `words` as a plain substring (no flags): `literals(ws).test(s)`
 * equals `ws.some((w) => s.includes(w))`, in one pass over s instead of one per word.
 */
export function literals(words: readonly string[]): RegExp {
  return new RegExp(words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
}

const DIGITS_CACHE = new WeakMap<ScanContext, number>();
/**
 * How many ASCII digits (what \d matches) the text holds, counted once per scan on first use: a
 * pattern, or a rule, that needs more digits than the text has is skipped.
 */
export function digitCount(ctx: ScanContext): number {
  if (ctx.toks) return ctx.toks.digits;
  let d = DIGITS_CACHE.get(ctx);
  if (d === undefined) {
    d = 0;
    const text = ctx.text;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 48 && c <= 57) d++;
    }
    DIGITS_CACHE.set(ctx, d);
  }
  return d;
}

export type Recognizer = (ctx: ScanContext, out: Candidate[]) => void;

/** Run a precompiled global regex over the text; the callback receives the match. */
export function eachMatch(re: RegExp, text: string, fn: (m: RegExpExecArray) => void): void {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) {
      // Step over a whole code point: with the u flag, a lastIndex inside a surrogate pair is
      // moved back to the pair's start, which would loop forever.
      const i = re.lastIndex;
      const c = text.charCodeAt(i);
      re.lastIndex = i + (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1);
      if (re.lastIndex > text.length) break;
      continue;
    }
    fn(m);
  }
}

// Word gates shared by patterns of several recognizers (see eachMatchAtWords; each pattern's
// own gates sit next to it). A gate may accept more words than a pattern needs, never fewer.
/** Words of one or two letters then a digit, or "gir": postcodes, ICD-10 codes, IBANs, DEA numbers. */
export const GATE_LETTER_DIGIT = wordGate((w) => /^(?:[a-z]{1,2}\d|gir)/.test(w));
/** Numbers of one or two digits, maybe ordinal ("7", "21st"): numeric and textual dates. */
export const GATE_DAY_NUMBER = wordGate((w) => /^\d{1,2}(?:st|nd|rd|th)?$/.test(w));
/** Four-digit years 1900-2099, maybe plural ("1990s"). */
export const GATE_YEAR = wordGate((w) => /^(?:19|20)\d{2}s?$/.test(w));
/** Numbers of three or more digits (identifiers). */
export const GATE_3_DIGITS = wordGate((w) => /^\d{3}/.test(w));
/** Words that start with a digit: phone numbers. */
export const GATE_DIGIT = wordGate((w) => w.charCodeAt(0) >= 48 && w.charCodeAt(0) <= 57);
/** Numbers of one to three digits, maybe with "y"/"yo"/"yoa" ("34yo"): ages, IPv4 parts. */
export const GATE_SMALL_NUMBER = wordGate((w) => /^\d{1,3}(?:y|yo|yoa)?$/.test(w));

/**
 * False when no word start of the text passes `gate` (then no match of a pattern whose matches
 * all hold such a word can occur); true when some does, or when that is not known.
 */
export function gatePasses(ctx: ScanContext, gate: number): boolean {
  const toks = ctx.toks;
  return !toks || toks.foldRisk || (toks.gateAny & gate) !== 0;
}

const STICKY = new Map<RegExp, RegExp>();
function stickyTwin(re: RegExp): RegExp {
  let y = STICKY.get(re);
  if (y === undefined) {
    y = new RegExp(re.source, re.flags.replace('g', '') + 'y');
    STICKY.set(re, y);
  }
  return y;
}

/**
 * Same matches, in the same order, as eachMatch(re, ctx.text, fn), for a pattern whose every match
 * starts with an ASCII letter or digit at a word start (after `\b`, or a lookbehind that excludes
 * \w) and whose first letters/digits pass the word gate `gate` (tokens.ts wordGate). The pattern
 * is tried, anchored, only at the words that pass instead of at every position of the text.
 * Word starts are token starts plus the token-internal starts the tokenizer lists ("o'Brien"):
 * Tokens.gateCount. `can`, when given, is false at positions where the pattern cannot match (a
 * test of a few characters, cheaper than a try of the pattern): they are skipped.
 */
export function eachMatchAtWords(
  ctx: ScanContext,
  gate: number,
  re: RegExp,
  fn: (m: RegExpExecArray) => void,
  can?: (text: string, p: number) => boolean,
): void {
  const toks = ctx.toks;
  const text = ctx.text;
  if (!toks || toks.foldRisk) {
    eachMatch(re, text, fn);
    return;
  }
  if ((toks.gateAny & gate) === 0) return;
  const y = stickyTwin(re);
  let from = 0; // end of the last match: a match never starts inside the previous one
  const n = toks.gateCount;
  if ((gate & (gate - 1)) === 0 && n > SPLIT_MIN) {
    // One gate bit (every caller but a few) among many starts: its own list of starts.
    const starts = byGateStarts(toks);
    const bit = 31 - Math.clz32(gate);
    const end = byGateOff[bit + 1]!;
    for (let k = byGateOff[bit]!; k < end; k++) {
      const p = starts[k]!;
      if (p >= from && (can === undefined || can(text, p))) from = tryAt(y, text, p, from, fn);
    }
    return;
  }
  const starts = gateStartPos();
  const bits = gateStartBits();
  for (let k = 0; k < n; k++) {
    if ((bits[k]! & gate) === 0) continue;
    const p = starts[k]!;
    if (p >= from && (can === undefined || can(text, p))) from = tryAt(y, text, p, from, fn);
  }
}

// Below this many gate starts (a short text) a pass over all of them is cheaper than splitting them
// by gate bit.
const SPLIT_MIN = 24;

/**
 * Same as eachMatchAtWords, for a pattern some of whose matches start elsewhere than at a gated
 * word: `extra` lists (in increasing order) positions that cover every such start. The pattern is
 * tried, anchored, at the gated word starts and at those positions, in text order (and only
 * where `can`, when given, allows).
 */
export function eachMatchAtWordsAnd(
  ctx: ScanContext,
  gate: number,
  extra: readonly number[],
  re: RegExp,
  fn: (m: RegExpExecArray) => void,
  can?: (text: string, p: number) => boolean,
): void {
  const toks = ctx.toks;
  const text = ctx.text;
  if (!toks || toks.foldRisk) {
    eachMatch(re, text, fn);
    return;
  }
  if ((toks.gateAny & gate) === 0 && extra.length === 0) return;
  const y = stickyTwin(re);
  let from = 0;
  let x = 0;
  // (gate 0: only the `extra` positions, through the loop below.)
  if (gate !== 0 && (gate & (gate - 1)) === 0 && toks.gateCount > SPLIT_MIN) {
    // One gate bit among many starts: its own list of starts, merged with `extra`.
    const starts = byGateStarts(toks);
    const bit = 31 - Math.clz32(gate);
    const end = byGateOff[bit + 1]!;
    let k = byGateOff[bit]!;
    for (;;) {
      let p: number;
      if (k < end && (x >= extra.length || starts[k]! <= extra[x]!)) {
        p = starts[k++]!;
        if (x < extra.length && extra[x] === p) x++;
      } else if (x < extra.length) p = extra[x++]!;
      else break;
      if (p >= from && (can === undefined || can(text, p))) from = tryAt(y, text, p, from, fn);
    }
    return;
  }
  const starts = gateStartPos();
  const bits = gateStartBits();
  const n = toks.gateCount;
  let k = 0;
  for (;;) {
    while (k < n && (bits[k]! & gate) === 0) k++;
    let p: number;
    if (k < n && (x >= extra.length || starts[k]! <= extra[x]!)) {
      p = starts[k++]!;
      if (x < extra.length && extra[x] === p) x++;
    } else if (x < extra.length) p = extra[x++]!;
    else break;
    if (p >= from && (can === undefined || can(text, p))) from = tryAt(y, text, p, from, fn);
  }
}

function tryAt(y: RegExp, text: string, p: number, from: number, fn: (m: RegExpExecArray) => void): number {
  y.lastIndex = p;
  const m = y.exec(text);
  if (m === null || m[0].length === 0) return from;
  fn(m);
  return p + m[0].length;
}

/** What a JavaScript pattern's \s matches, by char code (whitespace tests without a regex). */
export function isJsSpace(c: number): boolean {
  return (
    (c >= 9 && c <= 13) ||
    c === 32 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** Lower-cased text of up to `n` characters before `pos` (for context cues). */
export function before(text: string, pos: number, n: number): string {
  return text.slice(Math.max(0, pos - n), pos).toLowerCase();
}

/** Report a pattern's whole match as a candidate. */
export function pushMatch(
  out: Candidate[],
  m: RegExpExecArray,
  type: PhiType,
  confidence: number,
  reason: string,
): void {
  out.push({ type, start: m.index, end: m.index + m[0].length, confidence, reason });
}

/** Report the last `length` characters of match `m` (a trailing group) as a candidate. */
export function pushTail(
  out: Candidate[],
  m: RegExpExecArray,
  length: number,
  type: PhiType,
  confidence: number,
  reason: string,
): void {
  const end = m.index + m[0].length;
  out.push({ type, start: end - length, end, confidence, reason });
}

/** Report tokens first..last (inclusive) of the scan as a candidate. */
export function pushTokens(
  out: Candidate[],
  toks: Tokens,
  first: number,
  last: number,
  type: PhiType,
  confidence: number,
  reason: string,
): void {
  out.push({ type, start: toks.start[first]!, end: toks.end[last]!, confidence, reason });
}
