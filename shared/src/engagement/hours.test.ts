import { describe, expect, it } from 'vitest';
import {
  bestWindow,
  bestWindowStart,
  DEFAULT_HOUR_WINDOW,
  DEFAULT_HOUR_WINDOW_NO_PRIOR,
  fitHourWindow,
  hourPredictive,
} from './hours.ts';
import { createRng } from './prng.ts';
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

describe('hourPredictive', () => {
  it('is a probability distribution over the 24 hour bins that wraps midnight', () => {
    const p = hourPredictive([23.5, 23.9, 0.2, 0.6], { kappa: 16, halfLife: 0 });
    expect(p).toHaveLength(24);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    // Mass spills symmetrically across midnight, not towards noon.
    expect((p[23] as number) + (p[0] as number)).toBeGreaterThan(0.5);
    expect(p[1] as number).toBeGreaterThan(p[12] as number);
    expect(p[22] as number).toBeGreaterThan(p[12] as number);
  });
  it("puts replies at 9:00-9:59 in the 9 o'clock bin, so the window is centred on it (no half-hour lag)", () => {
    const hours = [9.05, 9.2, 9.4, 9.5, 9.7, 9.95];
    const p = hourPredictive(hours, { kappa: 16, halfLife: 0 });
    expect(p[8] as number).toBeCloseTo(p[10] as number, 1);
    expect(bestWindowStart(p).start).toBe(8);
    const w = bestWindow(hours, { kappa: 16, halfLife: 0 });
    expect(w.start).toBe(8);
    expect(w.hour).toBe(9);
  });
  it('is the prior alone without replies, and moves to the patient as replies accumulate', () => {
    const prior = new Array<number>(24).fill(0);
    prior[14] = 30;
    prior[15] = 10;
    const none = hourPredictive([], { prior, priorWeight: 20, kappa: 64 });
    expect(none.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(none[14] as number).toBeGreaterThan(none[15] as number);
    const few = hourPredictive([8.5, 8.5], { prior, priorWeight: 20, kappa: 64, halfLife: 0 });
    const many = hourPredictive(new Array<number>(200).fill(8.5), {
      prior,
      priorWeight: 20,
      kappa: 64,
      halfLife: 0,
    });
    expect(few[14] as number).toBeGreaterThan(few[8] as number);
    expect(many[8] as number).toBeGreaterThan(many[14] as number);
    // Posterior mean: the patient's share of the mass is n / (n + priorWeight).
    expect(many.slice(6, 11).reduce((a, b) => a + b, 0)).toBeCloseTo(200 / 220, 2);
  });
  it('weighs recent replies more with a recency half-life', () => {
    const hours = [...new Array<number>(30).fill(9.5), ...new Array<number>(10).fill(19.5)];
    expect(bestWindow(hours, { halfLife: 0, kappa: 16 }).start).toBe(8);
    expect(bestWindow(hours, { halfLife: 5, kappa: 16 }).start).toBe(18);
  });
  it('returns zeros with neither replies nor prior', () => {
    expect(hourPredictive([])).toEqual(new Array<number>(24).fill(0));
  });
});

describe('bestWindow mass and hour', () => {
  it('reports the predicted share of replies in the window, with the peak hour inside the window', () => {
    const w = bestWindow([22.5, 23.2, 23.7, 0.4, 22.9, 23.4], { kappa: 32, halfLife: 0 });
    expect(w.mass).toBeGreaterThan(0.7);
    expect(w.mass).toBeLessThanOrEqual(1);
    expect(inWindow((w.hour as number) + 0.5, w.start as number)).toBe(true);
    expect(w.reasons.join(' ')).toMatch(/% of replies expected/);
  });
  it('uses the sharp, shrunk smoothing with a prior and the wide one without', () => {
    expect(DEFAULT_HOUR_WINDOW).toEqual({ kappa: 64, priorWeight: 50, halfLife: 10 });
    expect(DEFAULT_HOUR_WINDOW_NO_PRIOR).toEqual({ kappa: 4, priorWeight: 0, halfLife: 25 });
    const hours = [10.2, 10.4, 13.6, 10.1, 14.9];
    const prior = Array.from({ length: 24 }, (_, h) => (h >= 8 && h < 18 ? 5 : 1));
    expect(bestWindow(hours)).toEqual(bestWindow(hours, { ...DEFAULT_HOUR_WINDOW_NO_PRIOR }));
    expect(bestWindow(hours, { prior })).toEqual(bestWindow(hours, { ...DEFAULT_HOUR_WINDOW, prior }));
    // An all-zero prior is no prior.
    expect(bestWindow(hours, { prior: new Array<number>(24).fill(0) })).toEqual(bestWindow(hours));
    expect(hourPredictive(hours, { prior })).not.toEqual(hourPredictive(hours));
  });
});

describe('fitHourWindow', () => {
  const population = Array.from({ length: 24 }, (_, h) => (h >= 8 && h < 18 ? 10 : 1));
  it('trusts each person when people keep their own distinct, stable hours', () => {
    const rng = createRng(11);
    // Each person replies around their own hour, far from the population's office hours.
    const histories = Array.from({ length: 40 }, (_, i) => {
      const own = (18 + (i % 6)) % 24;
      return Array.from({ length: 30 }, () => (((own + 0.5 + rng.normal(0, 0.4)) % 24) + 24) % 24);
    });
    const fit = fitHourWindow(histories, population);
    expect(fit.params.priorWeight).toBeLessThanOrEqual(10);
    expect(fit.hitRate).toBeGreaterThan(0.8);
  });
  it('shrinks hard towards the population when people only differ by chance', () => {
    const rng = createRng(12);
    // Everyone draws from the same population distribution: a person's own histogram is noise.
    const cum: number[] = [];
    population.reduce((a, b, k) => (cum[k] = a + b), 0);
    const total = cum[23] as number;
    const draw = (): number => {
      const u = rng.next() * total;
      const k = cum.findIndex((c) => c > u);
      return k + rng.next();
    };
    const histories = Array.from({ length: 40 }, () => Array.from({ length: 30 }, draw));
    const fit = fitHourWindow(histories, population);
    expect(fit.params.priorWeight).toBeGreaterThanOrEqual(100);
  });
  it('with the one-SE rule never shrinks less than the best-scoring setting', () => {
    const rng = createRng(13);
    const histories = Array.from({ length: 20 }, (_, i) =>
      Array.from({ length: 15 }, () => (((9 + (i % 3) * 4 + rng.normal(0, 2)) % 24) + 24) % 24),
    );
    const best = fitHourWindow(histories, population, { rule: 'best' });
    const oneSe = fitHourWindow(histories, population);
    expect(oneSe.params.priorWeight).toBeGreaterThanOrEqual(best.params.priorWeight);
    expect(oneSe.logLik).toBeLessThanOrEqual(best.logLik + 1e-12);
    expect(best.n).toBeGreaterThan(0);
  });
});
