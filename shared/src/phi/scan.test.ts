import { describe, expect, it } from 'vitest';
import { scan } from './scan.ts';
import type { Finding, PhiType } from './types.ts';

const types = (fs: Finding[]): PhiType[] => fs.map((f) => f.type);
const find = (text: string, type: PhiType): Finding[] => scan(text).filter((f) => f.type === type);
const texts = (text: string, type: PhiType): string[] => find(text, type).map((f) => f.text);

describe('scan: identifiers', () => {
  it('finds names from titles, greetings, relatives, credentials and first+last pairs', () => {
    expect(texts('Dear Maria Gonzalez, thank you.', 'NAME')).toEqual(['Maria Gonzalez']);
    expect(texts('Spoke with Dr. Okafor about the plan.', 'NAME')).toEqual(['Okafor']);
    expect(texts('Her daughter Priya called twice.', 'NAME')).toEqual(['Priya']);
    expect(texts('Notes reviewed by Emily Hartwell, RN', 'NAME')).toEqual(['Emily Hartwell']);
    expect(texts('MR. ALDO KRZEMINSKI IS A 71 YR OLD MAN SEEN FOR SYNCOPE.', 'NAME')).toEqual([
      'ALDO KRZEMINSKI',
    ]);
  });
  it('finds dates in several formats and rejects impossible ones', () => {
    expect(texts('Seen on 3/14/2024 and 2024-02-29 and March 5th, 2023.', 'DATE')).toEqual([
      '3/14/2024',
      '2024-02-29',
      'March 5th, 2023',
    ]);
    expect(texts('Follow up on 7/22 please.', 'DATE')).toEqual(['7/22']);
    expect(find('Invalid 2023-02-30 and 13/45/2020.', 'DATE')).toEqual([]);
  });
  it('finds phones (NANP, E.164, UK) and faxes, and rejects invalid NANP', () => {
    expect(texts('Call (617) 555-0142 or +44 20 7946 0958.', 'PHONE')).toEqual([
      '(617) 555-0142',
      '+44 20 7946 0958',
    ]);
    expect(texts('Fax: 617-555-0199', 'FAX')).toEqual(['617-555-0199']);
    expect(find('Order 117-555-0142 shipped.', 'PHONE')).toEqual([]);
  });
  it('finds e-mail, URL and IP addresses', () => {
    expect(texts('Write to jane.doe@example.org today.', 'EMAIL')).toEqual(['jane.doe@example.org']);
    expect(texts('See https://portal.example.com/p/123.', 'URL')).toEqual([
      'https://portal.example.com/p/123',
    ]);
    expect(texts('From 192.168.1.20 and 2001:db8::8a2e:370:7334 at 10:30:00.', 'IP')).toEqual([
      '192.168.1.20',
      '2001:db8::8a2e:370:7334',
    ]);
  });
  it('finds SSNs that pass SSA rules only', () => {
    expect(texts('SSN 123-45-6780', 'SSN')).toEqual(['123-45-6780']);
    expect(find('SSN 666-45-6780', 'SSN')).toEqual([]);
  });
  it('finds labelled MRN, health plan, account, licence, vehicle, device and other ids', () => {
    expect(texts('MRN: 00482913', 'MRN')).toEqual(['00482913']);
    expect(texts('NHS number 943 476 5919', 'MRN')).toEqual(['943 476 5919']);
    expect(texts('Member ID XK4829301', 'HEALTH_PLAN_ID')).toEqual(['XK4829301']);
    expect(texts('Account # 88120045', 'ACCOUNT')).toEqual(['88120045']);
    expect(texts('Card 4111 1111 1111 1111', 'ACCOUNT')).toEqual(['4111 1111 1111 1111']);
    expect(texts('NPI 1234567893, DEA AB1234563', 'LICENSE')).toEqual(['1234567893', 'AB1234563']);
    expect(texts('VIN 1HGCM82633A004352', 'VEHICLE')).toEqual(['1HGCM82633A004352']);
    expect(texts('Pacemaker serial number PX-88231', 'DEVICE')).toEqual(['PX-88231']);
    expect(texts('Case number 2024-11873', 'OTHER_ID')).toEqual(['2024-11873']);
  });
  it('finds addresses, ZIP and ZIP+4, and ages over 89 only', () => {
    const t = 'Lives at 18 Linden Street, Apt 3, Somerville, MA 02144-1234.';
    expect(texts(t, 'ADDRESS')).toEqual(['18 Linden Street, Apt 3, Somerville, MA 02144-1234']);
    expect(texts('Billing office in Somerville, MA 02144-1234; not 02144-0000.', 'ZIP')).toEqual([
      '02144-1234',
    ]);
    expect(texts('A 93-year-old woman and a 45 year old man.', 'AGE_OVER_89')).toEqual(['93-year-old']);
    expect(texts('Admitted to Tilbury Hospital overnight.', 'ADDRESS')).toEqual(['Tilbury Hospital']);
  });
});

