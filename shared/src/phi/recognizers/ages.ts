// Stated ages of a person: "34-year-old", "aged 34", "Age: 34", "I'm 34 y/o", "just turned 34",
// "34 yo F". An age under 90 is a quasi-identifier (AGE): not a HIPAA Safe Harbor identifier, so the
// policy never counts it as one, but a clinician sees it and de-identification masks it. The same
// cues with an age of 90 or more give AGE_OVER_89 (45 CFR 164.514(b)(2)(i)(C)); age-address.ts
// keeps its own over-89 forms.
//
// Hard negatives: durations ("34 years ago", "for 12 years", "12 years of experience"), quantities
// ("I'm 100% sure", "he is 5 minutes away", "turned 90 degrees"), criteria and statistics ("ages
// 18-25", "age 65 and older", "over age 65", "average age 42"), temperatures ("34F outside").
import {
  digitCount,
  eachMatch,
  eachMatchAtWords,
  isJsSpace,
  GATE_SMALL_NUMBER,
  lowerText,
  type Candidate,
  type ScanContext,
} from '../candidate.ts';
import { wordGate } from '../tokens.ts';
import { A_AGE, A_OLD, A_SEX, A_YO, cueBits, eachMatchAtStarts } from './age-words.ts';

const UNITS = ['', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const TEENS = [
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const WORD_VALUE = new Map<string, number>();
UNITS.forEach((u, i) => i > 0 && WORD_VALUE.set(u, i));
TEENS.forEach((t, i) => WORD_VALUE.set(t, 10 + i));
TENS.forEach((t, i) => {
  if (!t) return;
  WORD_VALUE.set(t, i * 10);
  for (let u = 1; u < 10; u++) {
    WORD_VALUE.set(`${t}-${UNITS[u]!}`, i * 10 + u);
    WORD_VALUE.set(`${t} ${UNITS[u]!}`, i * 10 + u);
  }
});
const NUM_WORD = `(?:(?:${TENS.filter(Boolean).join('|')})(?:[- ](?:${UNITS.filter(Boolean).join('|')}))?|${TEENS.join('|')}|${UNITS.filter(Boolean).join('|')})`;
const NUM = `(\\d{1,3}|${NUM_WORD})`;

// What may follow an age given bare ("I'm 34", "just turned 34"): the end of a clause or a word that
// keeps it an age. Units ("5 minutes", "100%", "90 degrees"), decimals and times fail it.
const CLAUSE_END =
  '(?=\\s*(?:[.,;!?)\\]](?!\\d)|$)|\\s*\\n|\\s+(?:years?|yrs?)\\b|\\s+(?:today|tomorrow|yesterday|now|this|next|last|on|and|but|so|soon|recently|when|then|at\\s+the\\s+time)\\b)';

// "34-year-old", "34 years old", "thirty-four year old", "34 yrs of age", "6-month-old".
const YEARS_OLD_RE = new RegExp(
  `(?<![\\w.,/-])${NUM}(?:\\s*-\\s*|\\s+)(?:years?|yrs?\\.?|yr\\.?)(?:\\s*-\\s*|\\s+)(?:old|of\\s+age)\\b` +
    `|(?<![\\w.,/-])(\\d{1,2})(?:\\s*-\\s*|\\s+)(?:months?|mos?\\.?|weeks?|wks?\\.?)(?:\\s*-\\s*|\\s+)old\\b`,
  'giu',
);
// "34yo", "34 y/o", "34 y.o.", "34 yo".
const YO_RE = /(?<![\w.,/-])(\d{1,3})\s*-?\s*(?:y\/o|y\.o\.?|yo|yoa)(?![\w/])/giu;
// "aged 34", "age 34", "Age: 34", "at the age of 34", "age of 34".
const AGE_WORD_RE =
  /\b(average|mean|median|over|under|above|below|than|from|between|min(?:imum)?|max(?:imum)?|legal|retirement|drinking|voting)?\s*\b(?:aged|age(?:\s+of)?|age\s*:|age\s+at\s+\w+\s*:?)\s*(?:is\s+|was\s+)?(\d{1,3})(?!\d|\s*(?:-|–|\+|to\b|through\b|or\b|and\s+(?:older|over|up|above|under|younger|below)|years?\s+(?:and|or)\s+(?:older|over|up|above|under|younger))|[\d.,]\d|\s*%|\s*(?:mg|kg|lbs?|cm|mm|days?|weeks?|months?)\b)/giu;
// "just turned 34", "I'll turn 34.", "turning 34 next week".
const TURN_RE = new RegExp(
  `\\bturn(?:s|ed|ing)?\\s+(\\d{1,3})(?:\\s+(?:years?|yrs?)(?:\\s+old)?)?${CLAUSE_END}`,
  'giu',
);
// "I'm 34", "she is 34 now", "when he was 61.", "the patient is 34".
const IS_RE = new RegExp(
  `\\b(?:i\\s+am|i['’]m|i\\s+was|(?:he|she)\\s+(?:is|was)|(?:he|she)['’]s|(?:patient|pt|client|son|daughter|child|baby)\\s+(?:is|was))\\s+(?:now\\s+|only\\s+|just\\s+|almost\\s+|nearly\\s+|about\\s+)?(\\d{1,3})${CLAUSE_END}`,
  'giu',
);
// Speed: word gates (candidate.ts eachMatchAtWords), the words each pattern's matches start with.
// YEARS_OLD_RE: a number of up to three digits or a number word ("thirty-four": "thirty").
const YEARS_OLD_GATE = wordGate((w) => /^\d{1,3}$/.test(w) || WORD_VALUE.has(w));
const TURN_GATE = wordGate((w) => /^turn(?:s|ed|ing)?$/.test(w));
const IS_FIRST = new Set('i|he|she|patient|pt|client|son|daughter|child|baby'.split('|'));
const IS_GATE = wordGate((w) => IS_FIRST.has(w));
// Clinical shorthand "34 F", "34yo M", "34 y/o male": an age and a sex after a cue (line start, "a",
// "pt", "patient", "is", "CC:"/"HPI:", "ID:"). Case-sensitive M/F: "34 m" is a length.
const AGE_SEX_RE =
  /(?:^|\n|\b(?:[Aa]n?|[Tt]his|[Pp]t|[Pp]atient|[Cc]lient|is|ID|CC|HPI)\b[:.]?)[ \t]*(\d{1,2})[ \t]?(?:(?:yo|y\/o|y\.o\.|YO)[ \t]?)?(?:([MF])(?![\w/-])|(?:male|female|man|woman|boy|girl|gentleman|lady|wm|wf|bm|bf)\b)(?![ \t]*\/)/gu;

function value(raw: string): number {
  const c = raw.charCodeAt(0);
  if (c >= 48 && c <= 57) return Number(raw);
  return WORD_VALUE.get(raw.toLowerCase().replace(/\s+/g, ' ')) ?? -1;
}

function push(
  out: Candidate[],
  start: number,
  end: number,
  n: number,
  confidence: number,
  reason: string,
): void {
  if (!(n >= 1 && n <= 125)) return;
  if (n >= 90) out.push({ type: 'AGE_OVER_89', start, end, confidence, reason: 'Age over 89' });
  else out.push({ type: 'AGE', start, end, confidence, reason });
}

// One function per pass: a rare pattern's callback that V8 deoptimizes discards only its own
// small function.
export function recognizeAges(ctx: ScanContext, out: Candidate[]): void {
  if (!ctx.wants('AGE') && !ctx.wants('AGE_OVER_89')) return;
  const cues = cueBits(ctx);
  if ((cues & A_OLD) !== 0) yearsOld(ctx, out);
  // Every other pattern needs a digit.
  if (digitCount(ctx) === 0) return;
  if ((cues & A_YO) !== 0) yearsOldShort(ctx, out);
  if ((cues & A_AGE) !== 0) afterAgeWord(ctx, out);
  // (With word gates on, eachMatchAtWords skips a text without the word at once.)
  if ((ctx.toks !== undefined && !ctx.toks.foldRisk) || lowerText(ctx).includes('turn'))
    afterTurned(ctx, out);
  afterIsWord(ctx, out);
  if ((cues & A_SEX) !== 0) beforeSex(ctx, out);
}

function yearsOld(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  eachMatchAtWords(ctx, YEARS_OLD_GATE, YEARS_OLD_RE, (m) => {
    const raw = m[1] ?? m[2]!;
    const n = m[1] ? value(raw) : 1;
    if (ageOfThing(text, m.index, m.index + m[0].length)) return;
    push(out, m.index, m.index + m[0].length, n, 0.9, 'Stated age');
  });
}

function yearsOldShort(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(ctx, GATE_SMALL_NUMBER, YO_RE, (m) =>
    push(out, m.index, m.index + m[0].length, Number(m[1]), 0.85, 'Stated age'),
  );
}

function afterAgeWord(ctx: ScanContext, out: Candidate[]): void {
  eachMatch(AGE_WORD_RE, ctx.text, (m) => {
    if (m[1]) return;
    const numAt = m.index + m[0].length - m[2]!.length;
    push(out, numAt, numAt + m[2]!.length, Number(m[2]), 0.85, 'Age after "age"');
  });
}

function afterTurned(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(ctx, TURN_GATE, TURN_RE, (m) => {
    const at = m.index + m[0].indexOf(m[1]!, 4);
    push(out, at, m.index + m[0].length, Number(m[1]), 0.75, 'Age after "turned"');
  });
}

/**
 * IS_RE can start at p (eachMatchAtWords `can`): everything its matches hold before the age is
 * ASCII letters (at most 17: "daughter was nearly"), apostrophes and white space, so a walk over
 * those must stop at a digit. (Texts whose case folding could bring other letters in, "ſ" or the
 * Kelvin sign, are scanned without word gates.)
 */
function isCan(text: string, p: number): boolean {
  let letters = 0;
  for (let k = p; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) {
      if (++letters > 24) return false;
    } else if (c !== 39 && c !== 0x2019 && !isJsSpace(c)) return c >= 48 && c <= 57;
  }
  return false;
}

function afterIsWord(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(
    ctx,
    IS_GATE,
    IS_RE,
    (m) => {
      const at = m.index + m[0].length - m[1]!.length;
      push(out, at, at + m[1]!.length, Number(m[1]), 0.6, 'Age after "I am" / "she is"');
    },
    isCan,
  );
}

// Speed: AGE_SEX_RE is tried only where it can start, found from the ages: a token of one or two
// digits (the age starts a token: only spaces, tabs, a line break, ":" or "." may precede it)
// preceded, past spaces and tabs, by the text's start, a line break, or a cue word maybe followed
// by ":" or ".".
const AGE_SEX_AT = new RegExp(AGE_SEX_RE.source, 'uy');
const AGE_SEX_CUES = 'a|A|an|An|this|This|pt|Pt|patient|Patient|client|Client|is|ID|CC|HPI'.split('|');
const SEX_STARTS: number[] = [];

function ageSexStarts(ctx: ScanContext): number[] {
  SEX_STARTS.length = 0;
  const { text, toks } = ctx;
  if (!toks) return SEX_STARTS;
  let last = -1;
  for (let k = 0; k < toks.count; k++) {
    const s = toks.start[k]!;
    if (!isDigit(text.charCodeAt(s)) || (isDigit(text.charCodeAt(s + 1)) && isDigit(text.charCodeAt(s + 2))))
      continue;
    let q = s;
    while (q > 0 && (text.charCodeAt(q - 1) === 32 || text.charCodeAt(q - 1) === 9)) q--;
    const b = q > 0 ? text.charCodeAt(q - 1) : -1;
    if (b === -1 || b === 10) {
      const p = b === -1 ? 0 : q - 1;
      if (p > last) SEX_STARTS.push((last = p));
      continue;
    }
    const e = b === 58 || b === 46 ? q - 1 : q;
    // Cue words ending at e, in text order ("this" before the "is" it ends with).
    for (let c = AGE_SEX_CUES.length - 1; c >= 0; c--) {
      const cue = AGE_SEX_CUES[c]!;
      const p = e - cue.length;
      if (p > last && text.startsWith(cue, p)) SEX_STARTS.push(p);
    }
    if (SEX_STARTS.length > 1) sortTail(SEX_STARTS, last);
    if (SEX_STARTS.length > 0) last = SEX_STARTS[SEX_STARTS.length - 1]!;
  }
  return SEX_STARTS;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Sort the entries of `a` after the last one not above `last` (a few at most). */
function sortTail(a: number[], last: number): void {
  let i = a.length;
  while (i > 0 && a[i - 1]! > last) i--;
  const tail = a.splice(i).sort((x, y) => x - y);
  for (const t of tail) a.push(t);
}

function beforeSex(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtStarts(ctx, ageSexStarts(ctx), AGE_SEX_RE, AGE_SEX_AT, (m) => {
    const at = m.index + m[0].indexOf(m[1]!);
    push(out, at, at + m[1]!.length, Number(m[1]), 0.7, 'Age before sex (clinical shorthand)');
  });
}

/** "a 100-year-old house", "(which was 6 years old)", "it's 20 years old": the age of a thing. */
export function ageOfThing(text: string, start: number, end: number): boolean {
  const next = /^[\s-]+([a-z]+)/i.exec(text.slice(end, end + 16));
  if (next && THINGS.has(next[1]!.toLowerCase())) return true;
  return THING_BEFORE_RE.test(text.slice(Math.max(0, start - 16), start));
}

const THING_BEFORE_RE =
  /\b(?:which|that|it)\s*(?:is|was|were|are|['’]s)\s+(?:about\s+|over\s+|nearly\s+|almost\s+)?$/i;
const THINGS = new Set(
  'house|home|building|car|truck|tree|wine|whisky|whiskey|company|business|firm|tradition|law|program|programme|record|bridge|church|vehicle|mortgage|loan|bond|note|warranty|policy|lease|plan|institution|practice|clinic|hospital|school|organization|organisation|city|town|story|photo|picture|painting|barn|roof'.split(
    '|',
  ),
);
