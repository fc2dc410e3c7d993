import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidTimeZone, localHour, nextLocalHour, zoneOffsetMinutes } from './time.ts';

describe('zoneOffsetMinutes', () => {
  it('follows US daylight saving time to the minute', () => {
    // 2026-03-08 02:00 EST -> 03:00 EDT, i.e. 07:00 UTC.
    const switchAt = Date.parse('2026-03-08T07:00:00Z');
    expect(zoneOffsetMinutes('America/New_York', switchAt - 60_000)).toBe(-300);
    expect(zoneOffsetMinutes('America/New_York', switchAt)).toBe(-240);
    expect(zoneOffsetMinutes('America/New_York', Date.parse('2026-07-01T12:00:00Z'))).toBe(-240);
    expect(zoneOffsetMinutes('Asia/Kolkata', Date.parse('2026-07-01T12:00:00Z'))).toBe(330);
  });
  it('treats an unknown zone as UTC instead of throwing', () => {
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(zoneOffsetMinutes('Mars/Olympus', 0)).toBe(0);
  });
  it('agrees with Intl for arbitrary instants (property)', () => {
    const f = new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/Los_Angeles',
      hourCycle: 'h23',
      hour: 'numeric',
    });
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2000-01-01'), max: Date.parse('2035-01-01') }), (ms) => {
        const h = localHour('America/Los_Angeles', ms);
        expect(h).toBeGreaterThanOrEqual(0);
        expect(h).toBeLessThan(24);
        expect(Math.floor(h)).toBe(Number(f.format(ms)) % 24);
      }),
      { numRuns: 300 },
    );
  });
});

describe('nextLocalHour', () => {
  it('finds the next 20:00 in the patient zone, today or tomorrow', () => {
    const noonNy = Date.parse('2026-07-01T16:00:00Z'); // 12:00 EDT
    expect(new Date(nextLocalHour('America/New_York', noonNy, 20)).toISOString()).toBe(
      '2026-07-02T00:00:00.000Z',
    );
    const ninePm = Date.parse('2026-07-02T01:00:00Z'); // 21:00 EDT
    expect(new Date(nextLocalHour('America/New_York', ninePm, 20)).toISOString()).toBe(
      '2026-07-03T00:00:00.000Z',
    );
  });
  it('sends an hour skipped by the spring change at the end of the gap, never an hour early', () => {
    // New York, 8 March 2026: 2:00 EST becomes 3:00 EDT, so 2:00 does not exist that night.
    const midnightNy = Date.parse('2026-03-08T05:00:00Z'); // 0:00 EST
    expect(new Date(nextLocalHour('America/New_York', midnightNy, 2)).toISOString()).toBe(
      '2026-03-08T07:00:00.000Z', // 3:00 EDT, not 1:00 EST
    );
    // Santiago, 6 September 2026: midnight becomes 1:00, so a midnight send lands at 1:00 that day,
    // not at 23:00 the evening before.
    const noonSantiago = Date.parse('2026-09-05T16:00:00Z');
    expect(new Date(nextLocalHour('America/Santiago', noonSantiago, 0)).toISOString()).toBe(
      '2026-09-06T04:00:00.000Z',
    );
    expect(localHour('America/Santiago', Date.parse('2026-09-06T04:00:00Z'))).toBe(1);
  });
  it('is never earlier than the start and reads the requested local hour (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2030-01-01') }),
        fc.integer({ min: 0, max: 23 }),
        (ms, h) => {
          const t = nextLocalHour('Europe/London', ms, h);
          expect(t).toBeGreaterThanOrEqual(ms);
          expect(t - ms).toBeLessThanOrEqual(26 * 3_600_000);
          // Except for hours skipped by the spring change, the local clock reads h:00.
          const lh = localHour('Europe/London', t);
          expect(lh === h || Math.abs(lh - h) === 1).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
