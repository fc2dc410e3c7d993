import { describe, expect, it } from 'vitest';
import { scanAndDecide, scanOptionsFromPolicy } from './apply.ts';
import { DEFAULT_POLICY, PolicySchema } from './schema.ts';

// End to end through the real detector: text in, decision out.
describe('scanAndDecide', () => {
  it('encrypts a message naming a patient and a diagnosis to an external address, without naming the patient in reasons', () => {
    const { decision } = scanAndDecide(DEFAULT_POLICY, {
      subject: 'Check-in',
      body: 'Dear Jane Roe,\nI am glad the depression has eased since we last spoke.\n',
      to: ['jroe@gmail.com'],
    });
    expect(decision.decision).toBe('encrypt');
    expect(decision.reasons[0]).toMatch(/^Names a patient .*a diagnosis: depression/);
    expect(decision.reasons.join(' ')).not.toMatch(/Jane|Roe/);
  });

  it('does not force a practice newsletter about stress management sent to a list', () => {
    const body = [
      'Hello everyone,',
      '',
      'This month our newsletter is about stress management. Short breathing exercises, a regular sleep',
      'schedule and time outdoors help many people feel calmer. Our free workshop on managing anxiety',
      'and stress runs on Thursday, March 12 at 6 pm. Everyone is welcome; no need to sign up.',
      '',
      'Warm regards,',
      'The Sunrise Therapy team',
      '123 Main Street, Springfield, MA 01101',
      '(413) 555-0100',
    ].join('\n');
    const { decision } = scanAndDecide(DEFAULT_POLICY, {
      subject: 'Sunrise newsletter: managing stress',
      body,
      to: ['newsletter@lists.sunrise-therapy.org'],
    });
    expect(decision.decision).toBe('allow');
    expect(decision.phi).toBe(false);
  });

  it('does not force a newsletter that points readers to the 988 crisis line', () => {
    const body =
      'Reaching out matters. If you or someone you know is having thoughts of suicide, call or text 988 any time.';
    const { decision } = scanAndDecide(DEFAULT_POLICY, {
      subject: 'Mental health awareness',
      body,
      to: ['all@lists.example.org'],
    });
    expect(decision.decision).toBe('allow');
  });

  it('allows everyday mail with dates, places and brands', () => {
    const { decision } = scanAndDecide(DEFAULT_POLICY, {
      subject: 'Lunch Friday?',
      body: 'Want to grab lunch at Chipotle in Boston on Friday, March 6? I can bring the Apple charger back too.',
      to: ['colleague@gmail.com'],
    });
    expect(decision.decision).toBe('allow');
  });

  it('encrypts a patient’s own crisis message forwarded with no other identifier', () => {
    const { decision } = scanAndDecide(DEFAULT_POLICY, {
      body: 'I have been thinking about ending my life.',
    });
    expect(decision.decision).toBe('encrypt');
  });

  it('encrypts the same newsletter when it is sent to a known patient', () => {
    const { decision } = scanAndDecide(
      DEFAULT_POLICY,
      { body: 'Our workshop on managing anxiety runs on Thursday.', to: ['jroe@gmail.com'] },
      [{ email: 'jroe@gmail.com', isPatient: true }],
    );
    expect(decision.decision).toBe('encrypt');
  });

  it('allows PHI to internal colleagues and warns under opt-in', () => {
    const message = {
      body: 'Jane Roe started lithium for bipolar disorder.',
      to: ['dr.lee@sunrise-therapy.org'],
    };
    const internal = PolicySchema.parse({ internalDomains: ['sunrise-therapy.org'] });
    expect(scanAndDecide(internal, message).decision.decision).toBe('allow');
    const optIn = PolicySchema.parse({ mode: 'opt_in' });
    expect(scanAndDecide(optIn, message).decision.decision).toBe('warn');
  });

  it('applies custom keywords and patterns from the policy', () => {
    const policy = PolicySchema.parse({
      customKeywords: ['grief group'],
      customPatterns: ['\\bSRT-\\d{5}\\b'],
    });
    expect(scanOptionsFromPolicy(policy)).toMatchObject({
      customKeywords: ['grief group'],
      customPatterns: ['\\bSRT-\\d{5}\\b'],
    });
    const { scan, decision } = scanAndDecide(policy, {
      body: 'Client SRT-48213 joins the grief group next week.',
      to: ['a@b.com'],
    });
    expect(scan.types).toEqual(expect.arrayContaining(['DIAGNOSIS', 'OTHER_ID']));
    expect(decision.decision).toBe('encrypt');
    expect(
      scanAndDecide(DEFAULT_POLICY, {
        body: 'Client SRT-48213 joins the grief group next week.',
        to: ['a@b.com'],
      }).scan.types,
    ).not.toContain('OTHER_ID');
  });

  it('blocks a block-listed type', () => {
    const policy = PolicySchema.parse({ blockTypes: ['SSN'] });
    const { decision } = scanAndDecide(policy, {
      body: 'Her SSN is 219-09-9999 for the insurance form.',
      to: ['a@b.com'],
    });
    expect(decision.decision).toBe('block');
  });

  it('exempts the clinician’s signature by default, so a health term with only signature identifiers is not PHI', () => {
    const body =
      'Reminder: the mindfulness group for PTSD starts next week.\n\nBest,\nDr. Alice Morgan, PsyD\n(413) 555-0100';
    expect(scanAndDecide(DEFAULT_POLICY, { body, to: ['group@lists.example.org'] }).decision.decision).toBe(
      'allow',
    );
    const noExempt = PolicySchema.parse({ exemptSignature: false });
    expect(scanAndDecide(noExempt, { body, to: ['group@lists.example.org'] }).decision.decision).toBe(
      'encrypt',
    );
  });

  it('takes recipients from to and cc when none are given', () => {
    const policy = PolicySchema.parse({ internalDomains: ['sunrise-therapy.org'] });
    const { decision } = scanAndDecide(policy, {
      body: 'Jane Roe: PTSD, EMDR next week.',
      to: ['lee@sunrise-therapy.org'],
      cc: ['Outside Person <outside@gmail.com>'],
    });
    expect(decision.decision).toBe('encrypt');
    expect(decision.externalRecipients).toEqual(['Outside Person <outside@gmail.com>']);
  });
});
