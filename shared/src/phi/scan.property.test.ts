import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scan } from './scan.ts';

const clinicalBits = fc.constantFrom(
  'Dr. Smith',
  ' 7/22 ',
  'SSN 123-45-6780',
  '(617) 555-0142',
  'sertraline 50 mg',
  'F32.1',
  'I want to kill myself',
  'née Zoë Åström',
  '😀',
  '\u0301',
  '\ud800',
  'MRN: 12345678',
  '::1',
  '42 Elm St',
  'Apt 4',
  '\n',
  ' ',
  'ǅ',
  'İ',
);
const mixed = fc
  .array(fc.oneof(fc.string({ unit: 'binary' }), clinicalBits, fc.string({ unit: 'grapheme' })), {
    maxLength: 12,
  })
  .map((a) => a.join(''));

describe('scan properties', () => {
  it('never throws and every finding slices to its text, sorted and non-overlapping', () => {
    fc.assert(
      fc.property(mixed, (text) => {
        const findings = scan(text, { minConfidence: 0 });
        let last = 0;
        for (const f of findings) {
          expect(text.slice(f.start, f.end)).toBe(f.text);
          expect(f.start).toBeGreaterThanOrEqual(last);
          expect(f.end).toBeGreaterThan(f.start);
          expect(f.confidence).toBeGreaterThanOrEqual(0);
          expect(f.confidence).toBeLessThanOrEqual(1);
          last = f.end;
        }
      }),
      { numRuns: 400 },
    );
  });
  it('never throws on arbitrary options', () => {
    fc.assert(
      fc.property(
        mixed,
        fc.array(fc.string(), { maxLength: 3 }),
        fc.array(fc.string(), { maxLength: 3 }),
        (text, kw, pats) => {
          expect(() => scan(text, { customKeywords: kw, customPatterns: pats, allowList: kw })).not.toThrow();
        },
      ),
      { numRuns: 200 },
    );
  });
});
