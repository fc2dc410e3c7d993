import { describe, expect, it } from 'vitest';
import { decodeFrontCoded, encodeFrontCoded, frontCodedHas, frontCodedWordsAfter } from './decode.ts';
import { ByFirstWord, ListFlags } from './lookup.ts';
import * as lists from './names.ts';

// Words near `w` in sort order, to probe the searches between entries.
const near = (w: string): string[] => [
  w.slice(0, -1),
  `${w}a`,
  `${w} `,
  `${w}5`,
  w.slice(0, 2),
  `${w.slice(0, -1)}ÿ`,
  `a${w}`,
];

describe('front-coded lists', () => {
  it('are stored sorted, in the encoding encodeFrontCoded writes (whole words to search from)', () => {
    for (const s of Object.values(lists)) {
      const words = [...decodeFrontCoded(s)];
      expect(words).toEqual([...words].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(words.some((w) => /[0-9]/.test(w))).toBe(false);
      expect(encodeFrontCoded(words)).toBe(s);
    }
  });
  it('are searched without decoding: frontCodedHas agrees with the decoded set', () => {
    for (const s of [lists.FIRST_NAMES, lists.SURNAMES_AMBIGUOUS, lists.CITIES]) {
      const set = decodeFrontCoded(s);
      // (Mismatches are collected and compared once: an expect per word is slow.)
      const wrong: string[] = [];
      for (const w of set)
        for (const v of [w, ...near(w), '', 'a', 'zzzz', '\uffff'])
          if (frontCodedHas(s, v) !== set.has(v)) wrong.push(v);
      expect(wrong).toEqual([]);
    }
  });
  it('list the entries of a prefix that do not go on with an ASCII letter', () => {
    const s = lists.CITIES;
    const words = [...decodeFrontCoded(s)];
    for (const pre of ['a', 's', 'st', 'san', 'new', 'hora', 'baia', 'zzz', 'ÿ']) {
      const want = words.filter((w) => w.startsWith(pre) && !/^[a-zA-Z]/.test(w.slice(pre.length)));
      expect(frontCodedWordsAfter(s, pre)).toEqual(want);
    }
  });
});

describe('lookup tables', () => {
  it('ListFlags holds the OR of the flags of the lists holding each word', () => {
    const parts: Array<[string, number]> = [
      [lists.FIRST_NAMES, 1],
      [lists.FIRST_NAMES_AMBIGUOUS, 2],
      [lists.SURNAMES, 4],
      [lists.SURNAMES_AMBIGUOUS, 8],
    ];
    const map = new Map<string, number>();
    for (const [s, f] of parts) for (const w of decodeFrontCoded(s)) map.set(w, (map.get(w) ?? 0) | f);
    const flags = new ListFlags(parts);
    const wrong: string[] = [];
    for (const w of map.keys())
      for (const v of [w, ...near(w)]) if (flags.get(v) !== map.get(v)) wrong.push(v);
    expect(wrong).toEqual([]);
  });
  it('ByFirstWord gives the entries by first word, longest first, as a map of every entry would', () => {
    const split = (c: string): string[] | null => c.match(/[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:'[\p{L}]+)?/gu);
    const map = new Map<string, string[][]>();
    for (const c of decodeFrontCoded(lists.CITIES)) {
      const words = split(c)!;
      // The search relies on this: an entry's first word is a prefix of it.
      if (!c.startsWith(words[0]!)) expect(c).toBe(words[0]);
      const arr = map.get(words[0]!);
      if (arr) arr.push(words);
      else map.set(words[0]!, [words]);
    }
    for (const arr of map.values()) arr.sort((a, b) => b.length - a.length);
    const index = new ByFirstWord(lists.CITIES, split);
    const show = (a: string[][] | undefined): string => JSON.stringify(a ?? null);
    const wrong: string[] = [];
    for (const w of map.keys())
      for (const v of [w, ...near(w)]) if (show(index.get(v)) !== show(map.get(v))) wrong.push(v);
    expect(wrong).toEqual([]);
  });
});
