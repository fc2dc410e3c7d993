import { describe, expect, it } from 'vitest';
import { EngagementSchema } from '../api/engagement.ts';
import type { EngagementEvent } from '../api/events.ts';
import { computeEngagement } from './engagement.ts';
import { simulatePractice } from './simulate.ts';
import { escapeXml, replyHoursSvg, responseTimeSvg } from './svg.ts';

const H = 3_600_000;
const DAY = 24 * H;
const patient = { id: 'p1', email: 'p1@example.org', name: 'Pat Example', timeZone: 'America/New_York' };
const T0 = Date.parse('2026-06-01T14:00:00Z'); // a Monday, 10:00 in New York (EDT)

function ev(list: Array<Partial<EngagementEvent> & Pick<EngagementEvent, 'type' | 'at'>>): EngagementEvent[] {
  return list.map((e, i) => ({ id: `e${i}`, patientId: 'p1', ...e }));
}

describe('computeEngagement', () => {
  it('computes reply rate, latency and reply hours in the patient zone, each with basis and n', () => {
    const list: Array<Partial<EngagementEvent> & Pick<EngagementEvent, 'type' | 'at'>> = [];
    for (let d = 0; d < 10; d++) {
      const sent = T0 + d * DAY;
      list.push({ type: 'sent', at: sent, messageId: `m${d}`, topics: ['homework'] });
      // Replies at 20:00 New York time (00:00 UTC next day) to 8 of 10 messages.
      if (d < 8) list.push({ type: 'replied', at: sent + 10 * H, inReplyTo: `m${d}` });
    }
    const asOf = T0 + 20 * DAY;
    const e = computeEngagement(patient, ev(list), asOf);
    expect(() => EngagementSchema.parse(e)).not.toThrow();
    expect(e.replyRate).toMatchObject({ value: 0.8, n: 10 });
    expect(e.replyRate.basis.length).toBeGreaterThan(10);
    expect(e.responseTime.medianHours).toBe(10);
    expect(e.responseTime.n).toBe(8);
    expect(e.replyHours.histogram[20]).toBe(8);
    expect(e.replyHours.peakHour).toBe(20);
    expect(e.replyHours.concentration).toBeCloseTo(1, 5);
    expect(e.recommendations.bestHour.windowStart).not.toBeNull();
    const ws = e.recommendations.bestHour.windowStart as number;
    expect([19, 20].includes(ws) || ws === 18).toBe(true);
    expect(e.topics).toEqual([{ topic: 'homework', sent: 10, opened: 8, replied: 8, replyRate: 0.8 }]);
    expect(e.disclaimer).toMatch(/^Decision support, not diagnosis/);
  });
  it('puts a first-person crisis alert first with its sentence, and keeps graded ones', () => {
    const asOf = T0 + 5 * DAY;
    const e = computeEngagement(
      patient,
      ev([
        { type: 'sent', at: T0, messageId: 'm1' },
        {
          type: 'replied',
          at: T0 + H,
          inReplyTo: 'm1',
          crisis: { sentence: 'My friend said she wanted to die.', grade: 'third_person' },
        },
        { type: 'sent', at: T0 + DAY, messageId: 'm2' },
        {
          type: 'replied',
          at: T0 + DAY + H,
          inReplyTo: 'm2',
          crisis: { sentence: 'I want to die.', grade: 'first_person' },
        },
      ]),
      asOf,
    );
    expect(e.alerts[0]).toMatchObject({
      kind: 'crisis',
      severity: 'urgent',
      sentence: 'I want to die.',
      grade: 'first_person',
    });
    expect(e.alerts[1]).toMatchObject({ kind: 'crisis', severity: 'warning', grade: 'third_person' });
  });
  it('ignores other patients, future and unparseable events, and duplicate ids', () => {
    const asOf = T0 + 5 * DAY;
    const list = ev([
      { type: 'sent', at: T0, messageId: 'm1' },
      { type: 'replied', at: T0 + H, inReplyTo: 'm1' },
      { type: 'sent', at: asOf + DAY, messageId: 'm2' },
      { type: 'sent', at: 'not a date', messageId: 'm3' },
    ]);
    list.push({ ...list[1]! });
    list.push({ id: 'x', patientId: 'other', type: 'sent', at: T0, messageId: 'm9' });
    const e = computeEngagement(patient, list, asOf);
    expect(e.data).toMatchObject({ messagesSent: 1, replies: 1 });
  });
  it('raises a drop alert with its start date and a check-in template for a patient who stops replying', () => {
    const sim = simulatePractice({
      seed: 11,
      patients: 40,
      asOf: '2026-11-01T00:00:00Z',
      styleWeights: { steady: 0, sporadic: 0, declining: 0, re_engaging: 0, new: 0 },
    });
    const p = sim.patients.find((x) => x.drops.length === 1);
    expect(p).toBeDefined();
    if (!p) return;
    const e = computeEngagement(
      { id: p.id, email: p.email, name: p.name, timeZone: p.timeZone },
      p.events,
      sim.asOf,
    );
    expect(() => EngagementSchema.parse(e)).not.toThrow();
    const drop = e.alerts.find((a) => a.kind === 'drop');
    expect(drop?.since).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(
      Math.abs(Date.parse(drop?.since as string) - (p.drops[0] as { onset: number }).onset),
    ).toBeLessThan(21 * DAY);
    expect(e.recommendations.checkIn?.template).toMatch(/check in/);
    expect(e.style.style).toBe('disengaged');
  });
  it('falls back to UTC for an unknown time zone and says so', () => {
    const e = computeEngagement(
      { ...patient, timeZone: '<script>' },
      ev([{ type: 'sent', at: T0, messageId: 'm' }]),
      T0 + DAY,
    );
    expect(e.replyHours.timeZone).toBe('UTC');
    expect(e.replyHours.basis).toMatch(/unknown zone/);
    expect(e.charts.replyHoursSvg).not.toContain('<script>');
  });
});

