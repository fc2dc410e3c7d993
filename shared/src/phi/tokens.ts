// One word tokenization per scan, shared by the dictionary recognizers (names, health lexicons).
// Tokens are letter/digit runs with an inner apostrophe ("alzheimer's"); hyphens and slashes split.

export interface Tokens {
  readonly count: number;
  readonly start: Int32Array;
  readonly end: Int32Array;
  /** Lower-cased token text with ’ folded to ' and a trailing 's removed for lookups. */
  readonly lower: string[];
  /** Exact token text. */
  readonly raw: string[];
}

const TOKEN_RE = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:['’][\p{L}]+)?/gu;

export function tokenize(text: string): Tokens {
  const starts: number[] = [];
  const ends: number[] = [];
  const lower: string[] = [];
  const raw: string[] = [];
  TOKEN_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN_RE.exec(text)) !== null) {
    starts.push(m.index);
    ends.push(m.index + m[0].length);
    raw.push(m[0]);
    lower.push(m[0].toLowerCase().replace(/’/g, "'"));
  }
  return { count: starts.length, start: Int32Array.from(starts), end: Int32Array.from(ends), lower, raw };
}

/** Strip a possessive ('s / ’s) from a lower-cased token. */
export function stem(lower: string): string {
  return lower.endsWith("'s") ? lower.slice(0, -2) : lower;
}
