import { describe, expect, it } from 'vitest';
import { scan } from './scan.ts';
import type { PhiType } from './types.ts';

const texts = (text: string, type: PhiType): string[] =>
  scan(text)
    .filter((f) => f.type === type)
    .map((f) => f.text);

describe('scan: places given by a phrase', () => {
  it('takes a street corner as one place, in Title case, with numbers and in lower case', () => {
    expect(texts('We can meet at the corner of Maple Avenue and 3rd Street tomorrow.', 'ADDRESS')).toEqual([
      'the corner of Maple Avenue and 3rd Street',
    ]);
    expect(
      texts('Her new place is on the corner of 210 Alder Rd. and Quince Way, near the park.', 'ADDRESS'),
    ).toEqual(['the corner of 210 Alder Rd. and Quince Way']);
    expect(texts('he lives at the corner of birchwood lane and elm.', 'ADDRESS')).toEqual([
      'the corner of birchwood lane and elm',
    ]);
  });
  it('does not take a corner of a room or a page for a place', () => {
    expect(texts('She sat in the corner of the room and cried.', 'ADDRESS')).toEqual([]);
    expect(texts('Sign in the corner of each page and return it.', 'ADDRESS')).toEqual([]);
  });
  it('takes a hometown after "originally from" or "hometown"', () => {
    expect(texts('He is originally from Ostrołęka and moved here for work.', 'ADDRESS')).toEqual([
      'Ostrołęka',
    ]);
    expect(texts('Hometown: Walla Walla', 'ADDRESS')).toEqual(['Walla Walla']);
  });
  it('reads labelled postal codes of other countries (Swedish "123 45", Dutch "1234 AB")', () => {
    expect(texts('Postal code: 114 55', 'ZIP')).toEqual(['114 55']);
    expect(texts('ZIP: 3511 LK', 'ZIP')).toEqual(['3511 LK']);
  });
});

describe('scan: the name heading a contact block', () => {
  it('takes the name line above an address or phone, even when no dictionary knows the name', () => {
    const t =
      'Please update our records:\n\nTeodora Vuksanović\nRetired\n14 Larchmont Road\nDanbury, CT 06810';
    expect(texts(t, 'NAME')).toEqual(['Teodora Vuksanović']);
    const v = 'new contact card\n\nkwame o asante\nsales\n(203) 555-0147';
    expect(texts(v, 'NAME')).toEqual(['kwame o asante']);
  });
  it('does not take an organisation, a job title or a department line for a name', () => {
    const t = 'Riverside Counseling Associates\nBilling Office\n18 Linden Street\nSomerville, MA 02144';
    expect(texts(t, 'NAME')).toEqual([]);
    expect(texts('Front Desk\n(617) 555-0100', 'NAME')).toEqual([]);
    expect(texts('Support group tonight\nCommunity Room B\n(617) 555-0100', 'NAME')).toEqual([]);
  });
});

describe('scan: hospitals by initials or after a preposition of movement', () => {
  it('takes hospital initials after at/to/from or before an emergency or critical-care unit', () => {
    expect(texts('Transferred to BWH overnight for a cath.', 'ADDRESS')).toEqual(['BWH']);
    expect(texts('FOUND DOWN AT HOME -> UMMC EW, THEN ADMITTED.', 'ADDRESS')).toEqual(['UMMC']);
  });
  it('does not take clinical acronyms or all-caps words of the same shape', () => {
    expect(texts('PMH: BPH, LVH. Started NPH at HS. Labs: TSH normal.', 'ADDRESS')).toEqual([]);
    expect(texts('PAIN 8/10, ST CHANGES ON MONITOR. SENT TO CATH LAB.', 'ADDRESS')).toEqual([]);
  });
  it('takes a facility name after "from" or "at" in all-caps notes, not a kind of care', () => {
    expect(texts('PT TRANSFERRED FROM LAKEVIEW HOSPITAL WITH CHF.', 'ADDRESS')).toEqual([
      'LAKEVIEW HOSPITAL',
    ]);
    expect(texts('PLAN: REFER TO CARDIAC REHAB. WANTS TO LEAVE HOSPITAL TODAY.', 'ADDRESS')).toEqual([]);
  });
  it('reads number, street, number as a street line when a unit follows, anywhere in a sentence', () => {
    expect(texts('Please check the following? 2210 Kastanienweg 14 Apt. 3, Thun', 'ADDRESS')).toEqual([
      '2210 Kastanienweg 14 Apt. 3, Thun',
    ]);
  });
});

describe('scan: a repeated name line in a forwarded contact card', () => {
  it('takes a name line that the card repeats above the address, even unknown to the dictionary', () => {
    const t = '> Tavo Quell\n> Brightline Freight\n> Tavo Quell\n> 88 Orchard Road\n> Apt. 4';
    expect(texts(t, 'NAME')).toEqual(['Tavo Quell', 'Tavo Quell']);
  });
  it('does not take an unknown organisation line above an address', () => {
    expect(texts('Brightline Freight\n88 Orchard Road\nApt. 4', 'NAME')).toEqual([]);
  });
});

