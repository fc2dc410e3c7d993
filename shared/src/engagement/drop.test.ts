import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EngagementEvent } from '../api/events.ts';
import { detectDrops } from './drop.ts';
import { buildTimeline } from './timeline.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-05T15:00:00Z');

/** A patient who answers every message within hours, 3 messages a week, and stops at `stopDay`. */
function history(days: number, stopDay: number | null, seed = 1): EngagementEvent[] {
  const ev: EngagementEvent[] = [];
  let s = seed;
  const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  for (let d = 0; d < days; d += 2 + (d % 3 === 0 ? 1 : 0)) {
    const sent = T0 + d * DAY;
    const id = `m${d}`;
    ev.push({ id: `s${d}`, patientId: 'p', type: 'sent', at: sent, messageId: id });
    const stopped = stopDay !== null && d >= stopDay;
    if (!stopped) {
      const lat = (2 + 10 * rnd()) * 3_600_000;
      ev.push({ id: `o${d}`, patientId: 'p', type: 'opened', at: sent + lat / 2, messageId: id });
      if (rnd() < 0.9)
        ev.push({
          id: `r${d}`,
          patientId: 'p',
          type: 'replied',
          at: sent + lat,
          inReplyTo: id,
          latencyMs: lat,
        });
    }
  }
  return ev.sort((a, b) => (a.at as number) - (b.at as number));
}

describe('detectDrops', () => {
  it('finds a sudden stop with an onset near the truth and an alarm within three weeks', () => {
    const stop = 150;
    const alarms = detectDrops(buildTimeline(history(220, stop), T0 + 220 * DAY));
    expect(alarms.length).toBe(1);
    const a = alarms[0]!;
    expect(Math.abs(a.onset - (T0 + stop * DAY))).toBeLessThan(7 * DAY);
    expect(a.alarmAt - (T0 + stop * DAY)).toBeLessThan(21 * DAY);
    expect(a.recovered).toBe(false);
  });
  it('stays quiet for a patient who keeps replying', () => {
    for (let seed = 1; seed <= 5; seed++)
      expect(detectDrops(buildTimeline(history(300, null, seed), T0 + 300 * DAY))).toEqual([]);
  });
  it('never raises an alarm before the data support it (causal, property)', () => {
    const ev = history(220, 120, 3);
    const full = detectDrops(buildTimeline(ev, T0 + 220 * DAY));
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 220 }), (cut) => {
        const asOf = T0 + cut * DAY;
        const partial = detectDrops(buildTimeline(ev, asOf));
        for (const a of partial) expect(a.alarmAt).toBeLessThanOrEqual(asOf);
        // Alarms raised by asOf are the same whether or not later data exist.
        expect(partial.map((a) => a.alarmAt)).toEqual(
          full.filter((a) => a.alarmAt <= asOf).map((a) => a.alarmAt),
        );
      }),
      { numRuns: 40 },
    );
  });
});
