import { describe, expect, it } from 'vitest';
import { scan } from './scan.ts';

const names = (text: string): string[] =>
  scan(text)
    .filter((f) => f.type === 'NAME')
    .map((f) => f.text);

describe('scan: names after phrases said of people', () => {
  it('takes the agent after "referred by", "seen by", "directed by", even unknown to the dictionary', () => {
    expect(names('She was referred by Oyelaran Adebayo-Tunde for an evaluation.')).toEqual([
      'Oyelaran Adebayo-Tunde',
    ]);
    expect(names('Reviewed by Kasimir P. Wrzesniewski today.')).toEqual(['Kasimir P. Wrzesniewski']);
  });
  it('takes the person after "follow up with", "spoke with", in lower-case mail when a name is known', () => {
    expect(names('Please follow up with Zdravka Petrikova next week.')).toEqual(['Zdravka Petrikova']);
    expect(names('will follow up with amelia r quist re: meds.')).toEqual(['amelia r quist']);
  });
  it('leaves services, teams, acronyms and one unknown word alone', () => {
    expect(names('He was seen by Cardiology and referred by Social Work.')).toEqual([]);
    expect(names('Seen by Acute Pain service overnight.')).toEqual([]);
    expect(names('Follow up with PCP in two weeks; spoke with Intake.')).toEqual([]);
    expect(names('We met with Verizon about the phones.')).toEqual([]);
  });
});

describe('scan: names in lists and dialogues', () => {
  it('takes list items before the first known name ("Oszkar, Hannah, Derek and Paula")', () => {
    expect(names('Group members tonight: Oszkar, Hannah, Derek and Paula.')).toEqual([
      'Oszkar',
      'Hannah',
      'Derek',
      'Paula',
    ]);
  });
  it('takes every one-word speaker of a dialogue once one speaker is a known name', () => {
    expect(names('Zorion: Are you coming?\nMelissa: Not tonight.')).toEqual(['Zorion', 'Melissa']);
  });
  it('does not take roles as speakers', () => {
    expect(names('Therapist: How was the week?\nMelissa: Better.\nCounselor: Good to hear.')).toEqual([
      'Melissa',
    ]);
  });
});

describe('scan: lists that go on from a found name', () => {
  it('takes each capitalised item of a list that starts with a name', () => {
    expect(names('The practice has three partners: Okonkwo, Brandt and Lisle.')).toEqual([
      'Okonkwo',
      'Brandt',
      'Lisle',
    ]);
  });
  it('does not take a list of things after a name', () => {
    expect(names('Dear Priya, Monday and Tuesday work for me.')).toEqual(['Priya']);
  });
});

describe('scan: clinicians named before a credential, relatives with a surname in capitals', () => {
  it('takes a (hyphenated) name before a capitals credential and a verb of what was done', () => {
    expect(names('Resp: 1400- Okafor-Lindqvist MD performed a bronchoscopy at bedside.')).toEqual([
      'Okafor-Lindqvist',
    ]);
    expect(names('Dressing changed per Teodor Varga NP, site clean.')).toEqual(['Teodor Varga']);
  });
  it('does not take a unit or a condition before a credential for a name', () => {
    expect(names('SpO2 93% on 3 Liters NP, resting.')).toEqual([]);
    expect(names('Per Cardiology MD recs, hold the beta blocker.')).toEqual([]);
  });
  it('takes a surname in capitals after a strongly cued first name, not a heading', () => {
    expect(names('Guardian: niece, Patricia QUENNEVILLE, lives out of state.')).toEqual([
      'Patricia QUENNEVILLE',
    ]);
    expect(names('Dear Maria PLAN OF CARE attached.')).toEqual(['Maria']);
  });
});

describe('scan: lower-case names in lower-case notes', () => {
  it('takes two name words when one is unambiguous ("martin carey", "mary theresa")', () => {
    expect(names('spoke w/ social work, then met with oscar lindqvist from chaplaincy.')).toEqual([
      'oscar lindqvist',
    ]);
    expect(names('pt alert. mary theresa from speech therapy in today.')).toEqual(['mary theresa']);
  });
  it('does not take common words that are also names', () => {
    expect(names('pt will rest, bill sent to insurance; may grow stronger.')).toEqual([]);
  });
});

describe('scan: labels and credentials that are not name cues', () => {
  it('does not take the answer after "Client:" or "Parent:" for a name, but keeps a first name there', () => {
    expect(names('Client: Fine. Parent: Better than last week, Mother: Worried about sleep.')).toEqual([]);
    expect(names('Patient: Calm and cooperative today.')).toEqual([]);
    expect(names('Mother: Rosalind called back.')).toEqual(['Rosalind']);
    expect(names('Patient: Frank Miller')).toEqual(['Frank Miller']);
  });
  it('does not take an all-caps clinical word before a credential the line goes on after', () => {
    expect(names('PT WITH HEMIPARESIS, MD PAGED NEURO FOR A LOOK.')).toEqual([]);
    expect(names('FEELS BETTER AFTER TREATMENT, RN WILL WALK PT LATER.')).toEqual([]);
    expect(names('NO DISTRESS AT THIS TIME. K. OSTRANDER RRT')).toEqual(['K. OSTRANDER']);
    expect(names('SPOKE WITH JOHNSON, MD ABOUT PLAN')).toEqual(['JOHNSON']);
  });
});

