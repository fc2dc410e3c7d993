// Front-coded word lists (the generated lists in names.ts): sorted words, each written as a digit,
// how many leading characters it shares with the previous word (at most 9), then the rest:
// "0aaron2ons" is ["aaron", "aarons"]. Every RESTART_EVERY-th word (and any word sharing nothing)
// is written whole, with digit 0, so a lookup can binary-search the string itself: a "0" always
// starts a whole word, and the words hold no digits. Nothing is decoded or indexed up front, so a
// fresh process (Apps Script runs every scan in one) pays only for the words it looks up.

/** A whole word (digit 0) at least every this many entries. */
export const RESTART_EVERY = 16;

/** The front-coded form of a sorted list of distinct words without digits. */
export function encodeFrontCoded(sorted: readonly string[]): string {
  let out = '';
  let prev = '';
  sorted.forEach((w, i) => {
    let p = 0;
    if (i % RESTART_EVERY !== 0) while (p < 9 && p < w.length && p < prev.length && w[p] === prev[p]) p++;
    out += String(p) + w.slice(p);
    prev = w;
  });
  return out;
}

/** All words of a front-coded list. */
export function decodeFrontCoded(s: string, into: Set<string> = new Set()): Set<string> {
  let prev = '';
  let i = 0;
  while (i < s.length) {
    const j = entryEnd(s, i);
    const w = prev.slice(0, s.charCodeAt(i) - 48) + s.slice(i + 1, j);
    into.add(w);
    prev = w;
    i = j;
  }
  return into;
}

/** Where the entry starting at `i` (its digit) ends: the next digit, or the end. */
function entryEnd(s: string, i: number): number {
  let j = i + 1;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c >= 48 && c <= 57) break;
    j++;
  }
  return j;
}

/** Compares the whole word written at `at` (digit 0) with `word`: <0, 0 or >0. */
function compareWhole(s: string, at: number, word: string): number {
  for (let i = at + 1, k = 0; ; i++, k++) {
    const c = i < s.length ? s.charCodeAt(i) : 48;
    const ended = c >= 48 && c <= 57;
    if (k === word.length) return ended ? 0 : 1;
    if (ended) return -1;
    const d = c - word.charCodeAt(k);
    if (d !== 0) return d;
  }
}

/** True when s holds a digit or a character below them (space, apostrophe, hyphen, dot...). */
function hasDigitOrBelow(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) <= 57) return true;
  return false;
}

/**
 * Offset of the last whole word that is <= `word` (0 when none is): binary search over character
 * offsets, each probe taking the first whole word at or after the middle (String.indexOf).
 * Speed: in a fresh process this code runs in V8's interpreter, where a character loop costs far
 * more than a native call, so a probe compares `word` with as many characters of the list (slice
 * and <): the digit that ends a shorter whole word sorts below every letter, so the native order
 * is the words' order unless `word` holds a digit or a character below them; then compareWhole
 * does it.
 */
function restartBefore(s: string, word: string): number {
  const native = !hasDigitOrBelow(word);
  const n = word.length;
  let lo = 0;
  let hi = s.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const r = s.indexOf('0', mid);
    if (r < 0 || r >= hi) {
      hi = mid;
      continue;
    }
    let c: number;
    if (native) {
      const head = s.slice(r + 1, r + 1 + n);
      if (head === word) {
        const next = r + 1 + n < s.length ? s.charCodeAt(r + 1 + n) : 48;
        c = next >= 48 && next <= 57 ? 0 : 1;
      } else c = head < word ? -1 : 1;
    } else c = compareWhole(s, r, word);
    if (c === 0) return r;
    if (c < 0) lo = r;
    else hi = r;
  }
  return lo;
}

// Result of seek(): the offset of the first entry >= the word sought, and how many leading
// characters that entry shares with the word (module scratch, no allocation).
let seekAt = 0;
let seekShared = 0;

/**
 * Finds the first entry >= `word` (sets seekAt, seekShared); true when it equals `word`. Walks from
 * the whole word before it without building strings: `shared` is how many leading characters the
 * previous entry shares with `word`. An entry sharing more than that with the previous one is still
 * below `word`; one sharing at most that is compared from its first written character.
 */
function seek(s: string, word: string): boolean {
  let i = restartBefore(s, word);
  let shared = 0;
  while (i < s.length) {
    const p = s.charCodeAt(i) - 48;
    if (p > shared) {
      i = entryEnd(s, i);
      continue;
    }
    let j = i + 1;
    let k = p;
    for (;;) {
      const c = j < s.length ? s.charCodeAt(j) : 48;
      if (c >= 48 && c <= 57) {
        if (k === word.length) {
          seekAt = i;
          seekShared = k;
          return true;
        }
        break; // a prefix of `word`: below it
      }
      if (k === word.length || c > word.charCodeAt(k)) {
        seekAt = i;
        seekShared = k;
        return false;
      }
      if (c < word.charCodeAt(k)) {
        j = entryEnd(s, j);
        break;
      }
      j++;
      k++;
    }
    shared = k;
    i = j;
  }
  seekAt = s.length;
  seekShared = 0;
  return false;
}

/** True when the front-coded list holds `word`. */
export function frontCodedHas(s: string, word: string): boolean {
  return seek(s, word);
}

function isAsciiLetter(c: number): boolean {
  return (c | 32) >= 97 && (c | 32) <= 122;
}

/**
 * The words of the list that start with `prefix` and do not go on with an ASCII letter, in list
 * order: the entries whose first word may be `prefix`. Sorted, they sit in two stretches: those
 * that end there or go on with a character below "a", and those that go on past "z"; three more
 * searches bound them (walking every entry that starts with a short prefix costs more), and only
 * those stretches are decoded.
 */
export function frontCodedWordsAfter(s: string, prefix: string): string[] {
  const out: string[] = [];
  seek(s, prefix);
  const from = seekAt;
  if (from >= s.length || seekShared < prefix.length) return out;
  seek(s, `${prefix}a`);
  const a = seekAt;
  seek(s, `${prefix}{`);
  const b = seekAt;
  seek(s, `${prefix}\uffff`);
  const e = seekAt;
  if (a > from) decodeInto(s, from, a, prefix, out);
  if (e > b) decodeInto(s, b, e, prefix, out);
  return out;
}

/** Pushes the entries in [from, to) that start with `prefix` and do not go on with an ASCII letter. */
function decodeInto(s: string, from: number, to: number, prefix: string, out: string[]): void {
  const L = prefix.length;
  let prev = '';
  for (let i = s.lastIndexOf('0', from); i < to;) {
    const j = entryEnd(s, i);
    const w = prev.slice(0, s.charCodeAt(i) - 48) + s.slice(i + 1, j);
    if (i >= from && w.startsWith(prefix) && !(w.length > L && isAsciiLetter(w.charCodeAt(L)))) out.push(w);
    prev = w;
    i = j;
  }
}
