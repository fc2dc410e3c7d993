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
    expect(dates('Remains on CPAP .4%, 5/8. Suctioned for thick secretions.')).toEqual([]);
    expect(dates('Vent settings SIMV 50%, 600x12, & 10/5 overnight.')).toEqual([]);
  });
  it('still takes the date of an event among ventilator words', () => {
    expect(dates('Mech vent via trach (placed 8/21), PEEP 5.')).toEqual(['8/21']);
    expect(dates('On CPAP; plan to wean for extubation 11/4.')).toEqual(['11/4']);
  });
  it('does not take a murmur grade or a formula strength for a date', () => {
    expect(dates('HR 70s, +2/6 SEM at the apex; tube feeds at 3/4 str.')).toEqual([]);
  });
});
