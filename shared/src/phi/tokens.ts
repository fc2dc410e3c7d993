// One word tokenization per scan, shared by every recognizer (names, places, health, the gates).
// Tokens are letter/digit runs with an inner apostrophe ("alzheimer's"); hyphens and slashes split.
// Shape flags are computed here once so recognizers test bits, not regexes.
//
// Speed: each distinct token text is analysed once and kept in a bounded table shared by all scans
// (WORD_TABLE below), so a word seen before costs one hash probe and no allocation: its
// lower-cased form, shape and the recognizers' per-word facts (dictionary flags, cue bits) are
// read from its Word entry.

export const SHAPE_LETTERS = 1; // letters (and apostrophes) only
export const SHAPE_TITLE = 2; // Title case: "Smith", "McDonald", "O'Brien"
export const SHAPE_CAPS = 4; // ALL CAPS, two or more letters
export const SHAPE_LOWER = 8; // starts lower case
export const SHAPE_INITIAL = 16; // single capital letter

/**
 * What is known about one distinct token text, shared by every scan. The recognizers' fields
 * start at -1 (not computed) and are filled by that recognizer on first use of the word; they
 * depend only on the word's text, never on the scan.
 */
export class Word {
  /** Lower-cased text with ’ folded to ' (lookups). */
  readonly lower: string;
  /** `lower` without a possessive 's. */
  readonly stem: string;
  readonly shape: number;
  /** names.ts: dictionary flags, stop-word bit and cue-word bits (see W_* there). */
  names = -1;
  /** names.ts: which single cue word it is, its length and a few text facts (X_* there); set with `names`. */
  names2 = 0;
  /** places.ts: which of its lists hold the word, and whether it is capitalised (P_* there). */
  places = -1;
  /** health.ts: whether the lexicon index or its near-spelling lookup knows the word (H_* there). */
  health = -1;
  /** ages.ts: which of the age and address patterns' cue words it may be (A_* there). */
  ages = -1;
  /** Bits of the word gates (wordGate below) that `lead` passes; -1 until first asked. */
  gates = -1;
  /**
   * Word starts inside the token and their gate bits, as offsets from its start (offset, bits,
   * offset, bits...; tokenize's innerStartsOf on the token alone); null until first needed.
   */
  inner: number[] | null = null;
  /** Bits of the word flags (wordFlag below) whose lists hold `lower`. */
  readonly flags: number;
  /** How many ASCII capitals, small letters and digits `raw` holds (for Tokens.upper and .digits). */
  readonly caps: number;
  readonly smalls: number;
  readonly digits: number;
  constructor(
    /** Exact token text. */
    readonly raw: string,
  ) {
    const l = raw.toLowerCase();
    this.lower = l.includes('’') ? l.replace(/’/g, "'") : l;
    this.stem = stem(this.lower);
    this.shape = shapeOf(raw, l);
    this.flags = WORD_FLAGS.get(this.lower) ?? 0;
    this.caps = countIn(raw, 0, raw.length, 65, 90);
    this.smalls = countIn(raw, 0, raw.length, 97, 122);
    this.digits = countIn(raw, 0, raw.length, 48, 57);
  }
  /** The leading run of ASCII letters and digits, lower-cased ("i" for "I'm", "34" for "34yo"). */
  get lead(): string {
    return leadRun(this.lower, 0);
  }
}

