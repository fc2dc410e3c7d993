// One word tokenization per scan, shared by the dictionary recognizers (names, places, health).
// Tokens are letter/digit runs with an inner apostrophe ("alzheimer's"); hyphens and slashes split.
// Shape flags are computed here once so recognizers test bits, not regexes.

export const SHAPE_LETTERS = 1; // letters (and apostrophes) only
export const SHAPE_TITLE = 2; // Title case: "Smith", "McDonald", "O'Brien"
export const SHAPE_CAPS = 4; // ALL CAPS, two or more letters
export const SHAPE_LOWER = 8; // starts lower case
export const SHAPE_INITIAL = 16; // single capital letter

export interface Tokens {
  readonly count: number;
  readonly start: readonly number[];
  readonly end: readonly number[];
  /** Lower-cased token text with ’ folded to ' (lookups). */
  readonly lower: string[];
  /** Exact token text. */
  readonly raw: string[];
  readonly shape: readonly number[];
}

const TOKEN_RE = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:['’][\p{L}]+)?/gu;
const TITLE_RE = /^[\p{Lu}][\p{Ll}\p{M}'’]*(?:[\p{Lu}][\p{Ll}\p{M}]+)?(?:['’][sS])?$/u;
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
  // Title case, allowing one inner capital ("McDonald").
  return upper <= 2 ? SHAPE_LETTERS | SHAPE_TITLE : SHAPE_LETTERS;
}

export function tokenize(text: string): Tokens {
  const starts: number[] = [];
  const ends: number[] = [];
  const lower: string[] = [];
  const raw: string[] = [];
  const shapes: number[] = [];
  TOKEN_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN_RE.exec(text)) !== null) {
    const r = m[0];
    starts.push(m.index);
    ends.push(m.index + r.length);
    raw.push(r);
    const l = r.toLowerCase();
    lower.push(l.includes('’') ? l.replace(/’/g, "'") : l);
    let s = 0;
    const c0 = r.charCodeAt(0);
    // ASCII fast path; other scripts go through the Unicode regexes.
    if (c0 >= 48 && c0 <= 57) s = 0;
    else if (isAsciiLetters(r)) s = asciiShape(r);
    else if (LETTERS_RE.test(r)) {
      s = SHAPE_LETTERS;
      if (l === r) s |= SHAPE_LOWER;
      else if (r.length === 1) s |= SHAPE_INITIAL;
      else if (CAPS_RE.test(r)) s |= SHAPE_CAPS;
      else if (TITLE_RE.test(r)) s |= SHAPE_TITLE;
      else if (l[0] === r[0]) s |= SHAPE_LOWER;
    }
    shapes.push(s);
  }
  return {
    count: starts.length,
    // Plain arrays: for the short texts of mail, typed-array allocation costs more than it saves.
    start: starts,
    end: ends,
    lower,
    raw,
    shape: shapes,
  };
}

/** Strip a possessive ('s / ’s) from a lower-cased token. */
export function stem(lower: string): string {
  return lower.endsWith("'s") ? lower.slice(0, -2) : lower;
}
