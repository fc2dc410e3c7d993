import { describe, expect, it } from 'vitest';
import { DEFAULT_STYLE_MODEL } from './model.ts';
import { simulatePractice } from './simulate.ts';
import { classifyStyle, fitStyleModel, weeklySeries } from './style.ts';
import { buildTimeline } from './timeline.ts';

const asOf = Date.parse('2026-11-01T00:00:00Z');

describe('engagement style', () => {
  it('recognises most simulated patients of every style with the shipped model', () => {
    const sim = simulatePractice({ seed: 4242, patients: 120, asOf, idPrefix: 't' });
    let right = 0;
    const seen = new Set<string>();
    for (const p of sim.patients) {
      const r = classifyStyle(weeklySeries(buildTimeline(p.events, asOf)), DEFAULT_STYLE_MODEL);
      if (r.style === p.style) right++;
      seen.add(r.style);
      expect(r.reasons.length).toBeGreaterThan(0);
      expect(r.confidence).toBeGreaterThanOrEqual(0);
      expect(r.confidence).toBeLessThanOrEqual(1);
    }
    expect(right / sim.patients.length).toBeGreaterThan(0.85);
    expect(seen.size).toBe(6);
  });
  it('calls a patient with two weeks of history new', () => {
    const sim = simulatePractice({
      seed: 1,
      patients: 3,
      asOf,
      styleWeights: { steady: 0, sporadic: 0, declining: 0, disengaged: 0, re_engaging: 0 },
    });
    for (const p of sim.patients)
      expect(classifyStyle(weeklySeries(buildTimeline(p.events, asOf)), DEFAULT_STYLE_MODEL).style).toBe(
        'new',
      );
  });
  it('judges the style from email contact, not from appointment history imported from years before it', () => {
    // A practice imports its FHIR appointment history (monthly visits for three years) before it
    // starts writing to patients through Attune; the style must still be the email engagement's.
    const DAY = 86_400_000;
    const sim = simulatePractice({
      seed: 5,
      patients: 60,
      asOf,
      weeks: 30,
      idPrefix: 'h',
      styleWeights: { new: 0 },
    });
    const changed: string[] = [];
    for (const p of sim.patients) {
      const own = classifyStyle(weeklySeries(buildTimeline(p.events, asOf)), DEFAULT_STYLE_MODEL).style;
      const history = Array.from({ length: 36 }, (_, i) => ({
        id: `${p.id}-old${i}`,
        patientId: p.id,
        type: 'appointment_attended' as const,
        at: p.startMs - (i + 1) * 30 * DAY,
      }));
      const series = weeklySeries(buildTimeline([...history, ...p.events], asOf));
      const withHistory = classifyStyle(series, DEFAULT_STYLE_MODEL).style;
      if (withHistory !== own) changed.push(`${p.id}: ${own} -> ${withHistory}`);
    }
    expect(changed).toEqual([]);
  });
  it('is not stretched over millennia by one appointment with a placeholder date', () => {
    const p = simulatePractice({ seed: 6, patients: 1, asOf, styleWeights: { new: 0 } }).patients[0];
    if (!p) throw new Error('no patient');
    const plain = weeklySeries(buildTimeline(p.events, asOf));
    const bogus = {
      id: 'x',
      patientId: p.id,
      type: 'appointment_missed' as const,
      at: '0001-01-01T00:00:00Z',
    };
    const series = weeklySeries(buildTimeline([bogus, ...p.events], asOf));
    expect(series.obs.length).toBeLessThanOrEqual(plain.obs.length + 4);
    expect(classifyStyle(series, DEFAULT_STYLE_MODEL).style).toBe(
      classifyStyle(plain, DEFAULT_STYLE_MODEL).style,
    );
  });
  it('learns ordered engagement levels with Baum-Welch', () => {
    const sim = simulatePractice({ seed: 77, patients: 60, asOf, idPrefix: 'f' });
    const m = fitStyleModel(sim.patients.map((p) => weeklySeries(buildTimeline(p.events, asOf)).obs));
    expect([...m.level].sort()).toEqual([0, 1, 2]);
    const high = m.level.indexOf(2);
    const low = m.level.indexOf(0);
    expect((m.hmm.b[high] as number[])[3]).toBeGreaterThan((m.hmm.b[low] as number[])[3] as number);
  });
});