describe('scan: context rules', () => {
  it('grows an address from its street line over unit, city, state, ZIP and country lines', () => {
    const t = 'Please send it to 4 Harbour Road\nSuite 12\nPortsmouth, NH 03801\nUSA? Thanks.';
    expect(texts(t, 'ADDRESS')).toEqual(['4 Harbour Road\nSuite 12\nPortsmouth, NH 03801\nUSA']);
  });
  it('takes a place after a verb of movement or residence, in prose and in all-caps notes', () => {
    expect(texts('She grew up in Tallahassee and flew to Reykjavik last week.', 'ADDRESS')).toEqual([
      'Tallahassee',
      'Reykjavik',
    ]);
    expect(
      texts('72 YO MALE TRANSFERRED TO GH FROM OUTSIDE HOSPITAL FOR CATH. NO ISSUES OVERNIGHT.', 'ADDRESS'),
    ).toEqual(['GH']);
  });
  it('spreads a name or place found with a strong cue to its other mentions', () => {
    const t =
      'DR. KOWALCZYK AT BEDSIDE. PLAN REVIEWED WITH KOWALCZYK AND TEAM. PT SEEN AT MERCY HOSPITAL, MERCY RECORDS REQUESTED.';
    expect(texts(t, 'NAME')).toEqual(['KOWALCZYK', 'KOWALCZYK']);
    expect(texts(t, 'ADDRESS')).toEqual(['MERCY HOSPITAL', 'MERCY']);
  });
  it('finds names from introductions, labels, initials and speaker lines', () => {
    expect(texts('Hi, my name is Oksana Wiśniewska.', 'NAME')).toEqual(['Oksana Wiśniewska']);
    expect(texts('Report reviewed per W. Tarrant this morning.', 'NAME')).toEqual(['W. Tarrant']);
    expect(texts('Heather: I will call you back.', 'NAME')).toEqual(['Heather']);
  });
  it('reads month/two-digit-year dates and ordinal days but not vent settings or step counts', () => {
    expect(texts('S/P CABG 11/92. Seen on the 11th.', 'DATE')).toEqual(['11/92', '11th']);
    expect(find('Weaned to CPAP 8/5, then turned on 1st step surface.', 'DATE')).toEqual([]);
  });
  it('keeps a name next to a drug at a sentence end', () => {
    const f = scan('Hold titration per Dr. Okonkwo. Milrinone drip at 0.25 mcg.');
    expect(f.map((x) => [x.type, x.text])).toEqual([
      ['NAME', 'Okonkwo'],
      ['MEDICATION', 'Milrinone'],
    ]);
  });
  it('does not take clinical abbreviations in all-caps notes for names', () => {
    const t =
      'NEURO: PERRL. RESP: LS CLEAR. CV: NSR, NO VEA. ON NEO AND MAG REPLETED. PA LINE IN PLACE. HO AWARE.';
    expect(find(t, 'NAME')).toEqual([]);
  });
});

describe('scan: health content', () => {
  it('finds mental-health diagnoses, misspellings included', () => {
    expect(texts('History of bipolar II and PTSD; also depresion.', 'DIAGNOSIS')).toEqual([
      'bipolar II',
      'PTSD',
      'depresion',
    ]);
  });
  it('finds medications in any case, brand and generic, misspelled, with doses', () => {
    expect(texts('Started Zoloft 50 mg daily, then switched to lexapro.', 'MEDICATION')).toEqual([
      'Zoloft 50 mg daily',
      'lexapro',
    ]);
    expect(texts('She takes sertralline at night.', 'MEDICATION')).toEqual(['sertralline']);
  });
  it('finds ICD-10 codes (F chapter without a cue, others with one) and CPT codes in context', () => {
    expect(texts('Dx F41.1 today.', 'ICD10')).toEqual(['F41.1']);
    expect(texts('ICD-10 code E11.9 noted.', 'ICD10')).toEqual(['E11.9']);
    expect(find('Seat A12 on flight B52.', 'ICD10')).toEqual([]);
    expect(texts('Billed CPT 90837 for the session.', 'CPT')).toEqual(['90837']);
    expect(find('Our office is at suite 90837.', 'CPT')).toEqual([]);
  });
  it('finds treatments', () => {
    expect(texts('We will continue DBT and EMDR; lab results attached.', 'TREATMENT')).toEqual([
      'DBT',
      'EMDR',
      'lab results',
    ]);
  });
});

