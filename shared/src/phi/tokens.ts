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
  readonly start: Int32Array;
  readonly end: Int32Array;
  /** Lower-cased token text with ’ folded to ' (lookups). */
  readonly lower: string[];
  /** Exact token text. */
  readonly raw: string[];
  readonly shape: Uint8Array;
}

const TOKEN_RE = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:['’][\p{L}]+)?/gu;
const TITLE_RE = /^[\p{Lu}][\p{Ll}\p{M}'’]*(?:[\p{Lu}][\p{Ll}\p{M}]+)?(?:['’][sS])?$/u;
const CAPS_RE = /^[\p{Lu}\p{M}'’]+$/u;
const LETTERS_RE = /^[\p{L}\p{M}'’]+$/u;

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
    start: Int32Array.from(starts),
    end: Int32Array.from(ends),
    lower,
    raw,
    shape: Uint8Array.from(shapes),
  };
}

/** Strip a possessive ('s / ’s) from a lower-cased token. */
export function stem(lower: string): string {
  return lower.endsWith("'s") ? lower.slice(0, -2) : lower;
}
