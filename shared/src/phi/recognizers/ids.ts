// Identifiers with a validator or a label: SSN, MRN, health plan, account and card numbers, NPI,
// DEA, driver's licences, VINs, devices, UK NHS numbers (45 CFR 164.514(b)(2)(i)(G)-(M), (R)).
import {
  before,
  digitCount,
  eachMatch,
  eachMatchAtWords,
  GATE_3_DIGITS,
  GATE_LETTER_DIGIT,
  wordSet,
  type Candidate,
  type ScanContext,
  pushMatch,
  pushTail,
} from '../candidate.ts';
import { wordFlag, wordGate } from '../tokens.ts';
import type { PhiType } from '../types.ts';
import {
  deaValid,
  digitsOf,
  ibanValid,
  luhnValid,
  nhsValid,
  npiValid,
  ssnValid,
  vinValid,
} from '../validators.ts';

const SSN_RE = /(?<![\w-])\d{3}([- .])\d{2}\1\d{4}(?![\w-])/g;
const SSN_BARE_RE = /(?<![\w-])\d{9}(?![\w-])/g;
const SSN_CUE =
  /\b(?:ssn|ss#|ss no|social security(?: number| no\.?| #)?|social)\b[\s:#.-]*(?:is|number|no\.?|#)?[\s:#.-]*$/i;

const CARD_RE =
  /(?<![\w-])\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}(?![\w-])|(?<![\w-])3[47]\d{2}[ -]?\d{6}[ -]?\d{5}(?![\w-])/g;
const IBAN_RE = /\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b/g;
const NHS_RE = /(?<![\w-])\d{3}([ -]?)\d{3}\1\d{4}(?![\w-])/g;
const DEA_RE = /\b[ABCDEFGHJKLMPRSTUX][A-Z9]\d{7}\b/g;
const VIN_RE = /\b[A-HJ-NPR-Z0-9]{17}\b/gi;
const NPI_RE = /(?<![\w-])[12]\d{9}(?![\w-])/g;

