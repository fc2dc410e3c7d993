import { describe, expect, it } from 'vitest';
import { EngagementEventSchema, EventsBatchRequestSchema } from './events.ts';

const appt = {
  id: 'e1',
  patientId: 'p1',
  type: 'appointment_missed',
  at: '2026-03-02T15:00:00Z',
  appointmentId: 'a1',
};

describe('EventsBatchRequestSchema (POST /v1/events)', () => {
  it('accepts a batch of appointment events with ISO or epoch times', () => {
    const r = EventsBatchRequestSchema.safeParse({
      events: [appt, { ...appt, id: 'e2', at: 1_772_463_600_000 }],
    });
    expect(r.success).toBe(true);
  });
  it('rejects message events, which only the server records', () => {
    expect(EventsBatchRequestSchema.safeParse({ events: [{ ...appt, type: 'replied' }] }).success).toBe(
      false,
    );
  });
  it('rejects unknown fields, times without an offset and empty or oversized batches', () => {
    expect(EventsBatchRequestSchema.safeParse({ events: [{ ...appt, extra: 1 }] }).success).toBe(false);
    expect(
      EventsBatchRequestSchema.safeParse({ events: [{ ...appt, at: '2026-03-02 15:00' }] }).success,
    ).toBe(false);
    expect(EventsBatchRequestSchema.safeParse({ events: [] }).success).toBe(false);
    const many = Array.from({ length: 1001 }, (_, i) => ({ ...appt, id: `e${i}` }));
    expect(EventsBatchRequestSchema.safeParse({ events: many }).success).toBe(false);
  });
});

describe('EngagementEventSchema', () => {
  it('accepts a reply with its derived fields and normalises topics', () => {
    const r = EngagementEventSchema.parse({
      id: 'r1',
      patientId: 'p1',
      type: 'replied',
      at: '2026-03-02T15:00:00-05:00',
      inReplyTo: 'm1',
      latencyMs: 3_600_000,
      inquiry: 'scheduling',
      tone: 2.5,
      crisis: { sentence: 'I am not suicidal.', grade: 'negated' },
      topics: ['  Homework '],
    });
    expect(r.topics).toEqual(['homework']);
  });
  it('rejects negative latency and out-of-range tone', () => {
    const base = { id: 'r1', patientId: 'p1', type: 'replied', at: 0 };
    expect(EngagementEventSchema.safeParse({ ...base, latencyMs: -1 }).success).toBe(false);
    expect(EngagementEventSchema.safeParse({ ...base, tone: 101 }).success).toBe(false);
  });
});
