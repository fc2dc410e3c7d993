import { describe, expect, it } from 'vitest';
import { EngagementEventSchema } from '../api/events.ts';
import { simulatePractice } from './simulate.ts';

const asOf = '2026-11-01T00:00:00Z';

describe('simulatePractice', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = simulatePractice({ seed: 5, patients: 8, asOf, weeks: 40 });
    const b = simulatePractice({ seed: 5, patients: 8, asOf, weeks: 40 });
    const c = simulatePractice({ seed: 6, patients: 8, asOf, weeks: 40 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(c));
  });
  it('emits valid, time-ordered events no later than asOf, with unique ids', () => {
    const sim = simulatePractice({ seed: 9, patients: 12, asOf, weeks: 52 });
    const ids = new Set<string>();
    for (const p of sim.patients) {
      let prev = -Infinity;
      for (const e of p.events) {
        expect(EngagementEventSchema.safeParse(e).success).toBe(true);
        expect(e.patientId).toBe(p.id);
        expect(e.at as number).toBeGreaterThanOrEqual(prev);
        expect(e.at as number).toBeLessThanOrEqual(sim.asOf);
        prev = e.at as number;
        expect(ids.has(e.id)).toBe(false);
        ids.add(e.id);
      }
    }
  });
  it('gives disengaging patients a drop onset inside their history and new patients a short one', () => {
    const sim = simulatePractice({
      seed: 3,
      patients: 60,
      asOf,
      styleWeights: { steady: 0, sporadic: 0, declining: 0, new: 1 },
    });
    for (const p of sim.patients) {
      if (p.style === 'new') expect(sim.asOf - p.startMs).toBeLessThanOrEqual(21 * 86_400_000);
      else {
        expect(p.style === 'disengaged' || p.drops.length === 1).toBe(true);
        for (const d of p.drops) expect(d.onset).toBeGreaterThan(p.startMs);
      }
    }
  });
});
