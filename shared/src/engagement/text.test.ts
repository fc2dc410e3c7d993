import { describe, expect, it } from 'vitest';
import { analyzeReply } from './reply.ts';
import { classifyInquiry, sentenceAround, toneScore } from './text.ts';

describe('classifyInquiry', () => {
  it.each([
    ['Can we reschedule my appointment to Thursday?', 'scheduling'],
    ['I need a refill of my prescription, the pharmacy says it expired.', 'medication'],
    ['I have felt anxious all week and the panic attacks are worse.', 'symptoms'],
    ['I finished the thought record worksheet you gave me.', 'homework'],
    ['My insurance denied the claim, can you send a superbill?', 'billing'],
    ['Could you sign the FMLA paperwork for my employer?', 'administrative'],
    ['Thanks, see you then.', 'other'],
  ])('classifies %j as %s and names the words', (text, type) => {
    const r = classifyInquiry(text);
    expect(r.type).toBe(type);
    if (type !== 'other') expect(r.matches[0]?.words.length).toBeGreaterThan(0);
    expect(r.reasons.length).toBeGreaterThan(0);
  });
  it('does not match keywords inside other words', () => {
    expect(classifyInquiry('The formula was medicinal').type).toBe('other');
  });
  it('puts first-person crisis language above every other type, with the sentence', () => {
    const r = analyzeReply('Can we move my appointment? Some days I want to kill myself.');
    expect(r.inquiry.type).toBe('crisis');
    expect(r.fields.crisis?.grade).toBe('first_person');
    expect(r.fields.crisis?.sentence).toBe('Some days I want to kill myself.');
  });
  it('reports negated crisis language with its grade instead of dropping it', () => {
    const r = analyzeReply("To be clear I'm not suicidal, just exhausted. Can we talk about my medication?");
    expect(r.inquiry.type).toBe('medication');
    expect(r.fields.crisis?.grade).toBe('negated');
    expect(r.inquiry.reasons.join(' ')).toMatch(/negated/);
  });
});

describe('toneScore', () => {
  it('counts negative-affect words per 100 words', () => {
    expect(toneScore('I feel sad and hopeless and tired today').score).toBeCloseTo(37.5, 1);
    expect(toneScore('Great session, thank you').score).toBe(0);
    expect(toneScore('').score).toBe(0);
  });
});

describe('sentenceAround', () => {
  it('cuts at sentence ends', () => {
    const t = 'First one. The middle bit here! Last.';
    expect(sentenceAround(t, 15, 21)).toBe('The middle bit here!');
  });
});
