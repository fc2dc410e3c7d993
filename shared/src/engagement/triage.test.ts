import { describe, expect, it } from 'vitest';
import { CaseloadSchema } from '../api/engagement.ts';
import type { EngagementEvent } from '../api/events.ts';
import { practicePriors, rankCaseload, TriageWeightsSchema, type CaseloadPatient } from './triage.ts';

const H = 3_600_000;
const DAY = 24 * H;
const T0 = Date.parse('2026-06-01T14:00:00Z');
const asOf = T0 + 30 * DAY;

function patient(id: string, extra: Array<Omit<EngagementEvent, 'id' | 'patientId'>>): CaseloadPatient {
  const events: EngagementEvent[] = [];
  for (let d = 0; d < 28; d += 3) {
    events.push({
      id: `${id}-s${d}`,
      patientId: id,
      type: 'sent',
      at: T0 + d * DAY,
      messageId: `${id}-m${d}`,
    });
    events.push({
      id: `${id}-r${d}`,
      patientId: id,
      type: 'replied',
      at: T0 + d * DAY + 5 * H,
      inReplyTo: `${id}-m${d}`,
    });
  }
  extra.forEach((e, i) => events.push({ id: `${id}-x${i}`, patientId: id, ...e }));
  events.sort((a, b) => (a.at as number) - (b.at as number));
  return { patient: { id, email: `${id}@example.org`, name: null, timeZone: null }, events };
}

const missed = (n: number): Array<Omit<EngagementEvent, 'id' | 'patientId'>> =>
  Array.from({ length: n }, (_, i) => ({ type: 'appointment_missed' as const, at: T0 + (5 + i * 7) * DAY }));
const unanswered = (n: number): Array<Omit<EngagementEvent, 'id' | 'patientId'>> =>
  Array.from({ length: n }, (_, i) => ({
    type: 'sent' as const,
    at: T0 + (10 + i) * DAY + H,
    messageId: `u${i}`,
  }));

describe('rankCaseload', () => {
  const caseload = [
    patient('calm', []),
    patient('missing', missed(3)),
    patient('quiet', unanswered(5)),
    patient('crisis', [
      {
        type: 'replied',
        at: T0 + 20 * DAY,
        crisis: { sentence: 'I want to end it.', grade: 'first_person' },
      },
    ]),
  ];
  it('puts crisis first, then the weighted score, each rank with its reasons', () => {
    const c = rankCaseload(caseload, asOf);
    expect(() => CaseloadSchema.parse(c)).not.toThrow();
    expect(c.items.map((i) => i.patientId)).toEqual(['crisis', 'missing', 'quiet', 'calm']);
    expect(c.items[0]).toMatchObject({ crisis: true, rank: 1 });
    expect(c.items[1]?.reasons.join(' ')).toMatch(/3 missed appointment/);
    expect(c.items[3]?.reasons).toEqual(['No risk signals in the data.']);
    expect(c.disclaimer).toMatch(/not diagnosis/);
  });
  it('follows the practice weights', () => {
    const c = rankCaseload(caseload, asOf, { weights: { unanswered: 5, missedAppointment: 0.1 } });
    expect(c.items.map((i) => i.patientId)).toEqual(['crisis', 'quiet', 'missing', 'calm']);
  });
  it('paginates with stable ranks', () => {
    const p2 = rankCaseload(caseload, asOf, { page: 2, pageSize: 3 });
    expect(p2.items).toHaveLength(1);
    expect(p2.items[0]).toMatchObject({ rank: 4, patientId: 'calm' });
    expect(p2.total).toBe(4);
  });
  it('validates weights', () => {
    expect(TriageWeightsSchema.safeParse({ drop: -1 }).success).toBe(false);
    expect(TriageWeightsSchema.safeParse({ nope: 1 }).success).toBe(false);
    expect(TriageWeightsSchema.parse({}).drop).toBeGreaterThan(0);
  });
});

describe('practicePriors', () => {
  it('counts reply hours in each patient zone and summarises latency', () => {
    const ny: CaseloadPatient = {
      ...patient('ny', []),
      patient: { id: 'ny', email: 'ny@example.org', name: null, timeZone: 'America/New_York' },
    };
    const pr = practicePriors([ny], asOf);
    // Replies at 14:00 + 5 h = 19:00 UTC = 15:00 EDT.
    expect(pr.hourPrior[15]).toBe(10);
    expect(pr.hourPrior.reduce((a, b) => a + b, 0)).toBe(10);
    expect(pr.latencyHours).toBe(5);
    expect(pr.n).toBe(10);
  });
});