describe('scan: a state university by its short form', () => {
  it('takes "U Maryland", "U Mass", "Univ of Michigan"', () => {
    expect(
      texts('Heparin nomogram from U Maryland; U Mass consult; Univ of Michigan records.', 'ADDRESS'),
    ).toEqual(['U Maryland', 'U Mass', 'Univ of Michigan']);
  });
  it('does not take "u" for "you" before a state', () => {
    expect(texts('I will send u Texas pics later.', 'ADDRESS')).not.toContain('u Texas');
  });
});

describe('scan: wards named with their number', () => {
  const places = (t: string): string[] => texts(t, 'ADDRESS');
  it('takes a ward word and number after a movement cue or a Plan: label', () => {
    expect(places('PAIN CONTROLLED. TRANSFER ELLSWORTH 4.')).toEqual(['ELLSWORTH']);
    expect(places('Per Hadley 4 RN, pt rested well overnight.')).toEqual(['Hadley']);
    expect(places('plan: PRESCOTT 6 this am if stable')).toEqual(['PRESCOTT']);
    expect(places('ADMITTED TO PRESCOTT7 W/ CHF')).toEqual(['PRESCOTT7']);
  });
  it('leaves numbered things, decimals and measures alone', () => {
    expect(places('Stepped down to level 2. Per protocol 4. Back to stage 1.')).toEqual([]);
    expect(places('GAS BEFORE INTUBATION 7.19/98/51. ABLE TO TOLERATE 3.75 MG.')).toEqual([]);
    expect(places('He walks to Kroger 3 times a week.')).toEqual([]);
  });
});

describe('scan: a town before a comma and a state code', () => {
  const places = (t: string): string[] => texts(t, 'ADDRESS');
  it('takes the town after a place cue when the phrase closes after the state', () => {
    expect(places('COPIES OF FILES FROM FREDERICKSBURG, VA). WILL CALL.')).toEqual(['FREDERICKSBURG']);
    expect(places('She lives in Dover, DE 19901.')).toEqual(['Dover']);
  });
  it('leaves clinical abbreviations and doctors with "MD" alone', () => {
    expect(places('WATCH FOR CP, RISE IN TROPONIN, OR ST CHANGES.')).toEqual([]);
    expect(places('DOBUTAMINE TO CONTINUE, CT OUTPUT.')).toEqual([]);
    expect(texts('Records were sent to Jones, MD.', 'NAME')).toEqual(['Jones']);
  });
});

describe('scan: destinations in notes that are not places', () => {
  const places = (text: string): string[] =>
    scan(text)
      .filter((f) => f.type === 'ADDRESS')
      .map((f) => f.text);
  it('does not take the operating room, rhythms, ventilator modes, the blood bank or a service', () => {
    expect(places('PT BACK FROM O.R. AT 2100, WOUND DRY.')).toEqual([]);
    expect(places('taken back to o.r. for washout.')).toEqual([]);
    expect(places('RHYTHM CHANGED INTO RAF AT 140.')).toEqual([]);
    expect(places('TIRED ON PS, RETURNED TO IMV AT 0200.')).toEqual([]);
    expect(places('Sample sent to BB, crossmatch pending.')).toEqual([]);
    expect(places('now transferred to medicine pending a floor bed.')).toEqual([]);
  });
  it('still takes hospital initials after a verb of movement', () => {
    expect(places('pt sent to gh for a stress test.')).toEqual(['gh']);
  });
});

describe('scan: places named by a small phrase around them', () => {
  const places = (text: string): string[] =>
    scan(text)
      .filter((f) => f.type === 'ADDRESS')
      .map((f) => f.text);
  it('takes a campus named by its side', () => {
    expect(places('Simulation is booked on East Campus after lunch.')).toEqual(['East Campus']);
  });
  it('does not take a campus without a name', () => {
    expect(places('She lives near the campus and walks to class.')).toEqual([]);
  });
  it('takes a facility name typed in lower case inside parentheses before a capitalised facility word', () => {
    expect(places('Plan: discharge to rehab (saint brendan Memorial) on Friday.')).toEqual([
      'saint brendan Memorial',
    ]);
  });
  it('does not take a kind of care in parentheses for a facility name', () => {
    expect(places('Will go to rehab (cardiac Rehab) on Monday.')).toEqual([]);
  });
  it('takes a relative\'s town after "of"', () => {
    expect(places('Visitors included her nephew Tobiah of Pikesville and a friend.')).toEqual(['Pikesville']);
  });
  it('does not take a generic or common word after a relative\'s name and "of"', () => {
    expect(places('Her sister Ann of course called twice.')).toEqual([]);
  });
  it('takes a town before its state in the same case', () => {
    expect(places('talked her through the glenarm maryland unit routine.')).toEqual(['glenarm']);
    expect(places('Her family farm is outside Wickliffe Kentucky.')).toContain('Wickliffe');
  });
  it('does not take a first name before a state word for a town', () => {
    expect(places('Her aunt Anne Maryland visited today.')).toEqual([]);
    expect(places('Met with Rosalind Georgia about the plan.')).toEqual([]);
  });
  it('does not take a region of a state for a town', () => {
    expect(places('Storms hit western Maryland and northern Virginia hard.').join(' ')).not.toMatch(
      /western|northern/,
    );
  });
  it('takes lower-case hospital initials after at/to/from', () => {
    expect(places('History of CHF, intubated twice that year at bwh. Now stable.')).toEqual(['bwh']);
  });
  it('does not take an interjection or a word of the same shape after "to"', () => {
    expect(places('She said ugh to that, then went to bath time.')).toEqual([]);
  });
  it('takes a place after a trip and "on"', () => {
    expect(places('Had been on vacation on the Outer Banks when the pain began.')).toEqual(['Outer Banks']);
  });
});

