import { describe, expect, it } from 'vitest';
import { bestWindow } from './hours.ts';
import { inWindow } from './stats.ts';

describe('bestWindow', () => {
  it('finds a window across midnight for a night owl', () => {
    const w = bestWindow([23.2, 23.8, 0.1, 0.5, 0.9, 23.5, 0.3]);
    expect(w.start).toBe(23);
    expect(w.confidence).toBeGreaterThan(0.5);
    expect(w.reasons.join(' ')).toMatch(/circular mean/);
  });
  it('returns no hour without data or prior', () => {
    expect(bestWindow([]).start).toBeNull();
  });
  it('leans on the prior when the patient has few replies, and on the patient with many', () => {
    const prior = new Array<number>(24).fill(0);
    prior[9] = 50;
    prior[10] = 50;
    const few = bestWindow([20, 21], { prior, priorWeight: 10 });
    expect(inWindow(9.5, few.start as number)).toBe(true);
    const many = bestWindow(new Array<number>(40).fill(20.5), { prior, priorWeight: 10 });
    expect(inWindow(20.5, many.start as number)).toBe(true);
  });
  it('falls back to the prior window when the patient has no clear preferred hour', () => {
    const prior = new Array<number>(24).fill(1);
    prior[14] = 40;
    const spread = Array.from({ length: 24 }, (_, h) => h + 0.5);
    const w = bestWindow(spread, { prior, priorWeight: 1, fallbackP: 0.05 });
    expect(inWindow(14.5, w.start as number)).toBe(true);
    expect(w.reasons.join(' ')).toMatch(/practice's busiest/);
  });
});
