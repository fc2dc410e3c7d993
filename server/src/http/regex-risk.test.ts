import { describe, expect, it } from 'vitest';
import { hasCatastrophicRepetition } from './regex-risk.ts';

describe('hasCatastrophicRepetition', () => {
  it('finds a repeated group that itself repeats', () => {
    for (const p of ['(a+)+$', '(\\w*)*x', '(x+){2,}', '(?:\\d+-?)+$', '([a-z]+\\s?)*$', '((ab)+c)*'])
      expect(hasCatastrophicRepetition(p), p).toBe(true);
  });

  it('finds a repeated group whose alternatives can match the same text', () => {
    for (const p of [
      '(a|ab)+$',
      '(\\w|\\d)*!',
      '(?:a|a)+b',
      '(?:x|[xy])+z',
      '(?<n>a|aa){2,}$',
      '(.|\\s)*END',
      '(?:ab|a)*c',
    ])
      expect(hasCatastrophicRepetition(p), p).toBe(true);
  });

  it('accepts the patterns practices write', () => {
    for (const p of [
      '\\bMRN[: ]?\\d{6,10}\\b',
      '(\\d{3})-(\\d{4})',
      '[(a+)]+',
      '(ab)+',
      '(?:MRN|Chart)\\s*#?\\s*\\d{6}',
      '\\d{3}(?:\\s|-)?\\d{4}',
      '(?:-|\\.)+',
      '(?:Dr|Mr|Ms)\\.? [A-Z][a-z]+',
      '\\p{Lu}{2}\\d{6}',
      'case-(?:\\d{4}){2}',
    ])
      expect(hasCatastrophicRepetition(p), p).toBe(false);
  });
});