describe('scan: staff names in clinical-role contexts', () => {
  it('takes capitals before a credential after "per" in all-caps notes when a first name leads', () => {
    expect(names('DRAIN PULLED PER DARNELL OKWUOSA NP. WILL MONITOR.')).toEqual(['DARNELL OKWUOSA']);
    expect(names('O2 WEANED TO 2L PER PROTOCOL NP ORDERS.')).toEqual([]);
  });
  it('takes a first name and an unknown surname before a verb said of staff', () => {
    expect(names('PAUSE OF 3 SEC. IRMA ZURAWSKI AWARE, LYTES SENT.')).toEqual(['IRMA ZURAWSKI']);
    expect(names('Lina Okonjo paged about the labs.')).toEqual(['Lina Okonjo']);
    expect(names('THE MAGNESIUM LEVEL PAGED')).toEqual([]);
  });
  it('takes a capitalised first name after a short role in mixed-case notes', () => {
    expect(names('skin intact, per NP Greta EKG unchanged')).toEqual(['Greta']);
    expect(names('Discussed with the PA Team today.')).toEqual([]);
  });
});

describe('scan: names and places the stop list or a facility word hid', () => {
  it('takes a first name and surname after "Dr." even when both are common words', () => {
    expect(names('The consent was co-signed by Dr. Art Black after rounds.')).toEqual(['Art Black']);
    expect(names('Dr. Will See you now.')).toEqual([]);
  });
  it('takes a facility word after a place taken in all-caps notes', () => {
    const places = scan('PT TAKEN TO MORGAN REGIONAL WHERE TROPONIN POS.')
      .filter((f) => f.type === 'ADDRESS')
      .map((f) => f.text);
    expect(places).toEqual(['MORGAN REGIONAL']);
  });
});

describe('scan: lower-case initials in lower-case notes', () => {
  it('takes a lower-case initial and a surname', () => {
    const found = names('cash counted by nsg (k. whitfield and m. castellano) and locked up.');
    expect(found.join(' ')).toContain('whitfield');
    expect(found.join(' ')).toContain('castellano');
    expect(found).toContain('k');
  });
  it('leaves abbreviations with periods alone', () => {
    expect(names('pt is a. ok. take 2 p.o. q. day; see p. 5, e. coli neg.')).toEqual([]);
  });
});

describe('scan: clinical shorthand that is not a name (nursing-note hard negatives)', () => {
  it('does not take "I & O", "L>R" or a slashed abbreviation for an initial or a name', () => {
    expect(names('Strict I & O. Diuresis to goal.')).toEqual([]);
    expect(names('Effusions on film, L>R. Peak pressures near 30.')).toEqual([]);
    expect(names('NGT D/CED AND DIET STARTED.')).toEqual([]);
  });
  it('still takes an initial and surname after an arrow', () => {
    expect(names('sats drifting -> M. Orlowski PA in to evaluate.')).toEqual(['M. Orlowski']);
  });
  it('does not take a word after "RT" (right) or lower-case "pt" (patient) for a name', () => {
    expect(names('WEAK GRIP IN RT HAND. MOVES LT SIDE.')).toEqual([]);
    expect(names('RT eye red and crusty, team aware.')).toEqual([]);
    expect(names('pt dev a rash on the arm, cream applied.')).toEqual([]);
  });
  it('does not take a unit of oxygen before "NP" (nasal prongs) for a name', () => {
    expect(names('SATS 95% ON 3 LITERS NP.\nCOMFORTABLE AT REST.')).toEqual([]);
  });
  it('does not take a lower-case role before a parenthesised relative for a name', () => {
    expect(names('the health care agent (son) was called and updated.')).toEqual([]);
  });
  it('does not take a measurement with two leading capitals ("SVo2", "PAsat") for a surname', () => {
    expect(names('mixed venous PAsat 61 off dobutamine.')).toEqual([]);
  });
});