describe('scan: recall rules', () => {
  it('finds years in past-history lists and month phrases', () => {
    expect(texts('PMH: CABG 88, redo CABG 95, MI 88, HTN.', 'DATE')).toEqual(['88', '95', '88']);
    expect(texts('She moved here in sept. and started care.', 'DATE')).toEqual(['sept']);
    expect(texts('Treated in MARCH OF 1998 for pneumonia.', 'DATE')).toEqual(['MARCH OF 1998']);
    expect(texts('Hx: took 2 tabs in 30 min.', 'DATE')).toEqual([]);
  });
  it('finds countries and states as places after cues and in address blocks', () => {
    expect(texts('They moved here from mongolia in spring.', 'ADDRESS')).toEqual(['mongolia']);
    expect(texts('Transferred from Ohio yesterday.', 'ADDRESS')).toEqual(['Ohio']);
    expect(texts('Jordan called about the bill.', 'ADDRESS')).toEqual([]);
    expect(texts('Write to me at home:\nHallstatt\nAustria', 'ADDRESS')).toEqual(['Hallstatt', 'Austria']);
    expect(texts('Best regards,\nSweden', 'ADDRESS')).toEqual([]);
    expect(texts('She studied at the University of TROMSDALEN.', 'ADDRESS')).toEqual(['TROMSDALEN']);
  });
  it('finds international street forms and military ship mail', () => {
    expect(texts('Send it to USNS Harmon\nFPO AP 96601 please.', 'ADDRESS')).toEqual([
      'USNS Harmon\nFPO AP 96601',
    ]);
    expect(texts('MAP up to 62 by 0200 with volume.', 'ADDRESS')).toEqual([]);
  });
  it('finds clinicians after role abbreviations and doctor titles', () => {
    expect(texts('NP KOWALCZYK MADE AWARE, FLUIDS HUNG.', 'NAME')).toEqual(['KOWALCZYK']);
    expect(texts('Potassium repleted, dr. mania aware.', 'NAME')).toEqual(['mania']);
    expect(texts('Signed by Dr. Foley today.', 'NAME')).toEqual(['Foley']);
    expect(texts('Foley catheter draining well.', 'NAME')).toEqual([]);
    expect(texts('Circuit changed, no issues.\nGavin Foley CRT', 'NAME')).toEqual(['Gavin Foley']);
    expect(texts('Jackson Pratt drain in place.', 'NAME')).toEqual([]);
  });
  it('finds names after reporting verbs, before people verbs and as relatives in parentheses', () => {
    expect(texts('"That is the plan," says Okonkwo.', 'NAME')).toEqual(['Okonkwo']);
    expect(texts('Brannagh shouted at the driver.', 'NAME')).toEqual(['Brannagh']);
    expect(texts('Currently lives alone.', 'NAME')).toEqual([]);
    expect(texts('Her grandfather was called Mirko Vukadin.', 'NAME')).toEqual(['Mirko Vukadin']);
    expect(texts('It was called Friday Night.', 'NAME')).toEqual([]);
    expect(texts('Tomasz Wierzbicki (son) cell 410-555-0199', 'NAME')).toEqual(['Tomasz Wierzbicki']);
  });
});

describe('scan: crisis language', () => {
  const grade = (t: string): Finding['grade'][] => find(t, 'CRISIS').map((f) => f.grade);
  it('grades first-person suicidal language', () => {
    expect(grade('I want to kill myself tonight.')).toEqual(['first_person']);
  });
  it('grades negation', () => {
    expect(grade("I'm not suicidal, just tired.")).toEqual(['negated']);
    expect(grade('Client denies suicidal ideation.')).toEqual(['negated']);
  });
  it('grades third person', () => {
    expect(grade('My friend said she wanted to kill herself.')).toEqual(['third_person']);
  });
  it('grades history', () => {
    expect(grade('Years ago I used to cut myself.')).toEqual(['historical']);
    expect(grade('I tried to kill myself years ago.')).toEqual(['historical']);
    expect(grade('When I was a teen I wanted to die.')).toEqual(['historical']);
  });
  it('grades first person in lower case, shorthand and misspellings', () => {
    for (const t of [
      'i want to die',
      "I've been cutting myself again",
      'i want to kill myself',
      'I have no reason to live anymore',
      "honestly i'm better off dead",
      'im so sucidal today',
      'I feel suicidel',
      'She asked me if I wanted to die.',
    ])
      expect(grade(t), t).toEqual(['first_person']);
  });
  it('grades third person by the subject nearest the phrase', () => {
    for (const t of [
      'My friend said she wanted to die',
      'my sister wanted to die last week',
      'He told me he has no reason to live.',
      'They said they wanted to end it all',
      'My brother keeps saying he wants to kill himself',
    ])
      expect(grade(t), t).toEqual(['third_person']);
  });
  it('grades negations', () => {
    for (const t of ["I don't want to die", 'Denies suicidal thoughts.', 'never had thoughts of suicide'])
      expect(grade(t), t).toEqual(['negated']);
  });
  it('does not treat awareness campaigns or crisis-line footers as a person in crisis', () => {
    for (const t of [
      'Suicide prevention month starts Monday.',
      'Join us for World Suicide Prevention Day.',
      'If you or someone you know is struggling, call or text 988.',
      'If you are in crisis, call the crisis line.',
    ])
      expect(grade(t), t).toEqual([]);
  });
});

