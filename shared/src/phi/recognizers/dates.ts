// Dates (45 CFR 164.514(b)(2)(i)(C): all elements of dates except the year, plus years in a
// date context). Numeric dates are checked against the calendar; bare years need a cue.
import {
  before,
  digitCount,
  eachMatch,
  eachMatchAtWords,
  GATE_DAY_NUMBER,
  GATE_YEAR,
  gatePasses,
  literals,
  lowerText,
  type Candidate,
  type ScanContext,
  pushMatch,
} from '../candidate.ts';
import { wordGate } from '../tokens.ts';
import { calendarValid } from '../validators.ts';

const MONTHS: Record<string, number> = {
  january: 1,
  jan: 1,
  february: 2,
  feb: 2,
  march: 3,
  mar: 3,
  april: 4,
  apr: 4,
  may: 5,
  june: 6,
  jun: 6,
  july: 7,
  jul: 7,
  august: 8,
  aug: 8,
  september: 9,
  sep: 9,
  sept: 9,
  october: 10,
  oct: 10,
  november: 11,
  nov: 11,
  december: 12,
  dec: 12,
};
const MON =
  '(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)';
const TIME =
  '(?:[ T,]+(?:at )?\\d{1,2}:\\d{2}(?::\\d{2})?(?:\\.\\d+)?(?: ?[ap]\\.?m\\.?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?';

