import { describe, expect, it } from 'vitest';
import { DEFAULT_STYLE_MODEL } from './model.ts';
import { simulatePractice } from './simulate.ts';
import { fitStyleModel, weeklySeries } from './style.ts';
import { buildTimeline } from './timeline.ts';

describe('DEFAULT_STYLE_MODEL', () => {
  it('is what Baum-Welch fits on the documented training cohort (reproducible, not hand-set)', () => {
    const asOf = Date.parse('2026-11-01T00:00:00Z');
    const train = simulatePractice({ seed: 1, patients: 400, asOf, idPrefix: 'train' });
    const m = fitStyleModel(train.patients.map((p) => weeklySeries(buildTimeline(p.events, asOf)).obs));
    m.hmm.a.forEach((row, i) =>
      row.forEach((x, j) =>
        expect(Math.abs(x - (DEFAULT_STYLE_MODEL.hmm.a[i]?.[j] ?? NaN))).toBeLessThan(1e-3),
      ),
    );
    m.hmm.b.forEach((row, i) =>
      row.forEach((x, j) =>
        expect(Math.abs(x - (DEFAULT_STYLE_MODEL.hmm.b[i]?.[j] ?? NaN))).toBeLessThan(1e-3),
      ),
    );
    expect(m.level).toEqual(DEFAULT_STYLE_MODEL.level);
  });
});