describe('scan: more clinical destinations that are not places', () => {
  const places = (text: string): string[] =>
    scan(text)
      .filter((f) => f.type === 'ADDRESS')
      .map((f) => f.text);
  it('does not take an outside hospital, a limb, the patient or a rapid rhythm for a place', () => {
    expect(places('CAME FROM OH LAST NIGHT, CT DONE AT OH.')).toEqual([]);
    expect(places('Swab cx sent from LLE wound today.')).toEqual([]);
    expect(places("Expect sodium to drift back to Pt's baseline by morning.")).toEqual([]);
    expect(places('CV: CAME IN RAPID AF AT 130S, METOPROLOL PUSHED.')).toEqual([]);
  });
  it('does not take a plan of care before "rehab" for a facility', () => {
    expect(places('P: FOLLOW LYTES, BEGIN REHAB, ADVANCE DIET.')).toEqual([]);
    expect(places('she may need ot, and poss rehab once medically cleared.')).toEqual([]);
  });
});

describe('scan: facility names of two facility words or opening with a common word', () => {
  const places = (text: string): string[] =>
    scan(text)
      .filter((f) => f.type === 'ADDRESS')
      .map((f) => f.text);
  it('ends a two-word facility on its second word', () => {
    expect(places('Transferred from Larchwood Medical Center yesterday.')).toEqual([
      'Larchwood Medical Center',
    ]);
    expect(places('Came from Brightwater Health Center by ambulance.')).toEqual([
      'Brightwater Health Center',
    ]);
  });
  it('takes an all-caps facility name that opens with a common word after "from"', () => {
    expect(places('TRANSFERRED FROM GOOD SHEPHERD MEDICAL CENTER. STABLE ON ARRIVAL, VSS.')).toEqual([
      'GOOD SHEPHERD MEDICAL CENTER',
    ]);
  });
  it('does not take "the hospital" or "outside hospital" for a name', () => {
    expect(places('PT CAME FROM THE HOSPITAL. STABLE ON ARRIVAL, VSS, NO ISSUES OVERNIGHT.')).toEqual([]);
    expect(places('PT TRANSFERRED FROM OUTSIDE HOSPITAL. STABLE ON ARRIVAL, VSS.')).toEqual([]);
  });
});

describe('scan: a residence named "House", "Manor" or "Lodge"', () => {
  const places = (text: string): string[] =>
    scan(text)
      .filter((f) => f.type === 'ADDRESS')
      .map((f) => f.text);
  it('takes it after a preposition of movement', () => {
    expect(places('Plan: discharge to Brambleton House next week.')).toEqual(['Brambleton House']);
    expect(places('Admitted from Quillfield Manor with a fever.')).toEqual(['Quillfield Manor']);
  });
  it('does not take an open house, a named house without a preposition, or "the White House"', () => {
    expect(places('Our Open House is on Friday; Brambleton House wins the cup.')).toEqual([]);
    expect(places('They toured the White House last spring.')).toEqual([]);
  });
});

describe('scan: practices and facilities of several facility words', () => {
  const places = (text: string): string[] =>
    scan(text)
      .filter((f) => f.type === 'ADDRESS')
      .map((f) => f.text);
  it('takes a named practice ("... Family Medicine", "... Medical Group")', () => {
    expect(places('Her PCP is at Brookhollow Family Medicine.')).toEqual(['Brookhollow Family Medicine']);
    expect(places('Referred to Tidewell Medical Group for follow-up.')).toEqual(['Tidewell Medical Group']);
  });
  it('does not take a department or a kind of care for a practice', () => {
    expect(places('She trains in the Department of Family Medicine.')).toEqual([]);
    expect(places('Follow up with Primary Care in 2 weeks; go to urgent care if worse.')).toEqual([]);
  });
  it('ends a facility on its last facility word', () => {
    expect(
      places('TAKEN TO ASHGROVE REGIONAL MEDICAL CENTER BY AMBULANCE, VITALS STABLE ON ARRIVAL.'),
    ).toEqual(['ASHGROVE REGIONAL MEDICAL CENTER']);
  });
});