// Label then an identifier-looking token (must contain a digit).
const ID_TOKEN = '([A-Z0-9][A-Z0-9-]{2,24}[A-Z0-9]|\\d{3,})';
// `gate`: words one of which each label starts with, looked up in the text's word set first.
const LABELLED: ReadonlyArray<{ re: RegExp; type: PhiType; reason: string; gate: string[] }> = [
  {
    re: new RegExp(
      `\\b(?:mrn|mr#|mr #|med(?:ical)? rec(?:ord)?(?: number| no\\.?| #)?|chart(?: number| no\\.?| #)|patient id|pt id|patient number|hospital number|unit number|record number|nhs(?: number| no\\.?)?|chi(?: number)?)[\\s:#.-]*(?:is|number|no\\.?|#)?[\\s:#.-]*${ID_TOKEN}`,
      'gi',
    ),
    type: 'MRN',
    reason: 'Labelled medical record number',
    gate: [
      'mrn',
      'mr',
      'med',
      'medical',
      'chart',
      'patient',
      'pt',
      'hospital',
      'unit',
      'record',
      'nhs',
      'chi',
    ],
  },
  {
    re: new RegExp(
      `\\b(?:member(?: id| number| no\\.?| #)|subscriber(?: id| number| no\\.?| #)?|policy(?: id| number| no\\.?| #)|insurance(?: id| number| no\\.?| #)|medicaid(?: id| number| no\\.?| #)?|medicare(?: id| number| no\\.?| #)?|mbi|group(?: number| no\\.?| #)|plan(?: id| number| no\\.?| #)|health plan(?: id| number)?|beneficiary(?: id| number)?)[\\s:#.-]*(?:is|number|no\\.?|#)?[\\s:#.-]*${ID_TOKEN}`,
      'gi',
    ),
    type: 'HEALTH_PLAN_ID',
    reason: 'Labelled health plan number',
    gate: [
      'member',
      'subscriber',
      'policy',
      'insurance',
      'medicaid',
      'medicare',
      'mbi',
      'group',
      'plan',
      'health',
      'beneficiary',
    ],
  },
  {
    re: new RegExp(
      `\\b(?:account|acct|billing(?: id| number)?|invoice|claim(?: id| number| no\\.?| #)?|routing(?: number)?|iban|card(?: number| no\\.?| #))[\\s:#.-]*(?:is|number|no\\.?|#)?[\\s:#.-]*${ID_TOKEN}`,
      'gi',
    ),
    type: 'ACCOUNT',
    reason: 'Labelled account number',
    gate: ['account', 'acct', 'billing', 'invoice', 'claim', 'routing', 'iban', 'card'],
  },
  {
    re: new RegExp(
      `\\b(?:licen[cs]e(?: number| no\\.?| #)?|lic(?:\\.|#| #| no\\.?)|driver'?s licen[cs]e(?: number| no\\.?| #)?|dl(?: number| no\\.?| #)?|d\\/l|npi|dea(?: number| no\\.?| #)?|certificate(?: number| no\\.?| #)?|passport(?: number| no\\.?| #)?)[\\s:#.-]*(?:is|number|no\\.?|#)?[\\s:#.-]*${ID_TOKEN}`,
      'gi',
    ),
    type: 'LICENSE',
    reason: 'Labelled licence or certificate number',
    gate: [
      'license',
      'licence',
      'lic',
      'driver',
      'drivers',
      'dl',
      'd',
      'npi',
      'dea',
      'certificate',
      'passport',
    ],
  },
  {
    re: new RegExp(
      `\\b(?:vin|license plate|licence plate|plate(?: number| no\\.?| #)?|registration(?: number| no\\.?))[\\s:#.-]*(?:is|number|no\\.?|#)?[\\s:#.-]*${ID_TOKEN}`,
      'gi',
    ),
    type: 'VEHICLE',
    reason: 'Labelled vehicle identifier',
    gate: ['vin', 'license', 'licence', 'plate', 'registration'],
  },
  {
    re: new RegExp(
      `\\b(?:serial(?: number| no\\.?| #)?|s\\/n|device(?: id| number| serial)|imei|udi|model(?: number| no\\.?| #)|implant(?: id| serial)?)[\\s:#.-]*(?:is|number|no\\.?|#)?[\\s:#.-]*${ID_TOKEN}`,
      'gi',
    ),
    type: 'DEVICE',
    reason: 'Labelled device identifier',
    gate: ['serial', 's', 'device', 'imei', 'udi', 'model', 'implant'],
  },
  {
    re: new RegExp(
      `\\b(?:id|identifier|ref(?:erence)?|case(?: number| no\\.?| #)|ticket|confirmation|employee(?: id| number)?|student(?: id| number)?)[\\s:#.-]*(?:is|number|no\\.?|#)?[\\s:#.-]*${ID_TOKEN}`,
      'gi',
    ),
    type: 'OTHER_ID',
    reason: 'Labelled identifier',
    gate: ['id', 'identifier', 'ref', 'reference', 'case', 'ticket', 'confirmation', 'employee', 'student'],
  },
];

// Speed: every LABELLED match starts with a word that begins with one of the gate words ("mrn",
// "mrn12345"); eachMatchAtWords tries the patterns only at such words.
// The one-letter gate words ("d" of "d/l", "s" of "s/n") are followed by "/": they must be the
// whole word.
const LABEL_GATE = wordGate((w) =>
  LABELLED.some((l) => l.gate.some((g) => (g.length === 1 ? w === g : w.startsWith(g)))),
);
// LABEL_GATE passes the gate words of every entry; each entry's pattern is tried only where one
// of its own gate words starts (the same test on the text, lower-cased): "patient" opens the MRN
// labels, not the insurance ones.
function labelCan(gate: readonly string[]): (text: string, p: number) => boolean {
  return (text, p) => {
    for (const g of gate) {
      let i = 0;
      for (; i < g.length; i++) {
        const c = text.charCodeAt(p + i);
        if ((c >= 65 && c <= 90 ? c + 32 : c) !== g.charCodeAt(i)) break;
      }
      if (i < g.length) continue;
      if (g.length > 1) return true;
      // A one-letter gate word is the whole lead: no ASCII letter or digit after it.
      const c = text.charCodeAt(p + 1);
      if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return true;
    }
    return false;
  };
}
const LABEL_CAN = LABELLED.map((l) => labelCan(l.gate));
/**
 * CARD_RE: four digits then " " or "-" and a digit, or eight digits or more in a row (both forms,
 * and the American Express one, hold one of these at their start).
 */
