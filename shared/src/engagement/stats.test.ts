import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { circularHours, hourDistance, inWindow, median, quantile } from './stats.ts';

describe('quantiles', () => {
  it('interpolates between order statistics', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(median([])).toBeNull();
  });
});

describe('circularHours', () => {
  it('averages across midnight (23:00 and 01:00 mean midnight, not noon)', () => {
    const c = circularHours([23, 1, 23, 1]);
    expect(c && hourDistance(c.meanHour, 0)).toBeLessThan(1e-9);
    expect(c?.resultantLength).toBeGreaterThan(0.95);
  });
  it('finds no preference in hours spread round the clock', () => {
    const c = circularHours(Array.from({ length: 24 }, (_, h) => h));
    expect(c?.resultantLength).toBeLessThan(1e-9);
    expect(c?.rayleighP).toBeGreaterThan(0.5);
  });
  it('rotates with the data and keeps R in [0, 1] (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 23.99, noNaN: true }), { minLength: 2, maxLength: 50 }),
        fc.integer({ min: 0, max: 23 }),
        (hs, k) => {
          const a = circularHours(hs);
          const b = circularHours(hs.map((h) => (h + k) % 24));
          expect(a && b).toBeTruthy();
          if (!a || !b) return;
          expect(a.resultantLength).toBeGreaterThanOrEqual(0);
          expect(a.resultantLength).toBeLessThanOrEqual(1 + 1e-9);
          expect(Math.abs(a.resultantLength - b.resultantLength)).toBeLessThan(1e-9);
          if (a.resultantLength > 1e-6)
            expect(hourDistance((a.meanHour + k) % 24, b.meanHour)).toBeLessThan(1e-6);
        },
      ),
    );
  });
  it('windows wrap midnight', () => {
    expect(inWindow(0.5, 23)).toBe(true);
    expect(inWindow(2.5, 23)).toBe(false);
  });
});