// 2020-03-04, 2020/3/4, optional time.
const ISO_RE = new RegExp(
  `(?<![\\w/.-])((?:19|20)\\d{2})[-/.](\\d{1,2})[-/.](\\d{1,2})${TIME}(?![\\w/])`,
  'gi',
);
// 3/4/2020, 03-04-20, 4.3.2020 (month/day or day/month), optional time.
const MDY_RE = new RegExp(
  `(?<![\\w/.:])(\\d{1,2})([-/.])(\\d{1,2})\\2(\\d{4}|\\d{2})${TIME}(?![\\w/]|[.-]\\d)`,
  'gi',
);
// 7/22 (month/day without year), common in clinical notes.
// A colon right after a label joins it ("HX:4/12"); after a digit it is a time or ratio.
const MD_RE = /(?<![\w/.$-])(?<!\d:)(\d{1,2})\/(\d{1,2})(?![\w/]|\.\d|-\d)/g;
// March 4, 2020 / Mar 4th / March 2020 / 4 March 2020 / 4th of March.
const TEXT_MDY_RE = new RegExp(
  `\\b${MON}\\.?[ ]+(\\d{1,2})(?:st|nd|rd|th)?(?:,?[ ]+((?:19|20)\\d{2}|'\\d{2}))?${TIME}(?![\\w])`,
  'gi',
);
// Also a range of days before the month ("4->5 feb, 93", "3-5 March", "12 to 14 Oct") and a
// two-digit year after a comma.
const TEXT_DMY_RE = new RegExp(
  `\\b(?:(\\d{1,2})(?:st|nd|rd|th)?[ ]*(?:-|–|->|to|thru|through)[ ]*)?(\\d{1,2})(?:st|nd|rd|th)?(?:[ ]+of)?[ ]+${MON}\\.?(?:,?[ ]+((?:19|20)\\d{2})|,[ ]*['’]?\\d{2}(?![\\d:]))?(?![\\w])`,
  'gi',
);
// "March 2020", "MAY OF 1987", "nov, 96" (a two-digit year needs the comma).
const TEXT_MY_RE = new RegExp(
  `\\b${MON}\\.?(?:,?[ ]+(?:of[ ]+)?((?:19|20)\\d{2})|,[ ]*('?\\d{2}))(?![\\w:])`,
  'gi',
);
// "in sept.", "since January", "last December": a month alone after a time preposition.
const PREP_MON_RE = new RegExp(
  `\\b(?:in|since|until|till|from|last|next|early|late|mid|during|by)[ ]+(${MON})\\b\\.?`,
  'gi',
);
// Past-history lists: "CABG 79, Redo CABG 88", "CVA in 91", "CVA 76'": a two-digit year after a
// procedure or diagnosis abbreviation (or "in"), closing its item.
const HX_YEAR_RE =
  /\b(?:MI|CABG|CVA|AVR|MVR|PTCA|TIA|DVT|PE|AAA|CHF|PPM|AICD|ICD|CA|stent|stents|repair|surgery|[A-Za-z]+ectomy|[A-Za-z]+plasty|in)[ \t]+(?:in[ \t]+)?(\d{2})(['’])?(?=[ \t]*(?:[,.;)\n]|and\b|c\/b\b|$))/gi;
const HX_GATE_RE = /\b(?:pmh|pmhx|hx|h\/o|history)\b/i;
const MONTH_GATES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH_LITERALS = literals(MONTH_GATES);
const MON_WORD_RE = new RegExp(`\\b${MON}\\b`, 'i');
// 8/87, 11/92: month and two-digit year (the day would be impossible).
const MY_RE = /(?<![\w/.:$-])(\d{1,2})\/(\d{2})(?![\w/]|\.\d|-\d)/g;
// "on the 11th", "since the 3rd".
// "it's the 14th", "today is the 3rd", "through the 21st".
const ORDINAL_RE =
  /\b(?:on|by|since|until|till|from|before|after|thru|through|is|was|today|it['’]?s|admitted|discharged|seen|started|stopped|died|due|dated)\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b/gi;
const ORDINAL_SUFFIX_RE = /\d(?:st|nd|rd|th)\b/;
const APOS_YEAR_RE = /(?<![\w'])['’](\d{2})(?![\w'])/g;
const YEAR_RE =
  /(?<![\w.$/-])((?:19|20)\d{2})(?:s)?(?![\w]|[.,/-]\d|\s*(?:%|mg|mcg|ml|cc|units?|u\b|iu|kg|lbs?|calories|hrs?|hours|mins?|minutes|dollars|miles|feet|ft|meters|steps|words))/gi;
const YEAR_CUE =
  /(?:\b(?:in|since|from|during|until|till|year|of|circa|born|dob|it is|it's|year is|early|late|mid|summer|winter|spring|fall|autumn|class|graduated|married|divorced|died|diagnosed|dx|hx|s\/p|pmh|pmhx|mi|cabg|cva|surgery|admitted|admission|back in|around)\s*$)|[-–/]\s*$/i;
const YEAR_DET_BEFORE = /\b(?:a|the|this|that|his|her|their|its|our|my|your)\s+$/i;
const TIME_CUE = /(?:\b(?:at|@|approx\.?|around|about|by|until|til|till|since)\s*$)/i;
// Also ventilator settings followed by an oxygen fraction ("on 8/5, 35%").
const FRACTION_AFTER =
  /^,?\s*(?:fio2\s*)?\d{2,3}\s*%|^\s*(?:tab|tabs|tablet|cup|cups|of|strength|str|sem|murmur|hsm|dose|way|teaspoon|tsp|tbsp|inch|mile|pill|ns|nss|hr|hrs|pain|angina|peep|ps|cpap|mmhg|cm|%)|^%/i;
// Ventilator settings (CPAP 5/5, PSV 12/5), pain scores and pressures share the m/d shape.
const SETTING_BEFORE =
  /\b(?:cpap|psv|ps|peep|ips|bipap|vent|settings?|a\/c|ac|flowby|fio2|simv|imv|pc|prvc|pain|score|sbp|dbp|bp|tv|tidal|strength|grade|rated?)\s*[:=]?\s*$/i;

const PAIN_NEAR =
  /\b(?:pain|cp|discomfort|ache|aching|hurts?|sore|soreness|score|scale|rates?|rated|rating|intensity|headache|h\/a|c\/o|incisional|pressure)\b|#\s*$/i;
const VENT_NEAR =
  /\b(?:cpap|bipap|bi-pap|peep|psv?|ips|simv|imv|a\/c|ac|prvc|fio2|settings?|mode|mask\s+ventilation|weaning\s+trial)\b/i;
const VENT_MODE_AFTER = /^\s*(?:cpap|bipap|bi-pap|peep|psv?|ips|simv|imv|a\/c|prvc|ps\/peep|ips\/cpap)\b/i;
// "3/4-3/6", "10/28 - 11/2": a range of month/day dates.
const MD_RANGE_RE = /(?<![\w/.$-])(\d{1,2})\/(\d{1,2})[ ]?[-–][ ]?(\d{1,2})\/(\d{1,2})(?![\w/]|\.\d|-\d)/g;
const SITE_AC_BEFORE = /\b(?:r|l|rt|lt|right|left)\s+ac\s*$/i;
// "on 6-9 for the revision", "since 3-14.": month-day with a hyphen after a date preposition, the
// phrase closing after it (not "on 2-4 L", "from 7-8 am").
const MD_DASH_RE = /(?<![\w/.-])(\d{1,2})-(\d{1,2})(?![\w/-]|[.,]\d)/g;
const MD_DASH_CUE = /\b(?:on|since|until|till|dated)\s+$/i;
const MD_DASH_AFTER = /^(?:\s*(?:[.,;:)]|$)|\s+(?:for|and|when|with|at|to|per|after|before|but|s\/p)\b)/i;
// Events that take a date even among ventilator words ("extubated 6/12", "trach placed 9/3").
const EVENT_BEFORE =
  /\b(?:on|extubated|extubation|extubate|intubated|placed|due|planned|until|by|since)\s*\(?\s*$/i;

// Speed: word gates (candidate.ts eachMatchAtWords) for the word-led patterns above: the words
// their matches can start with. Keep in step with the patterns.
const MONTH_GATE = wordGate((w) => MONTHS[w] !== undefined);
const ORDINAL_GATE = wordGate((w) =>
  /^(?:on|by|since|until|till|from|before|after|thru|through|is|was|today|it|its|admitted|discharged|seen|started|stopped|died|due|dated)$/.test(
    w,
  ),
);
// Gates that only tell whether a pattern can match at all (gatePasses), not where to try it.
// A numeric ordinal day ("11th"): every ORDINAL_RE match has one, as a whole word.
const ORDINAL_GATE_DAY = wordGate((w) => /^\d{1,2}(?:st|nd|rd|th)$/.test(w));
// The history cue words of HX_GATE_RE ("h" for "h/o").
const HX_GATE = wordGate((w) => w === 'pmh' || w === 'pmhx' || w === 'hx' || w === 'h' || w === 'history');
const PREP_MON_GATE = wordGate((w) =>
  /^(?:in|since|until|till|from|last|next|early|late|mid|during|by)$/.test(w),
);

function monthNum(word: string): number {
  return MONTHS[word.toLowerCase().replace(/\.$/, '')] ?? 0;
}

/** Dates written with a month name: `re`'s group `di` holds the day (0: none). */
function textual(
  ctx: ScanContext,
  out: Candidate[],
  re: RegExp,
  gate: number,
  di: number,
  reason: string,
): void {
  eachMatchAtWords(ctx, gate, re, (m) => {
    const word = MON_WORD_RE.exec(m[0])?.[0] ?? '';
    const mon = monthNum(word);
    if (!mon) return;
    // "may" and "march" are also verbs: the capitalised form or a year must back them.
    if ((word.toLowerCase() === 'may' || word.toLowerCase() === 'march') && !/^[MT]/.test(word)) return;
    const day = di > 0 ? +(m[di] ?? 0) : 1;
    if (di > 0 && !calendarValid(2000, mon, day)) return;
    out.push({ type: 'DATE', start: m.index, end: m.index + m[0].length, confidence: 0.9, reason });
  });
}

/** "in sept.", "since January": a month alone after a time preposition. */
function monthAfterPreposition(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(ctx, PREP_MON_GATE, PREP_MON_RE, (m) => {
    const word = m[1]!;
    const lw = word.toLowerCase();
    // "in may", "in march" are verbs or words as often as months: capitalised only.
    if ((lw === 'may' || lw === 'march') && !/^[MT]/.test(word)) return;
    if (lw === 'may' && !/^[A-Z]/.test(word)) return;
    const start = m.index + m[0].length - m[0].replace(/^\S+[ ]+/, '').length;
    out.push({
      type: 'DATE',
      start,
      end: start + word.length,
      confidence: 0.6,
      reason: 'Month after a time preposition',
    });
  });
}

// Where the day-number patterns can start (eachMatchAtWords `can`): each opens with (\d{1,2}) and
// a separator, so the character after a run of one or two digits at the start decides; a run of
// three or more digits starts none of them. Most numbers in clinical text (vitals, doses, scores)
// fail this, and a character test is cheaper than a try of each pattern.
function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}
/** The character code after a run of one or two digits at p; -1 when there is no such run. */
function afterDayNumber(text: string, p: number): number {
  if (!isDigitCode(text.charCodeAt(p))) return -1;
  let k = p + 1;
  if (isDigitCode(text.charCodeAt(k)) && isDigitCode(text.charCodeAt(++k))) return -1;
  return text.charCodeAt(k);
}
/** MDY_RE: "-", "/" or "." after the day number, then one or two digits and the same separator. */
function mdyCan(text: string, p: number): boolean {
  let k = p + 1;
  if (isDigitCode(text.charCodeAt(k))) k++;
  const sep = afterDayNumber(text, p);
  if (sep !== 47 && sep !== 45 && sep !== 46) return false;
  return afterDayNumber(text, k + 1) === sep;
}
/** MD_RE, MD_RANGE_RE and MY_RE: "/" after the day number. */
function slashCan(text: string, p: number): boolean {
  return afterDayNumber(text, p) === 47;
}
/** MD_DASH_RE: "-" after the day number. */
function dashCan(text: string, p: number): boolean {
  return afterDayNumber(text, p) === 45;
}

/** Numeric dates that start with a one- or two-digit number (GATE_DAY_NUMBER). */
function dayNumberDates(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  eachMatchAtWords(
    ctx,
    GATE_DAY_NUMBER,
    MDY_RE,
    (m) => {
      const a = +m[1]!;
      const b = +m[3]!;
      let y = +m[4]!;
      if (m[4]!.length === 2) y += y < 50 ? 2000 : 1900;
      if (!calendarValid(y, a, b) && !calendarValid(y, b, a)) return;
      const end = m.index + m[0].length;
      if (FRACTION_AFTER.test(text.slice(end, end + 8)) || SETTING_BEFORE.test(before(text, m.index, 14)))
        return;
      // Dotted 1.2.34 is more often a version or section number.
      const conf = m[2] === '.' ? 0.7 : 0.95;
      pushMatch(out, m, 'DATE', conf, 'Numeric calendar date');
    },
    mdyCan,
  );
  eachMatchAtWords(
    ctx,
    GATE_DAY_NUMBER,
    MD_RE,
    (m) => {
      const a = +m[1]!;
      const b = +m[2]!;
      if (!calendarValid(2000, a, b)) return;
      const end = m.index + m[0].length;
      if (FRACTION_AFTER.test(text.slice(end, end + 12))) return;
      if (
        SETTING_BEFORE.test(before(text, m.index, 14)) &&
        !/\bon\s*$/i.test(before(text, m.index, 4)) &&
        // "L AC 3/27" is the antecubital site of a line, not the A/C ventilator mode.
        !SITE_AC_BEFORE.test(before(text, m.index, 10))
      )
        return;
      // 1/2, 2/3 and similar read as fractions unless a date cue precedes them.
      const cue =
        /\b(?:on|since|from|until|till|by|of|date|dated|dos|seen|visit|admitted|discharged|f\/u|fu|due|next|last|before|after|thru|through|to|post|s\/p|-)\s*$/i.test(
          before(text, m.index, 16),
        );
      // A zero-padded day ("3/02") is written as a date, never as a fraction.
      const padded = m[2]!.length === 2 && m[2]![0] === '0';
      if (b <= 4 && a <= 4 && !cue && !padded) return;
      // Pain scores ("c/o 6/10 knee pain", "#4/10") and ventilator settings a few words away
      // ("CPAP .6% 7/9", "weaning trial 5/10", "PS 12 PEEP 8 ... 12/8") share the shape.
      if (
        b === 10 &&
        a <= 10 &&
        (PAIN_NEAR.test(before(text, m.index, 24)) || PAIN_NEAR.test(text.slice(end, end + 24)))
      )
        return;
      // "on 12/5 BIPAP", "from 10/5 IPS/CPAP": pressures written right before the mode.
      if (a <= 25 && b <= 18 && VENT_MODE_AFTER.test(text.slice(end, end + 12))) return;
      if (
        a >= 5 &&
        a <= 25 &&
        b <= 18 &&
        VENT_NEAR.test(before(text, m.index, 40)) &&
        !EVENT_BEFORE.test(before(text, m.index, 16)) &&
        !SITE_AC_BEFORE.test(before(text, m.index, 10))
      )
        return;
      out.push({ type: 'DATE', start: m.index, end, confidence: cue ? 0.85 : 0.7, reason: 'Month/day date' });
    },
    slashCan,
  );
  eachMatchAtWords(
    ctx,
    GATE_DAY_NUMBER,
    MD_RANGE_RE,
    (m) => {
      if (!calendarValid(2000, +m[1]!, +m[2]!) || !calendarValid(2000, +m[3]!, +m[4]!)) return;
      const end = m.index + m[0].length;
      if (FRACTION_AFTER.test(text.slice(end, end + 12)) || SETTING_BEFORE.test(before(text, m.index, 14)))
        return;
      // "1/2-3/4 tab" and other small fractions.
      if (+m[1]! <= 4 && +m[2]! <= 4 && +m[3]! <= 4 && +m[4]! <= 4) return;
      out.push({ type: 'DATE', start: m.index, end, confidence: 0.85, reason: 'Range of month/day dates' });
    },
    slashCan,
  );
  eachMatchAtWords(
    ctx,
    GATE_DAY_NUMBER,
    MD_DASH_RE,
    (m) => {
      if (!calendarValid(2000, +m[1]!, +m[2]!) || !MD_DASH_CUE.test(before(text, m.index, 8))) return;
      const end = m.index + m[0].length;
      if (!MD_DASH_AFTER.test(text.slice(end, end + 8))) return;
      out.push({ type: 'DATE', start: m.index, end, confidence: 0.75, reason: 'Month-day date' });
    },
    dashCan,
  );
  eachMatchAtWords(
    ctx,
    GATE_DAY_NUMBER,
    MY_RE,
    (m) => {
      const mo = +m[1]!;
      const yy = +m[2]!;
      if (mo < 1 || mo > 12 || yy <= 31) return;
      const end = m.index + m[0].length;
      if (FRACTION_AFTER.test(text.slice(end, end + 12)) || SETTING_BEFORE.test(before(text, m.index, 14)))
        return;
      out.push({ type: 'DATE', start: m.index, end, confidence: 0.7, reason: 'Month and two-digit year' });
    },
    slashCan,
  );
}

export function recognizeDates(ctx: ScanContext, out: Candidate[]): void {
  if (!ctx.wants('DATE')) return;
  const { text } = ctx;
  // Month-name patterns only when some month abbreviation occurs at all. The month word of every
  // match is a word of the text passing MONTH_GATE: when the tokens tell, they decide.
  const toks = ctx.toks;
  const hasMonth =
    toks && !toks.foldRisk ? (toks.gateAny & MONTH_GATE) !== 0 : MONTH_LITERALS.test(lowerText(ctx));
  // Every pattern but the month after a preposition needs a digit.
  if (digitCount(ctx) === 0) {
    if (hasMonth) monthAfterPreposition(ctx, out);
    return;
  }
  eachMatchAtWords(ctx, GATE_YEAR, ISO_RE, (m) => {
    if (!calendarValid(+m[1]!, +m[2]!, +m[3]!)) return;
    pushMatch(out, m, 'DATE', 0.95, 'ISO calendar date');
  });
  // Day-number patterns (m/d/y, m/d, ranges, m-d, m/yy).
  if (gatePasses(ctx, GATE_DAY_NUMBER)) dayNumberDates(ctx, out);
  // (Gated on an ordinal being written at all: its cue words are common.)
  if (digitCount(ctx) > 0 && gatePasses(ctx, ORDINAL_GATE_DAY) && ORDINAL_SUFFIX_RE.test(lowerText(ctx)))
    eachMatchAtWords(ctx, ORDINAL_GATE, ORDINAL_RE, (m) => {
      const d = +m[1]!;
      if (d < 1 || d > 31) return;
      // "on the 11th." is a date; "on 1st step surface", "after 2nd bag" are not.
      const after = text.slice(m.index + m[0].length, m.index + m[0].length + 6);
      if (!/\bthe\s/i.test(m[0]) || !/^\s*(?:[.,;:)\n]|$|of\b|at\b)/i.test(after)) return;
      // "she is the 3rd of 5 children", "was the 2nd, after": a rank after "is"/"was", not a day.
      if (/^(?:is|was|it)/i.test(m[0]) && !/^\s*(?:[.;)\n]|$)/.test(after)) return;
      const start = m.index + m[0].length - m[0].replace(/^\S+\s+(?:the\s+)?/i, '').length;
      out.push({
        type: 'DATE',
        start,
        end: m.index + m[0].length,
        confidence: 0.7,
        reason: 'Ordinal day of the month',
      });
    });
  if (hasMonth) {
    textual(ctx, out, TEXT_MDY_RE, MONTH_GATE, 1, 'Month name with day');
    textual(ctx, out, TEXT_DMY_RE, GATE_DAY_NUMBER, 2, 'Day with month name');
    textual(ctx, out, TEXT_MY_RE, MONTH_GATE, 0, 'Month name with year');
  }
  if (gatePasses(ctx, HX_GATE) && HX_GATE_RE.test(text))
    eachMatch(HX_YEAR_RE, text, (m) => {
      const y = m[1]!;
      const start = m.index + m[0].length - y.length - (m[2] ? 1 : 0);
      // Only inside a history section: the cue within the previous 400 characters.
      if (!HX_GATE_RE.test(text.slice(Math.max(0, start - 400), start))) return;
      out.push({
        type: 'DATE',
        start,
        end: start + y.length,
        confidence: 0.6,
        reason: 'Two-digit year in a past history',
      });
      // "CVA in 91 and 03": a second year joined to the first.
      const e = start + y.length + (m[2] ? 1 : 0);
      const more = /^[ \t]+(?:and|&)[ \t]+(\d{2})(?![\d.:/%-])/.exec(text.slice(e, e + 10));
      if (more) {
        const s2 = e + more[0].length - 2;
        out.push({
          type: 'DATE',
          start: s2,
          end: s2 + 2,
          confidence: 0.6,
          reason: 'Two-digit year in a past history',
        });
      }
    });
  if (hasMonth) monthAfterPreposition(ctx, out);
  if (digitCount(ctx) >= 2 && (text.includes("'") || text.includes('’')))
    eachMatch(APOS_YEAR_RE, text, (m) => {
      pushMatch(out, m, 'DATE', 0.75, 'Abbreviated year');
    });
  eachMatchAtWords(ctx, GATE_YEAR, YEAR_RE, (m) => {
    const pre = before(text, m.index, 20);
    const n = +m[1]!;
    if (TIME_CUE.test(pre) && n % 100 < 60) return;
    const cue = YEAR_CUE.test(pre);
    // Years alone are not identifying under Safe Harbor; report them low unless in a date context.
    // Just above the default threshold: a number that cannot be a 24-hour clock time (1960-1999,
    // 2060+: minutes >= 60) or a year used as an adjective ("a 1979 film", "the 2017 move").
    const weak = n % 100 >= 60 || YEAR_DET_BEFORE.test(pre);
    pushMatch(out, m, 'DATE', cue ? 0.7 : weak ? 0.55 : 0.45, cue ? 'Year in a date context' : 'Year');
  });
}