function cardCan(text: string, p: number): boolean {
  let k = p;
  while (k < text.length && k - p < 8) {
    const c = text.charCodeAt(k);
    if (c < 48 || c > 57) break;
    k++;
  }
  if (k - p >= 8) return true;
  if (k - p !== 4) return false;
  const c = text.charCodeAt(k);
  const d = text.charCodeAt(k + 1);
  return (c === 32 || c === 45) && d >= 48 && d <= 57;
}
// NPI, SSN, card and NHS numbers start with three or more digits (GATE_3_DIGITS); IBAN and DEA
// numbers with letters then a digit (GATE_LETTER_DIGIT).

// Gate word -> bits of the LABELLED entries it opens. One pass over the scan's tokens replaces
// building a set of all its words (the gates are whole lower-cased tokens either way).
const GATE_BITS = new Map<string, number>();
LABELLED.forEach((l, k) => {
  for (const g of l.gate) GATE_BITS.set(g, (GATE_BITS.get(g) ?? 0) | (1 << k));
});
// The same gate words as word flags (tokens.ts wordFlag): the tokenizer tells which occur.
const LABEL_FLAGS = LABELLED.map((l) => wordFlag(l.gate));
function gateBits(ctx: ScanContext): number {
  let bits = 0;
  const toks = ctx.toks;
  if (toks) {
    for (let k = 0; k < LABEL_FLAGS.length; k++) if ((toks.wordFlags & LABEL_FLAGS[k]!) !== 0) bits |= 1 << k;
  } else {
    const words = wordSet(ctx);
    for (const [g, b] of GATE_BITS) if (words.has(g)) bits |= b;
  }
  return bits;
}

// Where the digit patterns can start, from the run of digits there (eachMatchAtWords `can`).
function digitRun(text: string, p: number): number {
  let k = p;
  while (k < text.length && text.charCodeAt(k) >= 48 && text.charCodeAt(k) <= 57) k++;
  return k - p;
}
/** SSN_RE: three digits, then "-", " " or ".". */
function ssnCan(text: string, p: number): boolean {
  const c = text.charCodeAt(p + 3);
  return digitRun(text, p) === 3 && (c === 45 || c === 32 || c === 46);
}
/** SSN_BARE_RE: nine digits. */
function nineDigitsCan(text: string, p: number): boolean {
  return digitRun(text, p) === 9;
}
/** NHS_RE: three digits then " " or "-", or ten digits. */
function nhsCan(text: string, p: number): boolean {
  const n = digitRun(text, p);
  const c = text.charCodeAt(p + 3);
  return n === 10 || (n === 3 && (c === 32 || c === 45));
}
/** NPI_RE: ten digits, the first 1 or 2. */
function npiCan(text: string, p: number): boolean {
  const c = text.charCodeAt(p);
  return (c === 49 || c === 50) && digitRun(text, p) === 10;
}

/** True when the text has a run of at least n ASCII letters/digits (gate for the VIN pattern). */
function hasAlnumRun(text: string, n: number): boolean {
  // Any run of n covers one of the positions tested: after a position outside the class the next
  // test is n further on; after a run too short, n past its end.
  const len = text.length;
  let i = n - 1;
  while (i < len) {
    if (!inRunClass(text.charCodeAt(i))) {
      i += n;
      continue;
    }
    let a = i;
    while (a > 0 && inRunClass(text.charCodeAt(a - 1))) a--;
    let b = i + 1;
    while (b < len && inRunClass(text.charCodeAt(b))) b++;
    if (b - a >= n) return true;
    i = b + n;
  }
  return false;
}

/**
 * Whether some token is at least n characters long: a run of n ASCII letters and digits lies in
 * one token, so without such a token the text has none (the token lengths are read from the
 * scan's arrays, not the text). True without tokens.
 */
function hasLongToken(ctx: ScanContext, n: number): boolean {
  const toks = ctx.toks;
  if (!toks) return true;
  const { start, end, count } = toks;
  for (let k = 0; k < count; k++) if (end[k]! - start[k]! >= n) return true;
  return false;
}

/** The characters hasAlnumRun counts (ASCII letters and digits, tested as `c | 32`). */
function inRunClass(c: number): boolean {
  const x = c | 32;
  return (x >= 48 && x <= 57) || (x >= 97 && x <= 122);
}