describe('scan: names in nursing-note shapes', () => {
  it('takes a first name set off by commas after a relative, also one the stop list holds', () => {
    expect(names('Visitors: Brother, Art, stayed until 8 pm.')).toEqual(['Art']);
    expect(names('Plan reviewed with wife, Renata, at the bedside.')).toEqual(['Renata']);
  });
  it('does not take a word after a possessive relative or an unknown word for such a name', () => {
    expect(names("Her daughter's, then, was the main concern.")).toEqual([]);
    expect(names('Spoke to son, briefly, about the plan.')).toEqual([]);
  });
  it('takes a doctor\'s surname written with its particle apart ("Dr. o malley")', () => {
    expect(names('Seen by Dr. o malley and Dr. Wierzba this am.')).toEqual(['o malley', 'Wierzba']);
    expect(names('dr de santis aware of the rate.')).toEqual(['de santis']);
  });
  it('does not take a word after a particle that is no surname ("dr. o to call")', () => {
    expect(names('dr. o to call back.')).toEqual([]);
  });
  it("takes a patient's initial after a courtesy title", () => {
    expect(names('micu progress note: mr K stayed on unchanged pressor doses.')).toEqual(['K']);
    expect(names('SON WILL ASSIST WITH MS T. CARE AFTER DISCHARGE.')).toEqual(['T.']);
  });
  it('does not take "MS" (mental status) before a letter in all-caps notes', () => {
    expect(names('NEURO: MS A AND O X3, MAE.')).toEqual([]);
  });
  it('takes a name heading a phone number before its label', () => {
    expect(names('Children are involved. Tovah Rembrandt cell# 555-201-3344 home# 555-201-9988')).toEqual([
      'Tovah Rembrandt',
    ]);
  });
  it('does not take a relative, a role or a single unknown word before a phone label', () => {
    expect(names('Daughter cell# 555-201-3344.')).toEqual([]);
    expect(names('Front Desk phone: 555-201-3344')).toEqual([]);
    expect(names('Pharmacy. Refill home: 555-201-3344')).toEqual([]);
  });
  it('takes a first name closing the note after a sentence (a signature)', () => {
    expect(names('PT CONTINUES ON INSULIN AT 4 UNITS/HR, FINGERSTICKS Q2. ROSALIND')).toEqual(['ROSALIND']);
  });
  it('does not take a common word closing the note for a signature', () => {
    expect(names('PT RESTING COMFORTABLY, WILL CONTINUE CURRENT PLAN. MAY')).toEqual([]);
    expect(names('PT RESTING COMFORTABLY, WILL CONTINUE CURRENT PLAN. STABLE')).toEqual([]);
  });
  it('takes an initial and unknown surname in all-caps notes after a verb of meeting', () => {
    expect(names('CASE MANAGER TO MEET R. OKONJO-VALE FROM THE AGENCY AT 9AM.')).toEqual(['R. OKONJO-VALE']);
  });
  it('takes a first name and unknown surname joined to a titled doctor', () => {
    expect(names('KCL REPLETED. MIRIAM ZOLTEK AND DR HALVERSEN AWARE OF LABS.')).toEqual([
      'MIRIAM ZOLTEK',
      'HALVERSEN',
    ]);
  });
  it('takes a lower-case initial and surname before a credential closing the note', () => {
    expect(names('suctioned twice overnight, resting quietly now. m. brockwell rrt')).toEqual([
      'm',
      'brockwell',
    ]);
  });
  it('takes a lower-case name after "contact was made with"', () => {
    expect(names('contact was made with helena vostrikova from ethics.')).toEqual(['helena vostrikova']);
  });
});

describe('scan: "BIL" in all-caps notes', () => {
  it('does not take a word after "BIL" (bilateral) for a relative\'s name', () => {
    expect(names('GRIPS EQUAL BUT BIL FEET COOL. PERRLA.')).toEqual([]);
  });
});

describe('scan: two initials glued by a period', () => {
  it('takes both initials with the surname', () => {
    expect(names('Dr. K.M. Wrenfield aware of the labs.')).toEqual(['K.M. Wrenfield']);
    expect(names('PER DR. R.J. QUILLAN, CONTINUE PLAN AND MONITOR VITALS OVERNIGHT.')).toEqual([
      'R.J. QUILLAN',
    ]);
  });
});

describe('scan: lower-case first names after contact verbs and roles', () => {
  it('takes an unambiguous lower-case first name after "per" or "called"', () => {
    expect(names('per jennifer, labs drawn and sent.')).toEqual(['jennifer']);
    expect(names('called jennifer re: results.')).toEqual(['jennifer']);
  });
  it('does not take a common word after "per" or "called"', () => {
    expect(names('per protocol, labs drawn; called pharmacy re: dose.')).toEqual([]);
  });
  it('takes a first name set off by commas after a role', () => {
    expect(names('called covering np, ingrid, who will see pt.')).toEqual(['ingrid']);
  });
  it('does not take a common word set off by commas after a role', () => {
    expect(names('called covering np, again, about the rate.')).toEqual([]);
  });
});

describe('scan: full names made of common words', () => {
  it('takes a capitalised first name and surname that are both common words, said of a person', () => {
    expect(names('John Smith has bipolar disorder and takes lithium 600 mg')).toEqual(['John Smith']);
    expect(names('I saw Mark Smith today; his bipolar disorder is stable.')).toEqual(['Mark Smith']);
    expect(names('Can you call Bill Price about his lithium refill?')).toEqual(['Bill Price']);
    expect(names("Rose Hunter's mood is better.")).toEqual(["Rose Hunter's"]); // as "Jane Roe's"
  });
  it('does not take such a pair before a noun, inside a longer capitalised run, or after a title', () => {
    expect(names('Jackson Pratt drain in place.')).toEqual([]);
    expect(names('Grace Baptist Church hosts our depression support group.')).toEqual([]);
    expect(names('Dr. Will See you now.')).toEqual([]);
  });
});
