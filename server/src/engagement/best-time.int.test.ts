import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localHour } from '@attune/shared/engagement';
import { dialectsUnderTest } from '../store/testing.ts';
import { bestSendTime } from './best-time.ts';
import { insertEvents, type NewEvent } from './events-store.ts';
import { patientEngagement } from './service.ts';
import { createEngagementFixture, type EngagementFixture } from './testing.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;

describe.each(dialectsUnderTest())('bestSendTime on %s', (dialect) => {
  let f: EngagementFixture;
  let evening: string;
  let fresh: string;
  beforeAll(async () => {
    f = await createEngagementFixture(dialect, NOW);
    evening = await f.addPatient(f.practiceId, 'eve@patients.example', { timeZone: 'America/Chicago' });
    fresh = await f.addPatient(f.practiceId, 'new@patients.example', { timeZone: 'Europe/London' });
    const events: NewEvent[] = [];
    // Replies around 20:00-21:00 Chicago time (01:00-02:00 UTC in summer), every 3 days.
    for (let i = 0; i < 30; i++) {
      const sent = Date.parse('2026-03-01T15:00:00Z') + i * 3 * 24 * HOUR;
      events.push({ id: `s${i}`, patientId: evening, type: 'sent', at: new Date(sent), messageId: `m${i}` });
      events.push({
        id: `r${i}`,
        patientId: evening,
        type: 'replied',
        at: new Date(sent + (10 + (i % 2)) * HOUR),
        latencyMs: (10 + (i % 2)) * HOUR,
        data: { inReplyTo: `m${i}` },
      });
    }
    await insertEvents(f.db, f.practiceId, events, NOW);
  });
  afterAll(async () => {
    await f?.cleanup();
  });

  it("schedules at the hour the sidebar recommends, in the patient's zone, later than now", async () => {
    const best = await bestSendTime(f.store, f.practiceId, evening, NOW);
    const row = await f.db
      .selectFrom('patients')
      .selectAll()
      .where('id', '=', evening)
      .executeTakeFirstOrThrow();
    const sidebar = await patientEngagement(f.db, f.practiceId, row, NOW);
    expect(best.source).toBe('engagement');
    expect(best.hour).toBe(sidebar.recommendations.bestHour.hour);
    expect(best.hour).toBeGreaterThanOrEqual(19);
    expect(best.hour).toBeLessThanOrEqual(21);
    expect(best.at.getTime()).toBeGreaterThan(NOW.getTime());
    expect(best.at.getTime() - NOW.getTime()).toBeLessThanOrEqual(24 * HOUR);
    expect(Math.floor(localHour('America/Chicago', best.at.getTime()))).toBe(best.hour);
  });

  it('falls back to the daytime default without reply history, and for another practice', async () => {
    const a = await bestSendTime(f.store, f.practiceId, fresh, NOW);
    expect(a).toMatchObject({ source: 'daytime_default', timeZone: 'Europe/London' });
    const other = await bestSendTime(f.store, f.otherPracticeId, evening, NOW);
    expect(other.source).toBe('daytime_default');
  });
});
