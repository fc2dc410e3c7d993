// Lookups in the front-coded lists (decode.ts) without decoding them: each word asked about is
// searched in the lists once and its answer kept, so a fresh process (Apps Script, a Smart Alerts
// runtime) pays for the few words of its text instead of decoding ~75,000 words into a Map.
import { frontCodedHas, frontCodedWordsAfter } from './decode.ts';

// Answers kept per lookup table; past this the memo starts over (words are also cached on the
// shared Word entries of tokens.ts, so this mostly serves repeated asks within the same texts).
const MEMO_MAX = 1 << 16;

// The lists hold no digits (lookup.test.ts checks it): a word with one, common in clinical text
// ("14", "f32"), is in none of them, and is not searched.
function hasDigit(word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    if (c >= 48 && c <= 57) return true;
  }
  return false;
}

/** Flags of the lists that hold a word: like a Map<string, number> built from every list. */
export class ListFlags {
  private readonly memo = new Map<string, number>();
  constructor(private readonly lists: ReadonlyArray<readonly [list: string, flag: number]>) {}
  /** The OR of the flags of the lists holding `word`; undefined when none holds it. */
  get(word: string): number | undefined {
    let f = this.memo.get(word);
    if (f === undefined) {
      f = 0;
      if (!hasDigit(word)) for (const [list, flag] of this.lists) if (frontCodedHas(list, word)) f |= flag;
      if (this.memo.size >= MEMO_MAX) this.memo.clear();
      this.memo.set(word, f);
    }
    return f === 0 ? undefined : f;
  }
  has(word: string): boolean {
    return this.get(word) !== undefined;
  }
}

/**
 * The entries of a list by first word, split into words by `split`, longest first (list order
 * among equal lengths): like a Map<string, string[][]> built from every entry. An entry's first
 * word must be a prefix of it (dictionaries.test.ts checks this for the lists in use).
 */
export class ByFirstWord {
  private readonly memo = new Map<string, string[][] | null>();
  constructor(
    private readonly list: string,
    private readonly split: (entry: string) => string[] | null,
  ) {}
  get(word: string): string[][] | undefined {
    let r = this.memo.get(word);
    if (r === undefined) {
      r = null;
      for (const entry of hasDigit(word) ? [] : frontCodedWordsAfter(this.list, word)) {
        const words = this.split(entry);
        if (words && words[0] === word) (r ??= []).push(words);
      }
      r?.sort((a, b) => b.length - a.length);
      if (this.memo.size >= MEMO_MAX) this.memo.clear();
      this.memo.set(word, r);
    }
    return r ?? undefined;
  }
  has(word: string): boolean {
    return this.get(word) !== undefined;
  }
}