describe('charts', () => {
  it('escape every label', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const svg = responseTimeSvg([{ label: '<img src=x onerror=alert(1)>', value: 3 }], '"><script>');
    expect(svg).not.toMatch(/<img|<script/);
    expect(svg.startsWith('<svg')).toBe(true);
    const strip = replyHoursSvg(new Array<number>(24).fill(1), { start: 22, width: 3 }, '"><b>');
    expect(strip).not.toContain('<b>');
    expect(strip.match(/<rect/g)?.length).toBe(27);
  });
});

describe('computeEngagement on a simulated practice', () => {
  it('always produces the API shape, with finite numbers, for every style', () => {
    const sim = simulatePractice({ seed: 21, patients: 36, asOf: '2026-11-01T00:00:00Z', weeks: 60 });
    for (const p of sim.patients) {
      const e = computeEngagement(
        { id: p.id, email: p.email, name: p.name, timeZone: p.timeZone },
        p.events,
        sim.asOf,
      );
      expect(() => EngagementSchema.parse(e)).not.toThrow();
      expect(nonFinite(e)).toEqual([]);
      if (e.replyRate.value !== null) {
        expect(e.replyRate.value).toBeGreaterThanOrEqual(0);
        expect(e.replyRate.value).toBeLessThanOrEqual(1);
      }
      expect(e.replyHours.histogram.reduce((a, b) => a + b, 0)).toBe(e.replyHours.n);
    }
  });
});

/** Paths of numbers that are NaN or infinite (JSON.stringify would silently turn them into null). */
function nonFinite(v: unknown, path = '$'): string[] {
  if (typeof v === 'number') return Number.isFinite(v) ? [] : [path];
  if (Array.isArray(v)) return v.flatMap((x, i) => nonFinite(x, `${path}[${i}]`));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => nonFinite(x, `${path}.${k}`));
  return [];
}
