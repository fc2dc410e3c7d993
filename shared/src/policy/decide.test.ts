import { describe, expect, it } from 'vitest';
import { decide, isInternal } from './decide.ts';
import { DEFAULT_POLICY, PolicySchema, type Policy, type RecipientInfo } from './schema.ts';
import {
  HEALTH_TYPES,
  IDENTIFIER_TYPES,
  type Finding,
  type MessageScan,
  type PhiType,
} from '../phi/types.ts';

// decide() is pure over a MessageScan, so the table is tested with scans built by hand: the detector's
// own accuracy is tested beside the detector.
function f(type: PhiType, text: string, extra: Partial<Finding> = {}): Finding {
  return { type, start: 0, end: text.length, text, confidence: 0.9, reason: 'test', ...extra };
}
function scanOf(...findings: Finding[]): MessageScan {
  const types = [...new Set(findings.map((x) => x.type))];
  return {
    fields: findings.length ? [{ field: 'body', findings }] : [],
    types,
    hasIdentifier: types.some((t) => (IDENTIFIER_TYPES as readonly string[]).includes(t)),
    hasHealth: types.some((t) => (HEALTH_TYPES as readonly string[]).includes(t)),
    hasCrisis: findings.some((x) => x.type === 'CRISIS' && x.grade !== 'negated'),
  };
}
const policy = (p: Partial<Policy> = {}): Policy => ({ ...DEFAULT_POLICY, ...p });
const ext: RecipientInfo[] = [{ email: 'someone@gmail.com' }];
const patient: RecipientInfo[] = [{ email: 'jd@gmail.com', isPatient: true }];
const internal: RecipientInfo[] = [
  { email: 'Dr Lee <lee@sunrise-therapy.org>' },
  { email: 'ops@mail.sunrise-therapy.org' },
];

