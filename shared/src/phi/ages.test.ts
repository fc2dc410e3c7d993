import { describe, expect, it } from 'vitest';
import { scan } from './scan.ts';
import { scanMessage } from './message.ts';
import { decide } from '../policy/decide.ts';
import { DEFAULT_POLICY } from '../policy/schema.ts';
import type { PhiType } from './types.ts';

const texts = (text: string, type: PhiType): string[] =>
  scan(text)
    .filter((f) => f.type === type)
    .map((f) => f.text);
const ages = (text: string): string[] => texts(text, 'AGE');

describe('scan: stated ages under 90 (AGE)', () => {
  it('finds "N-year-old", "N years old", spelled-out numbers and ages in months', () => {
    expect(ages('Referred a 27-year-old graduate student.')).toEqual(['27-year-old']);
    expect(ages('Her son is 8 years old and in second grade.')).toEqual(['8 years old']);
    expect(ages('She is a forty-one year old teacher.')).toEqual(['forty-one year old']);
    expect(ages('The baby, now an 18-month-old, sleeps poorly.')).toEqual(['18-month-old']);
    expect(ages('Client is 52 yrs of age.')).toEqual(['52 yrs of age']);
  });
  it('finds clinical shorthand: yo, y/o, y.o., and an age before the sex', () => {
    expect(ages('HPI: 45yo F with panic attacks.')).toEqual(['45yo']);
    expect(ages('Pt is a 63 y/o man seen for insomnia.')).toEqual(['63 y/o']);
    expect(ages('A: 29 y.o. woman, anxious.')).toEqual(['29 y.o.']);
    expect(ages('ID: 34 F, referred by her PCP.')).toEqual(['34']);
    expect(ages('Intake today.\n19 M, college student, low mood.')).toEqual(['19']);
    expect(ages('Pt is a 58 male admitted overnight.')).toEqual(['58']);
  });
  it('finds an age after "age", "aged", "turned" and "I am"', () => {
    expect(ages('Age: 46\nReferral source: self')).toEqual(['46']);
    expect(ages('Her mother passed at the age of 57, which she still grieves.')).toEqual(['57']);
    expect(ages('Started smoking aged 15.')).toEqual(['15']);
    expect(ages('He just turned 30 and feels stuck.')).toEqual(['30']);
    expect(ages("I'll turn 40 next month.")).toEqual(['40']);
    expect(ages("I'm 23, and I have never talked to anyone about this.")).toEqual(['23']);
    expect(ages('It started when she was 12.')).toEqual(['12']);
  });
  it('gives AGE_OVER_89 for the same cues at 90 and over', () => {
    expect(texts('Her grandmother just turned 94.', 'AGE_OVER_89')).toEqual(['94']);
    expect(texts('a ninety-two-year-old widow', 'AGE_OVER_89')).toEqual(['ninety-two-year-old']);
    expect(ages('a ninety-two-year-old widow')).toEqual([]);
  });
  it('does not take durations, quantities, criteria, statistics or things for ages', () => {
    const negatives = [
      'We moved here 34 years ago.',
      'She has worked there for 12 years and has 20 years of experience.',
      'A 5-year plan for the clinic.',
      'Group for ages 18-25; screening from age 65 and older; adults over age 50.',
      'Average age 42 in the cohort; median age: 38; the drinking age 21.',
      "The dial turned 90 degrees. I'm 100% sure. He is 5 minutes away. I was 2 days late.",
      "It's 34F outside, stay warm.",
      'We live in a 100-year-old house.',
      'Used the spare inhaler (which was 6 years old) with no effect.',
      'Take 2 tabs at 8 am; page 34; stage 3 of the workbook.',
      'We enrolled 34 female and 30 male participants.',
      'He is 6\'2" and 180 lbs.',
    ];
    for (const t of negatives) expect({ t, found: ages(t) }).toEqual({ t, found: [] });
  });
  it("does not take the age of a thing over 89 for a person's (AGE_OVER_89)", () => {
    for (const t of [
      'They live in a 100-year-old house.',
      'The 95 year old church bell rang.',
      'We bought the farm; it was 120 years old then.',
    ])
      expect({ t, found: texts(t, 'AGE_OVER_89') }).toEqual({ t, found: [] });
    expect(texts('A 95 year old woman was seen.', 'AGE_OVER_89')).toEqual(['95 year old']);
  });
  it('is not an identifier for the policy: an age and a diagnosis to an outside recipient stay allowed', () => {
    const msg = scanMessage({
      subject: 'Consult question',
      body: 'Quick question about a 34-year-old with depression and insomnia: would you start with CBT-I?',
      to: ['colleague@example.org'],
    });
    expect(msg.types).toContain('AGE');
    expect(msg.hasIdentifier).toBe(false);
    const d = decide(DEFAULT_POLICY, msg, [{ email: 'colleague@example.org' }]);
    expect(d.decision).toBe('allow');
    expect(d.phi).toBe(false);
  });
});
