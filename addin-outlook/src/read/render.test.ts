import type { Engagement } from '@attune/shared/api';
import { describe, expect, it } from 'vitest';
import { alertTitle, appointmentsRow, plural } from './render.ts';

const BASE: Engagement['appointments'] = {
  scheduled: 0,
  attended: 5,
  missed: 2,
  rescheduled: 1,
  cancelled: 1,
  noShowRate: 2 / 7,
  rescheduleRate: 1 / 9,
  basis:
    'No-show rate = missed / (attended + missed); reschedule rate = rescheduled / (attended + missed + rescheduled + cancelled).',
};

describe('read pane wording', () => {
  it('counts every appointment with an outcome, not the scheduling events', () => {
    // Appointments imported with their outcome only have no "scheduled" event: n must still be 9.
    expect(appointmentsRow(BASE)).toEqual({
      value: '5 attended, 2 missed, 1 rescheduled, 1 cancelled; no-show 29%, rescheduled 11%',
      n: 9,
    });
    expect(appointmentsRow({ ...BASE, scheduled: 40 }).n).toBe(9);
  });

  it('leaves out outcomes that did not happen', () => {
    expect(appointmentsRow({ ...BASE, rescheduled: 0, cancelled: 0, rescheduleRate: 0 })).toEqual({
      value: '5 attended, 2 missed; no-show 29%',
      n: 7,
    });
    expect(
      appointmentsRow({
        ...BASE,
        attended: 0,
        missed: 0,
        rescheduled: 0,
        cancelled: 0,
        noShowRate: null,
        rescheduleRate: null,
      }),
    ).toEqual({
      value: '0 attended, 0 missed; no-show —',
      n: 0,
    });
  });

  it('titles every alert kind in words, not the raw kind', () => {
    expect(alertTitle('missed_appointments')).toBe('Missed appointments');
    expect(alertTitle('unanswered')).toBe('Unanswered messages');
    expect(alertTitle('tone')).toBe('Change in tone');
    expect(alertTitle('crisis')).toBe('Crisis language');
    expect(alertTitle('drop')).toBe('Engagement drop');
  });

  it('pluralises counts', () => {
    expect(plural(1, 'patient')).toBe('1 patient');
    expect(plural(2, 'patient')).toBe('2 patients');
    expect(plural(0, 'patient')).toBe('0 patients');
    expect(plural(1, 'reply', 'replies')).toBe('1 reply');
    expect(plural(3, 'reply', 'replies')).toBe('3 replies');
  });
});
