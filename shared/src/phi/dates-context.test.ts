import { describe, expect, it } from 'vitest';
import { scan } from './scan.ts';

const dates = (text: string): string[] =>
  scan(text)
    .filter((f) => f.type === 'DATE')
    .map((f) => f.text);

describe('scan: month/day dates in clinical notes', () => {
  it('takes a zero-padded day and a date glued to a label', () => {
    expect(dates('EF 30% (4/02), on home O2.')).toEqual(['4/02']);
    expect(dates('HPI:9/14 fall at home, hip pain.')).toEqual(['9/14']);
  });
  it('does not take pain scores out of 10 for dates', () => {
    expect(dates('c/o 6/10 low back pain, gave tylenol.')).toEqual([]);
    expect(dates('Pt rates pain #7/10 after ambulating.')).toEqual([]);
    expect(dates('Chest pressure 4/10, EKG done.')).toEqual([]);
  });
  it('does not take ventilator settings a few words after the mode for dates', () => {
    expect(dates('Kept on CPAP .6%, 7/9 overnight; sputum thin and white.')).toEqual([]);
    expect(dates('Vent settings SIMV 50%, 600x12, & 10/5 overnight.')).toEqual([]);
  });
  it('still takes the date of an event among ventilator words', () => {
    expect(dates('Vented through the trach (placed 9/3), PEEP 8.')).toEqual(['9/3']);
    expect(dates('On CPAP; aiming for extubation 12/2 if gases allow.')).toEqual(['12/2']);
  });
  it('does not take a murmur grade or a formula strength for a date', () => {
    expect(dates('HR 70s, +2/6 SEM at the apex; tube feeds at 3/4 str.')).toEqual([]);
  });
});

describe('scan: ordinal days and day ranges', () => {
  it('takes an ordinal day after "it\'s the", "today is the", "through the"', () => {
    expect(dates('Asked the date, she said "it\'s the 14th."')).toEqual(['14th']);
    expect(dates('Today is the 3rd; groups run through the 21st.')).toEqual(['3rd', '21st']);
  });
  it('does not take a rank after "is"/"was" for a day', () => {
    expect(dates('She is the 3rd of 5 children.')).toEqual([]);
    expect(dates('He was the 2nd, after his brother.')).toEqual([]);
    expect(dates('Office is on the 5th floor.')).toEqual([]);
  });
  it('takes a range of days before a month name, with a two-digit year after a comma', () => {
    expect(dates('night shift\n4->5 dec, 97\n1900 - 0700')).toEqual(['4->5 dec, 97']);
    expect(dates('Away 3-5 March and 12 to 14 Oct 2020.')).toEqual(['3-5 March', '12 to 14 Oct 2020']);
    expect(dates('09 Jun, 19 0700->1900')).toEqual(['09 Jun, 19']);
  });
});

describe('scan: more date shapes in notes', () => {
  it('takes a date after the antecubital site of a line ("L AC 3/27")', () => {
    expect(dates('ACCESS: MIDLINE PUT IN L AC 3/27, ARTERIAL LINE RIGHT WRIST.')).toEqual(['3/27']);
  });
  it('still does not take A/C ventilator settings for a date', () => {
    expect(dates('Vent: AC 12/5, FiO2 40%, sats stable.')).toEqual([]);
  });
  it('takes a month-day with a hyphen after "on"/"since" when the phrase closes', () => {
    expect(dates('Booked for the OR on 6-9 to revise the graft.')).toEqual(['6-9']);
    expect(dates('No stool since 3-14.')).toEqual(['3-14']);
  });
  it('does not take ranges of doses, flows or times for a hyphenated date', () => {
    expect(dates('Remains on 2-4 L NC, sats 94%.')).toEqual([]);
    expect(dates('HR 7-8 beats of VT noted.')).toEqual([]);
    expect(dates('Due to void from 7-8 am.')).toEqual([]);
  });
  it('takes a small month/day after "post" or "s/p"', () => {
    expect(dates('HCT 31 post 2/3 transfusion, recheck at 6.')).toEqual(['2/3']);
  });
  it('takes a second two-digit year joined to a history year', () => {
    expect(dates('PMH: stroke in 97 and 03 with residual weakness.')).toEqual(['97', '03']);
  });
  it('does not take a count joined to a history year for a year', () => {
    expect(dates('PMH: MI in 89 and 3 stents since.')).toEqual(['89']);
  });
});

describe('scan: pressures before a ventilator mode, and blood-gas series', () => {
  it('does not take pressures written right before the mode for a date', () => {
    expect(dates('ABG WORSE, PLACED ON 12/5 BIPAP AT 50%.')).toEqual([]);
    expect(dates('Weaned from 10/5 IPS/CPAP to a face tent.')).toEqual([]);
  });
  it('still takes a date before other words', () => {
    expect(dates('Extubated on 8/5 without difficulty.')).toEqual(['8/5']);
  });
  it('does not take the end of a blood-gas series for an IP address', () => {
    expect(
      scan('gas after the rate change: 7.38/41/6.52.28.4, no further changes.').filter(
        (f) => f.type === 'IP',
      ),
    ).toEqual([]);
  });
});

describe('scan: ranges of month/day dates and ordinal days after clinical events', () => {
  it('takes a range of month/day dates as one date', () => {
    expect(dates('Seen 5/7-5/9 in clinic; next visit 6/12 - 6/14.')).toEqual(['5/7-5/9', '6/12 - 6/14']);
  });
  it('does not take a blood-pressure range, a setting range or a fraction range for dates', () => {
    expect(dates('BP 120/80-130/90 overnight.')).toEqual([]);
    expect(dates('PS 10/5-12/5 trial this am.')).toEqual([]);
    expect(dates('Take 1/2-3/4 tab at night.')).toEqual([]);
  });
  it('takes an ordinal day after "admitted", "discharged"', () => {
    expect(dates('Admitted the 4th, discharged the 9th.')).toEqual(['4th', '9th']);
  });
  it('does not take a rank after "born" for a day', () => {
    expect(dates('She was born the 3rd of 5 kids.')).toEqual([]);
  });
});

describe('scan: dates of birth', () => {
  const dateFindings = (text: string) => scan(text).filter((f) => f.type === 'DATE');
  it('marks a date after DOB, D.O.B., date of birth, birthdate or born (on) as a date of birth', () => {
    for (const text of [
      'DOB: 04/02/1980, PTSD',
      'Pt J.S., D.O.B. 4/2/1980',
      'date of birth 1971-03-03',
      'Birthdate: March 3, 1971',
      'she was born on March 3, 1971',
    ])
      expect(dateFindings(text).map((f) => f.birth)).toEqual([true]);
  });
  it('does not mark other dates', () => {
    for (const text of [
      'Seen on 04/02/2026 for follow-up',
      'The workshop is March 3, 2027',
      'DOB verified. Next visit 5/1/2026',
    ])
      expect(dateFindings(text).every((f) => f.birth === undefined)).toBe(true);
  });
});