function isAsciiAlnum(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

/** Lower-cased run of ASCII letters and digits of `text` from `at`. */
export function leadRun(text: string, at: number): string {
  let e = at;
  while (e < text.length && isAsciiAlnum(text.charCodeAt(e))) e++;
  return text.slice(at, e).toLowerCase();
}

// ---- word gates ------------------------------------------------------------------------------
// A gate is a test on a word's leading letters/digits (Word.lead) that every match of some
// pattern passes at its first character (candidate.ts eachMatchAtWords): the pattern is then
// tried only at words that pass. Each gate is one bit of Word.gates, computed once per word.
// Gates are registered at module load, before any scan.
const GATES: Array<(lead: string) => boolean> = [];

/** Register a gate; returns its bit. */
export function wordGate(test: (lead: string) => boolean): number {
  if (GATES.length >= 31) throw new Error('too many word gates');
  GATES.push(test);
  // Words analysed before this gate existed must not keep stale bits.
  clearTable();
  return 1 << (GATES.length - 1);
}

/** Gate bits for a lead run (computed for each Word once, and for word-internal starts). */
export function gateBitsOf(lead: string): number {
  let bits = 0;
  for (let k = 0; k < GATES.length; k++) if (GATES[k]!(lead)) bits |= 1 << k;
  return bits;
}

/** The gate bits of a word, computed on first use. */
export function wordGates(w: Word): number {
  if (w.gates < 0) w.gates = gateBitsOf(w.lead);
  return w.gates;
}

// ---- word flags ------------------------------------------------------------------------------
// A flag is a list of whole lower-cased words (Word.lower); Tokens.wordFlags has its bit when one
// of the text's tokens is in the list: "does the word 'mrn' occur?" without building a set of the
// text's words. Flags are registered at module load, before any scan.
const WORD_FLAGS = new Map<string, number>();
let wordFlagCount = 0;

/** Register a flag for a list of lower-cased words; returns its bit. */
export function wordFlag(words: readonly string[]): number {
  if (wordFlagCount >= 31) throw new Error('too many word flags');
  const bit = 1 << wordFlagCount++;
  for (const w of words) WORD_FLAGS.set(w, (WORD_FLAGS.get(w) ?? 0) | bit);
  // Words analysed before this flag existed must not keep stale bits.
  clearTable();
  return bit;
}

/**
 * The tokens of one scan, valid during that scan only: the arrays are shared by all scans. They hold
 * `count` entries, then undefined ones: read entries by index below `count`, never by `.length`
 * or iteration.
 */
export interface Tokens {
  readonly count: number;
  readonly start: readonly number[];
  readonly end: readonly number[];
  /** Lower-cased token text with ’ folded to ' (lookups). */
  readonly lower: string[];
  /** Exact token text. */
  readonly raw: string[];
  readonly shape: readonly number[];
  /** The shared Word entry of each token. */
  readonly word: readonly Word[];
  /**
   * How many gate starts the scan has: where a word-gated pattern may start (candidate.ts
   * eachMatchAtWords), in text order: the starts of tokens that pass some word gate, and the
   * positions inside tokens where a pattern's \b could start a match (an ASCII letter or digit
   * after a character that is neither one nor "_", as in "o'brien" or "renée") whose
   * letters/digits pass one. Positions and gate bits are in the shared buffers of gateStarts
   * (below), valid during this scan only.
   */
  readonly gateCount: number;
  /**
   * The text holds "ſ" or the Kelvin sign, which case-insensitive Unicode patterns fold to ASCII
   * letters: word gates are then not safe and patterns scan the whole text.
   */
  readonly foldRisk: boolean;
  /** OR of the word flags (wordFlag) of all tokens. */
  readonly wordFlags: number;
  /** OR of the gate starts' bits: a gate no bit of which is here passes at no word of the text. */
  readonly gateAny: number;
  /** gateStartsByBit has split this scan's gate starts by gate bit. */
  byGate: boolean;
  /** How many ASCII digits (what \d matches) the text holds. */
  readonly digits: number;
  /**
   * The text is mostly upper case: among ASCII letters of its first UPPER_SPAN characters, at
   * least 20 capitals and more than three times as many capitals as small letters.
   */
  readonly upper: boolean;
}

/** How much of the text decides Tokens.upper. */
export const UPPER_SPAN = 4000;

/** How many characters of text[from, to) have a code in [lo, hi]. */
function countIn(text: string, from: number, to: number, lo: number, hi: number): number {
  let n = 0;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c >= lo && c <= hi) n++;
  }
  return n;
}