describe('decide', () => {
  it('encrypts a name with a diagnosis to an external recipient under the default (opt-out) policy', () => {
    const d = decide(DEFAULT_POLICY, scanOf(f('NAME', 'Jane Roe'), f('DIAGNOSIS', 'Depression')), ext);
    expect(d.decision).toBe('encrypt');
    expect(d.phi).toBe(true);
    expect(d.reasons[0]).toBe('Names a patient and a diagnosis: depression.');
    expect(d.externalRecipients).toEqual(['someone@gmail.com']);
  });

  it('never puts an identifier’s value in a reason, only its type and the health term', () => {
    const d = decide(
      DEFAULT_POLICY,
      scanOf(
        f('NAME', 'Jane Roe'),
        f('PHONE', '617-555-0143'),
        f('MEDICATION', 'sertraline 50 mg'),
        f('TREATMENT', 'CBT'),
      ),
      ext,
    );
    const all = d.reasons.join(' ');
    expect(all).not.toContain('Jane');
    expect(all).not.toContain('555');
    expect(all).toContain('a medication: sertraline 50 mg');
    expect(decide(DEFAULT_POLICY, scanOf(f('NAME', 'Jane'), f('MEDICATION', 'Zoloft')), ext).reasons[0]).toBe(
      'Names a patient and a medication: Zoloft.',
    );
    expect(all).toContain('a treatment: CBT');
    expect(all).toContain('a phone number');
  });

  it('says so when the only name is the recipient’s', () => {
    const scan: MessageScan = {
      fields: [
        { field: 'to', findings: [f('NAME', 'Jane Roe')] },
        { field: 'body', findings: [f('DIAGNOSIS', 'PTSD')] },
      ],
      types: ['NAME', 'DIAGNOSIS'],
      hasIdentifier: true,
      hasHealth: true,
      hasCrisis: false,
    };
    expect(decide(DEFAULT_POLICY, scan, ext).reasons[0]).toBe(
      'Addressed to a named person and mentions a diagnosis: PTSD.',
    );
  });

  it('warns instead of encrypting under the opt-in policy', () => {
    const d = decide(policy({ mode: 'opt_in' }), scanOf(f('MRN', 'MRN 12345678'), f('ICD10', 'F32.1')), ext);
    expect(d.decision).toBe('warn');
    expect(d.reasons[0]).toBe('Contains a medical record number and a diagnosis code: F32.1.');
  });

  it('allows PHI, with a reason, when every recipient is internal', () => {
    const p = policy({ internalDomains: ['sunrise-therapy.org'] });
    const d = decide(p, scanOf(f('NAME', 'Jane Roe'), f('DIAGNOSIS', 'PTSD')), internal);
    expect(d.decision).toBe('allow');
    expect(d.phi).toBe(true);
    expect(d.reasons.join(' ')).toMatch(/internal/);
    expect(d.externalRecipients).toEqual([]);
  });

  it('encrypts when one recipient of several is external', () => {
    const p = policy({ internalDomains: ['sunrise-therapy.org'] });
    const d = decide(p, scanOf(f('NAME', 'Jane Roe'), f('DIAGNOSIS', 'PTSD')), [...internal, ...ext]);
    expect(d.decision).toBe('encrypt');
    expect(d.externalRecipients).toEqual(['someone@gmail.com']);
  });

  it('does not treat a look-alike domain as internal', () => {
    expect(isInternal('a@sunrise-therapy.org', ['sunrise-therapy.org'])).toBe(true);
    expect(isInternal('a@EU.Sunrise-Therapy.org', ['@sunrise-therapy.org'])).toBe(true);
    expect(isInternal('a@evilsunrise-therapy.org', ['sunrise-therapy.org'])).toBe(false);
    expect(isInternal('a@sunrise-therapy.org.evil.com', ['sunrise-therapy.org'])).toBe(false);
    expect(isInternal('sunrise-therapy.org', ['sunrise-therapy.org'])).toBe(false);
  });

  it('treats health content alone in mail to a known patient as PHI', () => {
    const d = decide(DEFAULT_POLICY, scanOf(f('TREATMENT', 'therapy session')), patient);
    expect(d.decision).toBe('encrypt');
    expect(d.reasons[0]).toBe('Sent to a known patient; mentions a treatment: therapy session.');
  });

  it('treats an identifier alone in mail to a known patient as PHI', () => {
    const d = decide(DEFAULT_POLICY, scanOf(f('DATE', 'March 3')), patient);
    expect(d.decision).toBe('encrypt');
    expect(d.reasons[0]).toBe('Sent to a known patient; contains a date.');
  });

  it('allows health content with no identifier to an unknown recipient (a newsletter)', () => {
    const d = decide(
      DEFAULT_POLICY,
      scanOf(f('TREATMENT', 'stress management'), f('DIAGNOSIS', 'anxiety')),
      ext,
    );
    expect(d.decision).toBe('allow');
    expect(d.phi).toBe(false);
    expect(d.reasons[0]).toMatch(/nothing that identifies a person/);
  });

  it('does not count an age under 90 (AGE) as an identifier: age plus health content is decided as without it', () => {
    const withAge = decide(
      DEFAULT_POLICY,
      scanOf(f('AGE', '34-year-old'), f('DIAGNOSIS', 'depression')),
      ext,
    );
    const without = decide(DEFAULT_POLICY, scanOf(f('DIAGNOSIS', 'depression')), ext);
    expect(withAge.decision).toBe('allow');
    expect(withAge.phi).toBe(false);
    expect(withAge.reasons).toEqual(without.reasons);
    // Alone, to a known patient, it is not an identifier either; an age over 89 is.
    expect(decide(DEFAULT_POLICY, scanOf(f('AGE', '34')), patient).decision).toBe('allow');
    expect(
      decide(DEFAULT_POLICY, scanOf(f('AGE_OVER_89', '93-year-old'), f('DIAGNOSIS', 'depression')), ext)
        .decision,
    ).toBe('encrypt');
    // With a real identifier the message is PHI, and the reason does not name the age.
    const named = decide(
      DEFAULT_POLICY,
      scanOf(f('NAME', 'Jane Roe'), f('AGE', '34'), f('DIAGNOSIS', 'depression')),
      ext,
    );
    expect(named.decision).toBe('encrypt');
    expect(named.reasons[0]).toBe('Names a patient and a diagnosis: depression.');
  });

  it('does not let a date, ZIP code or web address alone make health content PHI', () => {
    const d = decide(
      DEFAULT_POLICY,
      scanOf(
        f('DIAGNOSIS', 'anxiety'),
        f('DATE', 'March 3'),
        f('ZIP', '02139'),
        f('URL', 'https://example.org'),
      ),
      ext,
    );
    expect(d.decision).toBe('allow');
    expect(d.reasons[0]).toContain('a date, a web address and a ZIP code');
  });

  it('counts a date of birth as an identifier that makes health content PHI on its own', () => {
    const d = decide(
      DEFAULT_POLICY,
      scanOf(f('DIAGNOSIS', 'PTSD'), f('DATE', '4/2/1980', { birth: true })),
      ext,
    );
    expect(d.decision).toBe('encrypt');
    // An event date beside it is still weak: the birth date is what decides.
    expect(decide(DEFAULT_POLICY, scanOf(f('DIAGNOSIS', 'PTSD'), f('DATE', '4/2/2027')), ext).decision).toBe(
      'allow',
    );
  });

  it('allows identifiers without health content', () => {
    const d = decide(DEFAULT_POLICY, scanOf(f('NAME', 'Jane Roe'), f('PHONE', '617-555-0143')), ext);
    expect(d.decision).toBe('allow');
    expect(d.reasons).toEqual(['Contains a name and a phone number but no health content: not PHI.']);
  });

  it('allows an empty scan with "No PHI found."', () => {
    expect(decide(DEFAULT_POLICY, scanOf(), ext)).toEqual({
      decision: 'allow',
      reasons: ['No PHI found.'],
      phi: false,
      externalRecipients: ['someone@gmail.com'],
    });
  });

  it('blocks a block-listed type whatever the recipients, even internal ones', () => {
    const p = policy({ blockTypes: ['SSN'], internalDomains: ['sunrise-therapy.org'] });
    const d = decide(p, scanOf(f('SSN', '123-45-6789')), internal);
    expect(d.decision).toBe('block');
    expect(d.reasons[0]).toMatch(/Social Security number.*never allows/);
    expect(d.reasons.join(' ')).not.toContain('6789');
  });

  it('encrypts crisis language with an identifier and adds a crisis reason', () => {
    const d = decide(
      DEFAULT_POLICY,
      scanOf(f('NAME', 'Jane Roe'), f('CRISIS', 'want to kill myself', { grade: 'first_person' })),
      ext,
    );
    expect(d.decision).toBe('encrypt');
    expect(d.reasons[0]).toBe('Names a patient and crisis language.');
    expect(d.reasons.some((r) => r.startsWith('Contains crisis language'))).toBe(true);
    // The crisis wording itself is not repeated in reasons.
    expect(d.reasons.join(' ')).not.toContain('kill');
  });

  it('encrypts first-person crisis language even with no identifier and no recipient information', () => {
    const d = decide(DEFAULT_POLICY, scanOf(f('CRISIS', 'end my life', { grade: 'first_person' })), ext);
    expect(d.decision).toBe('encrypt');
    expect(d.phi).toBe(true);
    expect(d.reasons[0]).toMatch(/crisis language in the first person/);
    expect(d.reasons.some((r) => r.startsWith('Contains crisis language (suicide or self-harm)'))).toBe(true);
  });

  it('treats third-person crisis language without identifiers as health content only, with the crisis reason', () => {
    const d = decide(
      DEFAULT_POLICY,
      scanOf(f('CRISIS', 'thoughts of suicide', { grade: 'third_person' })),
      ext,
    );
    expect(d.decision).toBe('allow');
    expect(d.reasons.some((r) => r.startsWith('Contains crisis language'))).toBe(true);
  });

  it('does not add the crisis reason for negated crisis language, which is still health content', () => {
    const d = decide(DEFAULT_POLICY, scanOf(f('CRISIS', 'not suicidal', { grade: 'negated' })), patient);
    expect(d.decision).toBe('encrypt');
    expect(d.reasons.some((r) => r.startsWith('Contains crisis language'))).toBe(false);
  });

  it('treats a message with no recipients yet as external', () => {
    const d = decide(DEFAULT_POLICY, scanOf(f('NAME', 'Jane Roe'), f('DIAGNOSIS', 'bipolar disorder')), []);
    expect(d.decision).toBe('encrypt');
    expect(d.reasons).toContain('No recipients yet: treated as external.');
  });

  it('lists at most three terms per health type, lower-casing words but keeping acronyms', () => {
    const d = decide(
      DEFAULT_POLICY,
      scanOf(
        f('NAME', 'Jane Roe'),
        f('DIAGNOSIS', 'Depression'),
        f('DIAGNOSIS', 'PTSD'),
        f('DIAGNOSIS', 'depression'),
        f('DIAGNOSIS', 'OCD'),
        f('DIAGNOSIS', 'ADHD'),
      ),
      ext,
    );
    expect(d.reasons[0]).toBe('Names a patient and a diagnosis: depression, PTSD, OCD, ….');
  });

  it('strips HTML markup from a health term found in an HTML body', () => {
    const d = decide(DEFAULT_POLICY, scanOf(f('NAME', 'Jane'), f('DIAGNOSIS', 'panic</b>\n disorder')), ext);
    expect(d.reasons[0]).toBe('Names a patient and a diagnosis: panic disorder.');
  });
});

describe('PolicySchema', () => {
  it('rejects a custom pattern that is not a valid regular expression', () => {
    expect(PolicySchema.safeParse({ customPatterns: ['(unclosed'] }).success).toBe(false);
    expect(PolicySchema.safeParse({ customPatterns: ['\\bCASE-\\d{6}\\b'] }).success).toBe(true);
  });

  it('defaults to opt-out encryption with signature exemption', () => {
    expect(DEFAULT_POLICY.mode).toBe('opt_out');
    expect(DEFAULT_POLICY.exemptSignature).toBe(true);
  });
});