describe('scan: hard negatives', () => {
  it('does not take hyphenated common words or a line after a greeting as names', () => {
    expect(texts('Hi,\nFollow-up from our call on the plan.', 'NAME')).toEqual([]);
    expect(texts('Thanks,\nFollow-up team', 'NAME')).toEqual([]);
    expect(texts('FOLLOW-UP ARRANGED. CHECK-IN TOMORROW.', 'NAME')).toEqual([]);
    expect(texts('Mary Smith-Jones called about the Check-in.', 'NAME')).toEqual(['Mary Smith-Jones']);
  });
  it('reports nothing in a non-clinical note with dates and capitalised places and brands', () => {
    const t =
      'The conference runs from May 2 to May 4 in Denver. Bring your Apple laptop; the Marriott has parking. Tickets on sale 2024.';
    expect(types(scan(t)).filter((x) => x !== 'DATE' && x !== 'ADDRESS')).toEqual([]);
    expect(find(t, 'NAME')).toEqual([]);
  });
  it('reports no identifiers or diagnoses in a practice newsletter about stress management', () => {
    const t =
      'Spring newsletter: five ways to manage stress at work. Take short breaks, breathe slowly, and sleep well. ' +
      'Our group workshop on mindfulness meets Thursdays. Everyone feels anxiety sometimes; small habits help. Reply to unsubscribe.';
    expect(scan(t)).toEqual([]);
  });
  it('does not read fractions, blood pressure or doses as dates', () => {
    expect(find('Take 1/2 tab. BP 120/80.', 'DATE')).toEqual([]);
  });
});

describe('scan: options', () => {
  it('drops findings inside allow-listed text (signature, practice phone)', () => {
    const t = 'Call us at (617) 555-0100.\nJordan Lee, LICSW';
    expect(scan(t, { allowList: ['(617) 555-0100', 'Jordan Lee, LICSW'] })).toEqual([]);
  });
  it('adds custom keywords as DIAGNOSIS and custom patterns as OTHER_ID', () => {
    const f = scan('Ref CASE-7781 re: gambling urges', {
      customKeywords: ['gambling urges'],
      customPatterns: ['CASE-\\d{4}'],
    });
    expect(f.map((x) => [x.type, x.text])).toEqual([
      ['OTHER_ID', 'CASE-7781'],
      ['DIAGNOSIS', 'gambling urges'],
    ]);
  });
  it('skips an invalid custom pattern instead of throwing', () => {
    expect(() => scan('text', { customPatterns: ['(['] })).not.toThrow();
  });
  it('restricts to requested types and applies minConfidence', () => {
    const t = 'Dr. Okafor saw her on 3/14/2024.';
    expect(types(scan(t, { types: ['DATE'] }))).toEqual(['DATE']);
    expect(scan(t, { minConfidence: 0.99 })).toEqual([]);
  });
  it('returns sorted, non-overlapping findings with PHI-free reasons', () => {
    const t = 'Dear Maria Gonzalez, call 617-555-0142 about your sertraline 50 mg.';
    const f = scan(t);
    for (let i = 1; i < f.length; i++) expect(f[i]!.start).toBeGreaterThanOrEqual(f[i - 1]!.end);
    for (const x of f) {
      expect(t.slice(x.start, x.end)).toBe(x.text);
      expect(x.reason).not.toContain(x.text);
    }
  });
});

describe('scan: invisible characters', () => {
  it('finds words with a soft hyphen, zero-width space or joiner inside, with offsets into the text as given', () => {
    const text = 'Jane Roe: depres\u00ADsion is worse; continue Zo\u200Bloft 50 mg and Lith\u2060ium.';
    const found = scan(text);
    for (const f of found) expect(text.slice(f.start, f.end)).toBe(f.text);
    expect(found.map((f) => [f.type, f.text])).toEqual(
      expect.arrayContaining([
        ['DIAGNOSIS', 'depres\u00ADsion'],
        ['MEDICATION', 'Zo\u200Bloft 50 mg'],
      ]),
    );
    expect(found.some((f) => f.type === 'MEDICATION' && f.text === 'Lith\u2060ium')).toBe(true);
  });
});