const TOKEN_RE = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:['’][\p{L}]+)?/gu;
// The same token, anchored: used when an ASCII token runs into a non-ASCII character or an apostrophe.
const TOKEN_AT_RE = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:['’][\p{L}]+)?/uy;
// An inner capital needs lower-case letters (or an apostrophe) before it: "McDonald", "O'Brien",
// not "PAsat", "SVo2".
const TITLE_RE = /^[\p{Lu}](?:[\p{Ll}\p{M}'’]+[\p{Lu}][\p{Ll}\p{M}]+|[\p{Ll}\p{M}'’]*)(?:['’][sS])?$/u;
const CAPS_RE = /^[\p{Lu}\p{M}'’]+$/u;
const LETTERS_RE = /^[\p{L}\p{M}'’]+$/u;

function isAsciiLetters(r: string): boolean {
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i) | 32;
    if (c < 97 || c > 122) return false;
  }
  return true;
}

/** Shape of a token of ASCII letters only (same rules as the Unicode path). */
function asciiShape(r: string): number {
  const n = r.length;
  let upper = 0;
  for (let i = 0; i < n; i++) {
    const c = r.charCodeAt(i);
    if (c >= 65 && c <= 90) upper++;
  }
  const first = r.charCodeAt(0);
  const firstUpper = first >= 65 && first <= 90;
  if (upper === 0) return SHAPE_LETTERS | SHAPE_LOWER;
  if (n === 1) return SHAPE_LETTERS | SHAPE_INITIAL;
  if (upper === n) return SHAPE_LETTERS | SHAPE_CAPS;
  if (!firstUpper) return SHAPE_LETTERS | SHAPE_LOWER;
  // Title case, allowing one inner capital after lower-case letters ("McDonald", not "PAsat").
  if (upper === 2) {
    const c1 = r.charCodeAt(1);
    if (c1 >= 65 && c1 <= 90) return SHAPE_LETTERS;
  }
  return upper <= 2 ? SHAPE_LETTERS | SHAPE_TITLE : SHAPE_LETTERS;
}

/** Shape flags of a token `r` whose plain toLowerCase() is `l`. */
function shapeOf(r: string, l: string): number {
  const c0 = r.charCodeAt(0);
  // ASCII fast path; other scripts go through the Unicode regexes.
  if (c0 >= 48 && c0 <= 57) return 0;
  if (isAsciiLetters(r)) return asciiShape(r);
  if (!LETTERS_RE.test(r)) return 0;
  let s = SHAPE_LETTERS;
  if (l === r) s |= SHAPE_LOWER;
  else if (r.length === 1) s |= SHAPE_INITIAL;
  else if (CAPS_RE.test(r)) s |= SHAPE_CAPS;
  else if (TITLE_RE.test(r)) s |= SHAPE_TITLE;
  else if (l[0] === r[0]) s |= SHAPE_LOWER;
  return s;
}

// ---- the shared word table ------------------------------------------------------------------
// Open addressing on a hash of the token's text, so a known word is found straight from the text
// without slicing it out. Bounded: when full it is emptied and refilled.
// Speed: each slot has two numbers in tableRec (first 0: empty slot). A word of up to KEY_CHARS
// ASCII letters and digits (most tokens) has its exact key there (below), so it is found by
// comparing two numbers, without reading its text again or loading another Word; any other word
// has its hash and -1, and a probe that meets its hash compares the text.
const TABLE_BITS_MAX = 17; // 131,072 slots, at most half used
let tableBits = 12;
let table: (Word | undefined)[] = new Array<Word | undefined>(1 << tableBits);
let tableRec = new Int32Array(2 << tableBits);
let tableUsed = 0;

function clearTable(): void {
  table = new Array<Word | undefined>(1 << tableBits);
  tableRec = new Int32Array(2 << tableBits);
  tableUsed = 0;
}

// The key of a short ASCII word: its letters and digits as 6-bit codes (ALNUM_CODE: 1-62, never
// 0), in order in the low bits of two 30-bit numbers (key2, key1: the last five in key1). For a word
// of up to KEY_CHARS characters it is the text exactly: no code is 0, so it also tells the length.
// key1 is never 0 and key2 is never negative.
const KEY_CHARS = 10;
const KEY_MASK = 0x3fffffff;
/** 6-bit code of an ASCII letter or digit by char code; 0 for any other character. */
const ALNUM_CODE = new Uint8Array(128);
for (let c = 48; c <= 57; c++) ALNUM_CODE[c] = c - 47; // 1-10
for (let c = 65; c <= 90; c++) ALNUM_CODE[c] = c - 54; // 11-36
for (let c = 97; c <= 122; c++) ALNUM_CODE[c] = c - 60; // 37-62

/** The table hash of a short ASCII word, from its key. */
function keyHash(n: number, k1: number, k2: number): number {
  let h = Math.imul(k1 ^ (n << 26), 0x9e3779b1) ^ Math.imul(k2, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae3d);
  return (h ^ (h >>> 13)) >>> 0;
}

function hashRange(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let k = start; k < end; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
  return h >>> 0;
}

// Set by keyOf: the length and key of the text it was given (keyLen -1: no key, the text is compared).
let keyLen = -1;
let key1 = 0;
let key2 = 0;

/** Table hash of text.slice(start, end), setting keyLen, key1 and key2. */
function keyOf(text: string, start: number, end: number): number {
  keyLen = -1;
  if (end - start <= KEY_CHARS) {
    let k1 = 0;
    let k2 = 0;
    let k = start;
    for (; k < end; k++) {
      const c = text.charCodeAt(k);
      const code = c < 128 ? ALNUM_CODE[c]! : 0;
      if (code === 0) break;
      k2 = (k2 << 6) | (k1 >>> 24);
      k1 = ((k1 << 6) | code) & KEY_MASK;
    }
    if (k === end) {
      keyLen = end - start;
      key1 = k1;
      key2 = k2;
      return keyHash(keyLen, k1, k2);
    }
  }
  return hashRange(text, start, end);
}

/** A hash as stored in tableRec: never 0, which marks an empty slot. */
function slotHash(h: number): number {
  return h | 0 || 1;
}

function sameText(raw: string, text: string, start: number, end: number): boolean {
  if (raw.length !== end - start) return false;
  for (let k = 0; k < raw.length; k++) if (raw.charCodeAt(k) !== text.charCodeAt(start + k)) return false;
  return true;
}

/** The Word of a short ASCII word already in the table, by its table hash and key (keyOf). */
function findKeyed(h: number, k1: number, k2: number): Word | undefined {
  const rec = tableRec;
  const mask = table.length - 1;
  let slot = h & mask;
  for (;;) {
    const t = rec[slot << 1]!;
    if (t === 0) return undefined;
    if (t === k1 && rec[(slot << 1) + 1] === k2) return table[slot];
    slot = (slot + 1) & mask;
  }
}

/**
 * The shared Word for text.slice(start, end), created on first sight: `h` is its table hash, n its
 * length when it has a key (k1, k2), else -1, as keyOf gives them.
 */
function wordAt(
  text: string,
  start: number,
  end: number,
  h: number,
  n: number,
  k1: number,
  k2: number,
): Word {
  if (n >= 0) {
    const found = findKeyed(h, k1, k2);
    if (found) return found;
  } else {
    const rec = tableRec;
    const mask = table.length - 1;
    let slot = h & mask;
    const sh = slotHash(h);
    for (;;) {
      const t = rec[slot << 1]!;
      if (t === 0) break;
      if (t === sh && rec[(slot << 1) + 1] === -1) {
        const w = table[slot]!;
        if (sameText(w.raw, text, start, end)) return w;
      }
      slot = (slot + 1) & mask;
    }
  }
  const w = new Word(ownCopy(text.slice(start, end)));
  if ((tableUsed + 1) * 2 > table.length) {
    // Grow while under the bound; past it, start afresh (the table only saves work).
    const old = table;
    if (tableBits < TABLE_BITS_MAX) tableBits++;
    table = new Array<Word | undefined>(1 << tableBits);
    tableRec = new Int32Array(2 << tableBits);
    tableUsed = 0;
    if (table.length > old.length) for (const o of old) if (o !== undefined) insert(o);
  }
  insert(w);
  return w;
}

/**
 * A copy of a slice that does not keep the scanned text alive: V8 makes slices of 13 or more
 * characters views into their parent string, and the table outlives the scan.
 */
function ownCopy(s: string): string {
  return s.length < 13 ? s : (s + ' ').slice(0, -1);
}

function insert(w: Word): void {
  const mask = table.length - 1;
  const h = keyOf(w.raw, 0, w.raw.length);
  let slot = h & mask;
  while (tableRec[slot << 1] !== 0) slot = (slot + 1) & mask;
  table[slot] = w;
  tableRec[slot << 1] = keyLen < 0 ? slotHash(h) : key1;
  tableRec[(slot << 1) + 1] = keyLen < 0 ? -1 : key2;
  tableUsed++;
}

// ---- gate starts ----------------------------------------------------------------------------
// Speed: the gate starts of a scan live in buffers shared by all scans (a scan is synchronous and
// a Tokens object is dropped when its scan ends), so a scan allocates nothing for them.
let gsPos = new Int32Array(256);
let gsBits = new Int32Array(256);
let gsCount = 0;
let gsAny = 0; // OR of the gate starts' bits
// The same starts split by gate bit (counting sort, built on first use in a scan): the starts of
// bit b are byGatePos[byGateOff[b] .. byGateOff[b + 1]).
let byGatePos = new Int32Array(512);
export const byGateOff = new Int32Array(33);

function addGateStart(p: number, bits: number): void {
  if (gsCount === gsPos.length) {
    const pos = new Int32Array(gsCount * 2);
    pos.set(gsPos);
    gsPos = pos;
    const b = new Int32Array(gsCount * 2);
    b.set(gsBits);
    gsBits = b;
  }
  gsPos[gsCount] = p;
  gsBits[gsCount++] = bits;
  gsAny |= bits;
}

/** Fill byGatePos/byGateOff from the current gate starts. */
function splitByGate(): void {
  const off = byGateOff;
  off.fill(0);
  let total = 0;
  for (let k = 0; k < gsCount; k++) {
    let g = gsBits[k]!;
    while (g !== 0) {
      const b = 31 - Math.clz32(g);
      off[b + 1]!++; // counts of bit b go to off[b + 1]
      g ^= 1 << b;
      total++;
    }
  }
  if (byGatePos.length < total) byGatePos = new Int32Array(total * 2);
  for (let b = 0; b < 32; b++) off[b + 1]! += off[b]!;
  // off[b] is now the first index of bit b; fill, advancing a cursor per bit (kept in a copy).
  const cur = CURSOR;
  cur.set(off);
  for (let k = 0; k < gsCount; k++) {
    let g = gsBits[k]!;
    const p = gsPos[k]!;
    while (g !== 0) {
      const b = 31 - Math.clz32(g);
      byGatePos[cur[b]!++] = p;
      g ^= 1 << b;
    }
  }
}
const CURSOR = new Int32Array(33);

/** Positions of the gate starts of the scan being run (gateCount of them): read during it only. */
export function gateStartPos(): Int32Array {
  return gsPos;
}

/** Gate bits of the gate starts of the scan being run, in step with gateStartPos(). */
export function gateStartBits(): Int32Array {
  return gsBits;
}

/**
 * The gate starts of `toks` (the scan being run) split by gate bit: those of bit b are
 * byGateStarts(toks)[byGateOff[b] .. byGateOff[b + 1]), in text order.
 */
export function byGateStarts(toks: Tokens): Int32Array {
  if (!toks.byGate) {
    splitByGate();
    toks.byGate = true;
  }
  return byGatePos;
}

// ---- tokenize -------------------------------------------------------------------------------
// The arrays of the scan being tokenized (module state, so adding a token is a plain function).
// Speed: they are shared by all scans (a scan is synchronous, and no Tokens outlives its scan), so
// a scan allocates no arrays for its tokens. Entries past the scan's count are undefined, as they
// would be in arrays of exactly `count` entries: a read past the last token finds nothing; only
// `.length` differs (use Tokens.count).
const tStart: (number | undefined)[] = [];
const tEnd: (number | undefined)[] = [];
const tLower: (string | undefined)[] = [];
const tRaw: (string | undefined)[] = [];
const tShape: (number | undefined)[] = [];
const tWord: (Word | undefined)[] = [];
let tCount = 0;
// Entries [tCount, tHigh) hold an earlier scan's tokens until tokenize clears them.
let tHigh = 0;
// Past this many entries the arrays are cut back after a shorter text (about 400 KB of text).
const TOKENS_KEPT = 1 << 16;
let tFlags = 0;

// Phase 1 of tokenize's output for each token (read by phases 2 and 3): its table hash, key
// length (-1: none) and key (keyOf), and 1 when its word starts inside it must be listed.
const P_STRIDE = 5;
let pBuf = new Int32Array(256 * P_STRIDE);

function addToken(s: number, e: number, h: number, kn: number, k1: number, k2: number, inner: number): void {
  const n = tCount++;
  tStart[n] = s;
  tEnd[n] = e;
  let r = n * P_STRIDE;
  if (r === pBuf.length) {
    const b = new Int32Array(r * 2);
    b.set(pBuf);
    pBuf = b;
  }
  const p = pBuf;
  p[r++] = h;
  p[r++] = kn;
  p[r++] = k1;
  p[r++] = k2;
  p[r] = inner;
}

// Speed: tokenize works in three passes over the tokens: find them, find their Words in the table,
// read the Words' facts. The table and the Words are spread over memory: with small loop bodies the
// processor has many of those reads under way at once, not one or two.
export function tokenize(text: string): Tokens {
  tCount = 0;
  tFlags = 0;
  gsCount = 0;
  gsAny = 0;
  let nonAscii = false;
  const len = text.length;
  let i = 0;
  // 1. The tokens and their keys.
  while (i < len) {
    const c = text.charCodeAt(i);
    if (c < 128) {
      const code = ALNUM_CODE[c]!;
      if (code === 0) {
        i++;
        continue;
      }
      // An ASCII token: scan its run, building its key as we go (see keyOf).
      let k1 = code;
      let k2 = 0;
      let j = i + 1;
      let d = 0;
      while (j < len) {
        d = text.charCodeAt(j);
        const dc = d < 128 ? ALNUM_CODE[d]! : 0;
        if (dc === 0) break;
        k2 = (k2 << 6) | (k1 >>> 24);
        k1 = ((k1 << 6) | dc) & KEY_MASK;
        j++;
      }
      const runEnd = j;
      if (j < len && (d >= 128 || d === 39)) {
        // A non-ASCII letter or mark, or an apostrophe, may continue the token: the regex decides.
        // (Past an apostrophe the regex may take non-ASCII letters the loop below never sees.)
        nonAscii = true;
        TOKEN_AT_RE.lastIndex = i;
        const m = TOKEN_AT_RE.exec(text)!;
        j = i + m[0].length;
        const h = keyOf(text, i, j);
        addToken(i, j, h, keyLen, key1, key2, j > runEnd ? 1 : 0);
      } else if (j - i <= KEY_CHARS) addToken(i, j, keyHash(j - i, k1, k2), j - i, k1, k2, 0);
      else addToken(i, j, hashRange(text, i, j), -1, 0, 0, 0);
      i = j;
      continue;
    }
    // Other scripts: the Unicode regex finds the next token from here.
    nonAscii = true;
    TOKEN_RE.lastIndex = i;
    const m = TOKEN_RE.exec(text);
    if (m === null) break;
    const e = m.index + m[0].length;
    const h = keyOf(text, m.index, e);
    addToken(m.index, e, h, keyLen, key1, key2, 1);
    i = e;
  }
  const n = tCount;
  const p = pBuf;
  // 2. Their Words: a short word's probe inline, others (and first sights) through wordAt.
  for (let k = 0; k < n; k++) {
    const r = k * P_STRIDE;
    const kn = p[r + 1]!;
    const w = kn >= 0 ? findKeyed(p[r]!, p[r + 2]!, p[r + 3]!) : undefined;
    tWord[k] = w ?? wordAt(text, tStart[k]!, tEnd[k]!, p[r]!, kn, p[r + 2]!, p[r + 3]!);
  }
  // 3. Their facts. ASCII letters and digits are counted token by token from the Words (no
  // character outside a token is one): digits in the whole text, capitals and small letters in its
  // first UPPER_SPAN characters.
  let digits = 0;
  let caps = 0;
  let smalls = 0;
  let spanCaps = -1; // caps and smalls before UPPER_SPAN, once a token starts past it
  let spanSmalls = 0;
  let lastEnd = 0;
  for (let k = 0; k < n; k++) {
    const w = tWord[k]!;
    const s = tStart[k]!;
    const e = tEnd[k]!;
    if (spanCaps < 0 && s >= UPPER_SPAN) {
      spanCaps = caps - countIn(text, UPPER_SPAN, lastEnd, 65, 90);
      spanSmalls = smalls - countIn(text, UPPER_SPAN, lastEnd, 97, 122);
    }
    tFlags |= w.flags;
    tRaw[k] = w.raw;
    tLower[k] = w.lower;
    tShape[k] = w.shape;
    const g = w.gates < 0 ? wordGates(w) : w.gates;
    if (g !== 0) addGateStart(s, g);
    if (p[k * P_STRIDE + 4] !== 0) innerStartsOfWord(w, text, s, e);
    digits += w.digits;
    caps += w.caps;
    smalls += w.smalls;
    lastEnd = e;
  }
  if (spanCaps < 0) {
    spanCaps = caps - countIn(text, UPPER_SPAN, lastEnd, 65, 90);
    spanSmalls = smalls - countIn(text, UPPER_SPAN, lastEnd, 97, 122);
  }
  if (tStart.length > TOKENS_KEPT && tCount <= TOKENS_KEPT) {
    // After a very long text, a shorter one gives the memory back: the arrays end at its count.
    tStart.length = tCount;
    tEnd.length = tCount;
    tLower.length = tCount;
    tRaw.length = tCount;
    tShape.length = tCount;
    tWord.length = tCount;
    pBuf = new Int32Array(256 * P_STRIDE);
  } else {
    // Clear what an earlier, longer scan left past this scan's tokens.
    for (let k = tCount; k < tHigh; k++) {
      tStart[k] = undefined;
      tEnd[k] = undefined;
      tLower[k] = undefined;
      tRaw[k] = undefined;
      tShape[k] = undefined;
      tWord[k] = undefined;
    }
  }
  tHigh = tCount;
  // (Entries past `count` are undefined: typed as the arrays of `count` entries they stand for.)
  return {
    count: tCount,
    start: tStart as number[],
    end: tEnd as number[],
    lower: tLower as string[],
    raw: tRaw as string[],
    shape: tShape as number[],
    word: tWord as Word[],
    gateCount: gsCount,
    foldRisk: nonAscii && FOLD_RISK_RE.test(text),
    wordFlags: tFlags,
    gateAny: gsAny,
    byGate: false,
    digits,
    upper: spanCaps >= 20 && spanCaps > spanSmalls * 3,
  };
}

const FOLD_RISK_RE = /[\u017f\u212a]/;

/**
 * innerStartsOf(text, s + 1, e) for the token text.slice(s, e) of Word `w`: from the word's
 * cached list unless an ASCII letter or digit follows the token (a gate then reads past its end).
 */
function innerStartsOfWord(w: Word, text: string, s: number, e: number): void {
  if (e < text.length && isAsciiAlnum(text.charCodeAt(e))) {
    innerStartsOf(text, s + 1, e, null);
    return;
  }
  let inner = w.inner;
  if (inner === null) {
    inner = [];
    innerStartsOf(w.raw, 1, w.raw.length, inner);
    w.inner = inner;
  }
  for (let k = 0; k < inner.length; k += 2) addGateStart(s + inner[k]!, inner[k + 1]!);
}

/**
 * The positions in [from, to) where an ASCII letter or digit follows a character that is neither
 * one nor "_" (word starts inside a token) and whose letters/digits pass a word gate: into `into`
 * (position, bits, ...) when given, else added to the scan's gate starts.
 */
function innerStartsOf(text: string, from: number, to: number, into: number[] | null): void {
  for (let p = from; p < to; p++) {
    if (!isAsciiAlnum(text.charCodeAt(p))) continue;
    const b = text.charCodeAt(p - 1);
    if (isAsciiAlnum(b) || b === 95) continue;
    const g = gateBitsOf(leadRun(text, p));
    if (g === 0) continue;
    if (into) into.push(p, g);
    else addGateStart(p, g);
  }
}

/** Strip a possessive ('s / ’s) from a lower-cased token. */
export function stem(lower: string): string {
  return lower.endsWith("'s") ? lower.slice(0, -2) : lower;
}