export function recognizeIds(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  // Every identifier reported has digits, most a known number of them: patterns the text has too
  // few digits for are skipped (labelled ones need 4, the VIN one).
  const digits = digitCount(ctx);
  if (digits === 0) return;
  if (digits >= 9 && ctx.wants('SSN')) {
    eachMatchAtWords(
      ctx,
      GATE_3_DIGITS,
      SSN_RE,
      (m) => {
        if (!ssnValid(m[0])) return;
        const cue = SSN_CUE.test(before(text, m.index, 30));
        // Space- or dot-separated 3-2-4 groups are also phone fragments: need the cue.
        if (m[1] !== '-' && !cue) return;
        pushMatch(out, m, 'SSN', cue ? 0.98 : 0.9, 'Social Security number (SSA rules)');
      },
      ssnCan,
    );
    eachMatchAtWords(
      ctx,
      GATE_3_DIGITS,
      SSN_BARE_RE,
      (m) => {
        if (!ssnValid(m[0]) || !SSN_CUE.test(before(text, m.index, 30))) return;
        out.push({
          type: 'SSN',
          start: m.index,
          end: m.index + 9,
          confidence: 0.95,
          reason: 'Nine digits labelled as SSN',
        });
      },
      nineDigitsCan,
    );
  }
  if (ctx.wants('ACCOUNT')) {
    if (digits >= 13)
      eachMatchAtWords(
        ctx,
        GATE_3_DIGITS,
        CARD_RE,
        (m) => {
          const d = digitsOf(m[0]);
          if (d.length < 13 || d.length > 19 || !luhnValid(d)) return;
          pushMatch(out, m, 'ACCOUNT', 0.9, 'Payment card number (Luhn)');
        },
        cardCan,
      );
    eachMatchAtWords(ctx, GATE_LETTER_DIGIT, IBAN_RE, (m) => {
      if (!ibanValid(m[0])) return;
      pushMatch(out, m, 'ACCOUNT', 0.95, 'IBAN (mod-97)');
    });
  }
  if (digits >= 10 && ctx.wants('MRN')) {
    eachMatchAtWords(
      ctx,
      GATE_3_DIGITS,
      NHS_RE,
      (m) => {
        if (!nhsValid(m[0])) return;
        const cue = /\bnhs\b/i.test(before(text, m.index, 30));
        // One random 10-digit number in 11 passes mod-11: without the label or spacing, too weak.
        if (!cue && m[1] === '') return;
        pushMatch(out, m, 'MRN', cue ? 0.95 : 0.6, 'UK NHS number (mod-11)');
      },
      nhsCan,
    );
  }
  if (digits >= 7 && ctx.wants('LICENSE')) {
    eachMatchAtWords(ctx, GATE_LETTER_DIGIT, DEA_RE, (m) => {
      if (!deaValid(m[0])) return;
      pushMatch(out, m, 'LICENSE', 0.9, 'DEA registration (check digit)');
    });
    if (digits >= 10)
      eachMatchAtWords(
        ctx,
        GATE_3_DIGITS,
        NPI_RE,
        (m) => {
          if (!npiValid(m[0])) return;
          const cue = /\bnpi\b/i.test(before(text, m.index, 24));
          out.push({
            type: 'LICENSE',
            start: m.index,
            end: m.index + 10,
            confidence: cue ? 0.95 : 0.6,
            reason: 'NPI (check digit)',
          });
        },
        npiCan,
      );
  }
  if (ctx.wants('VEHICLE')) {
    if (hasLongToken(ctx, 17) && hasAlnumRun(text, 17))
      eachMatch(VIN_RE, text, (m) => {
        if (!/\d/.test(m[0]) || !/[a-z]/i.test(m[0]) || !vinValid(m[0])) return;
        out.push({
          type: 'VEHICLE',
          start: m.index,
          end: m.index + 17,
          confidence: 0.9,
          reason: 'Vehicle identification number (check digit)',
        });
      });
  }
  let gates = -1; // bit k: a gate word of LABELLED[k] is one of the text's words; -1 = not yet known
  for (let k = 0; k < LABELLED.length && digits >= 4; k++) {
    const l = LABELLED[k]!;
    if (!ctx.wants(l.type)) continue;
    if (gates < 0) gates = gateBits(ctx);
    if ((gates & (1 << k)) === 0) continue;
    eachMatchAtWords(
      ctx,
      LABEL_GATE,
      l.re,
      (m) => {
        const id = m[1]!;
        // Short numbers after a label are settings and counts, not identifiers.
        if ((id.match(/\d/g)?.length ?? 0) < 4) return;
        pushTail(out, m, id.length, l.type, 0.85, l.reason);
      },
      LABEL_CAN[k],
    );
  }
}
