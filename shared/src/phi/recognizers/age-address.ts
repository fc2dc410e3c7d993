// Ages over 89 (45 CFR 164.514(b)(2)(i)(C)) and geographic subdivisions smaller than a state:
// street addresses, PO boxes, units, city + state + ZIP, ZIP codes, UK and Canadian postcodes
// (45 CFR 164.514(b)(2)(i)(B)).
import {
  before,
  digitCount,
  eachMatch,
  eachMatchAtWords,
  eachMatchAtWordsAnd,
  GATE_LETTER_DIGIT,
  literals,
  lowerText,
  type Candidate,
  type ScanContext,
  isJsSpace,
  pushMatch,
  pushTail,
} from '../candidate.ts';
import { wordGate } from '../tokens.ts';
import {
  A_ADDRESS_CUE,
  A_AGE,
  A_AGE89,
  A_SEX89,
  A_EURO_LEAD,
  A_EURO_SUFFIX,
  A_EURO_WORD,
  A_NAMED_STREET,
  A_STREET_TYPE,
  cueBits,
  eachMatchAtStarts,
  EURO_WORDS,
  TYPES_ANY_CASE,
  tokenCueBits,
} from './age-words.ts';
import { ageOfThing } from './ages.ts';
import { zipValid } from '../validators.ts';

const AGE_RE =
  /\b(9\d|1[0-2]\d)(?:\s*|-)(?:years?|yrs?|yr\.?s?|y\.?o\.?|y\/o|yo)(?:[\s-]*old)?\b|\b(?:age|aged|age:)\s*(9\d|1[0-2]\d)\b|\b(9\d|1[0-2]\d)(?:st|nd|rd|th)\s+birthday\b|\b(?:nonagenarian|centenarian)\b/gi;
// "93 s/p", "93 yo": handled above; an age alone at a line start before a sex word.
const AGE_SEX_RE =
  /(?<![\w.,/-])(9\d|1[0-2]\d)\s*(?:y(?:ear)?\s*o(?:ld)?\s*)?(?:m|f|male|female|man|woman|gentleman|lady|wm|wf|bm|bf)\b/gi;

// Street types (age-words.ts STREET_TYPES) match as written in lower, Title or UPPER case.
const UNIT =
  '(?:,?\\s*(?:[Aa]pt|APT|[Aa]partment|[Ss]uite|SUITE|[Ss]te|[Uu]nit|#|[Ff]l|[Ff]loor|[Rr]oom|[Rr]m|[Bb]ldg|[Bb]uilding|[Bb]ox|[Ll]ot|[Nn]o)\\.?\\s*#?\\s*[A-Z0-9-]{1,6}\\b)?';
const CAP = "[\\p{Lu}][\\p{L}\\p{M}'.-]*";
// 123 Main Street, 4a N. Oak Ave Apt 5
const AMBIGUOUS_TYPES = new Set(
  'st|dr|ct|pl|pt|ter|terr|cir|sq|run|view|park|green|hill|center|centre|station|row|walk|close|loop|path|commons|landing|junction|crossing|xing|ridge|heights|hts|mews|grove|gardens|gdns|place|point|way|trail|plaza|route|rte|pike|square|court|circle'.split(
    '|',
  ),
);
const TYPE_IN_MATCH = new RegExp(
  `\\s(${TYPES_ANY_CASE})\\b\\.?(?:\\s+(?:[NSEW]{1,2}|north|south|east|west)\\b)?(?:,?\\s*(?:[Aa]pt|APT|[Aa]partment|[Ss]uite|SUITE|[Ss]te|[Uu]nit|#|[Ff]l|[Ff]loor|[Rr]oom|[Rr]m|[Bb]ldg|[Bb]uilding|[Bb]ox|[Ll]ot|[Nn]o)\\.?\\s*#?\\s*[A-Z0-9-]{1,6}\\b)?$`,
  'u',
);
const STREET_RE = new RegExp(
  `\\b\\d{1,6}[A-Za-z]?(?:-\\d{1,4})?\\s+(?:(?:[NSEW]|north|south|east|west|n\\.|s\\.|e\\.|w\\.)\\s+)?(?:(?:${CAP}|\\d{1,3}(?:st|nd|rd|th))\\s+){0,3}(?:${CAP}|\\d{1,3}(?:st|nd|rd|th))\\s+(?:${TYPES_ANY_CASE})\\b\\.?(?:\\s+(?:[NSEW]{1,2}|north|south|east|west)\\b)?${UNIT}`,
  'gu',
);
// Continental forms: "Rue des Lilas 14", "14 Rue des Lilas", "Via Roma 12", "Lindauer Strasse 8".
const EURO_SUFFIX =
  'straße|strasse|str\\.|gasse|weg|allee|platz|gatan|vägen|vej|gade|veien|katu|tie|laan|straat|plein|gracht|utca|ulice';
// Continental forms: "Rue des Lilas 14", "14 Rue des Lilas", "Via Roma 12", "Lindauer Strasse 8",
// "Rantakatu 19", "Lipová 312". Case-sensitive on purpose: \p{Lu} must mean a capital.
const EURO_RE = new RegExp(
  `(?:\\b\\d{1,5}[a-z]?\\s+)?\\b(?:${EURO_WORDS})\\b(?:\\s+(?:de|del|della|di|da|do|dos|das|des|du|la|le|les|von|van|der))*(?:\\s+${CAP})+(?:\\s+\\d{1,5}[a-z]?)?` +
    `|\\b\\p{Lu}\\p{Ll}+(?:${EURO_SUFFIX})\\s+\\d{1,5}[a-z]?\\b` +
    `|\\b\\p{Lu}\\p{Ll}+\\s+(?:Strasse|Straße|Gasse|Weg|Allee|Platz)\\s+\\d{1,5}\\b` +
    `|\\b\\p{Lu}\\p{Ll}+(?:á|é|í|ó|ú|ská|ova|ová|ego)\\s+\\d{1,5}\\b`,
  'gu',
);
// Speed: EURO_RE's first alternative starts at a house number or at one of EURO_WORDS (EURO_GATE
// below: the lead of "straße" is "stra", of "praça" "pra"). The others start at a capital letter
// \b-bounded inside the word (or the word before "Strasse") that ends right before `\s+` (or
// "str." then `\s+`) and a number: euroExtraStarts lists every capital of such words.
const EURO_LEADS = new Set(
  EURO_WORDS.split('|').map((t) => {
    const l = t.toLowerCase();
    let e = 0;
    while (e < l.length && /[a-z0-9]/.test(l[e]!)) e++;
    return l.slice(0, e);
  }),
);
const EURO_AT = new RegExp(EURO_RE.source, 'uy');
const EURO_GATE = wordGate((w) => EURO_LEADS.has(w) || /^\d{1,5}[a-z]?$/.test(w));

/** text[from, to) is one or more \s, after at most one "." when `dot`. */
function spaceGap(text: string, from: number, to: number, dot: boolean): boolean {
  if (dot && from < to && text.charCodeAt(from) === 46) from++;
  if (from >= to) return false;
  for (let k = from; k < to; k++) if (!isJsSpace(text.charCodeAt(k))) return false;
  return true;
}

const EXTRA: number[] = [];
const NO_STARTS: readonly number[] = [];
/**
 * Where EURO_RE's capitalised-word alternatives may start, in increasing order: every capital
 * letter (any non-ASCII letter counts) of the word before a number (after `\s+`, or "." and
 * `\s+`) when it ends in a street suffix, and of the word before that one when only `\s+`
 * separates it from a street word ("Strasse").
 */
function euroExtraStarts(ctx: ScanContext): number[] {
  EXTRA.length = 0;
  const toks = ctx.toks;
  if (!toks) return EXTRA;
  const text = ctx.text;
  const cues = tokenCueBits(ctx, toks);
  let last = -1; // last position added
  for (let k = 1; k < toks.count; k++) {
    const bits = cues[k - 1]!;
    if ((bits & (A_EURO_SUFFIX | A_EURO_WORD)) === 0) continue;
    const s = toks.start[k]!;
    const c0 = text.charCodeAt(s);
    if (c0 < 48 || c0 > 57) continue;
    if (!spaceGap(text, toks.end[k - 1]!, s, true)) continue;
    const first =
      (bits & A_EURO_WORD) !== 0 && k >= 2 && spaceGap(text, toks.end[k - 2]!, toks.start[k - 1]!, false)
        ? k - 2
        : k - 1;
    const lastWord = (bits & A_EURO_SUFFIX) !== 0 ? k - 1 : k - 2;
    for (let t = first; t <= lastWord; t++) {
      for (let p = Math.max(toks.start[t]!, last + 1); p < toks.end[t]!; p++) {
        const c = text.charCodeAt(p);
        if ((c >= 65 && c <= 90) || c >= 128) {
          EXTRA.push(p);
          last = p;
        }
      }
    }
  }
  return EXTRA;
}

// The street may open with an abbreviation ("ul. Brzozowa 17", "Avda. Rio Tormes 41") and go on in
// lower case ("Kase tee 12"); a lower-case first word ("318 mosevej 7") needs a cue.
const NUM_WORDS_NUM_RE =
  /(?<![\w.,/:-])\d{1,6}[ \t]+(?:(?:[Uu]l|[Aa]l|[Aa]vda|[Aa]v|[Rr]|[Ss]tr|[Pp]l|[Oo]s|[Uu])\.[ \t]*)?[\p{L}][\p{L}\p{M}'’-]+(?:[ \t]+(?:\p{Lu}[\p{L}\p{M}'’.-]*|\p{Ll}[\p{Ll}\p{M}'’]{1,12}|u\.|ul\.)){0,3}[ \t]+\d{1,5}[A-Za-z]?\.?(?![\w/:-]|[.,]\d)/gu;
// Also US military mail by ship: "USNS Harmon\nFPO AP 96601", "USCGC Tolliver FPO AE 09512".
// A named street without a house number after "on"/"at"/"lives on": "played on Harbor Mill
// Street", "lives on Weidenhof 12 street". Spelled-out street words only.
const NAMED_STREET_RE =
  /\b(?:on|at|off|along|lives on|live on|living on|located on)[ \t]+(?!(?:The|A|An|This|That|Our|My|Your|His|Her|Their|Its)\b)((?:\p{Lu}[\p{L}\p{M}'’.-]*[ \t]+){1,3}(?:\d{1,5}[ \t]+)?(?:Street|street|Avenue|avenue|Road|road|Boulevard|boulevard|Lane|lane|Drive|drive|Parkway|Highway)\b)/gu;
const POBOX_RE =
  /\b(?:p\.?\s?o\.?\s*box|post office box|psc|cmr|unit)\s+\d{1,6}(?:,?\s*box\s+\d{1,6})?(?:\s*\n?\s*(?:apo|fpo|dpo)\s+(?:aa|ae|ap)\s+\d{5})?\b|\bus(?:ns|nv|s|cgc)\s+[\p{L}'-]+(?:[ \t]+[\p{L}'-]+)?,?\s*\n?[ \t>]*(?:apo|fpo|dpo)\s+(?:aa|ae|ap)\s+\d{5}\b/giu;
const UNIT_ALONE_RE = /\b(?:apt|apartment|suite|ste|unit)\.?\s*#?\s*\d{1,5}[A-Z]?\b/gi;

const STATES =
  'AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|VI|GU|AS|MP';
const STATE_NAMES =
  'Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming';
const CITY_WORD_BEFORE = /([\p{Lu}][\p{L}\p{M}'.-]+)\s*$/u;
function cityBefore(text: string, at: number): [number, number] | null {
  let end = at;
  while (end > 0 && (text[end - 1] === ' ' || text[end - 1] === ',')) end--;
  if (end === at && at > 0) return null;
  let start = end;
  for (let w = 0; w < 3; w++) {
    const m = CITY_WORD_BEFORE.exec(text.slice(Math.max(0, start - 30), start));
    if (!m) break;
    start -= m[0].length;
    if (start > 0 && text[start - 1] !== ' ') break;
    if (start > 0) start--;
  }
  while (start < end && text[start] === ' ') start++;
  return start < end ? [start, end] : null;
}
const STATE_ZIP_RE = new RegExp(`\\b(?:${STATES}|${STATE_NAMES})\\.?,?\\s+(\\d{5}(?:-\\d{4})?)\\b`, 'g');
const ZIP4_RE = /(?<![\w-])\d{5}-\d{4}(?![\w-])/g;
const ZIP_CUE_RE =
  /\b(?:zip code|zipcode|zip|postal code|postcode|post code)\b[\s:#.-]*(?:is)?[\s:#.-]*(\d{4} ?[A-Z]{2}|\d{3,5}(?:[ -]\d{2,4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})\b/gi;
const UK_POSTCODE_RE = /\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}\b/g;
const CA_POSTCODE_RE = /\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d\b/g;

// Speed: word gates (tokens.ts wordGate). Each tests the lower-cased first letters/digits of a
// word and must accept every word a match of its pattern can start with; eachMatchAtWords then
// tries the pattern only at those words. Keep each in step with its pattern.
const AGE_GATE = wordGate((w) => /^(?:9\d|1[0-2]\d|age|nonagenarian$|centenarian$)/.test(w));
const STREET_GATE = wordGate((w) => /^\d{1,6}[a-z]?$/.test(w));
const NUM_WORDS_NUM_GATE = wordGate((w) => /^\d{1,6}$/.test(w));
const POBOX_GATE = wordGate((w) => /^(?:p|po|pobox|post|psc|cmr|unit|usns|usnv|uss|uscgc)$/.test(w));
const UNIT_ALONE_GATE = wordGate((w) => /^(?:apt|apartment|suite|ste|unit)/.test(w));
const STATE_FIRST = new Set(`${STATES}|${STATE_NAMES}`.split('|').map((s) => s.split(' ')[0]!.toLowerCase()));
const STATE_ZIP_GATE = wordGate((w) => STATE_FIRST.has(w));
const ADDRESS_CUE_GATE = wordGate((w) =>
  /^(?:my|his|her|their|our|new|home|mailing|postal|street|billing|shipping|address|lives|live|living|located|resides|meet|the|corner|office|arrived|send|ship|shipped|mail|mailed|deliver|delivered)$/.test(
    w,
  ),
);
const ZIP4_GATE = wordGate((w) => /^\d{5}$/.test(w));
const ZIP_CUE_GATE = wordGate((w) => /^(?:zip|zipcode|postal|postcode|post)$/.test(w));

// Literal words one of which every address cue contains: a cheap gate before the pattern.
// (" at" and " to" alone occur in nearly every text; the phrases are checked instead.)
const ADDRESS_CUE_WORDS = [
  'address',
  'lives at',
  'live at',
  'living at',
  'located at',
  'resides at',
  'meet me at',
  'corner of',
  'office is at',
  'arrived at',
  'send ',
  'ship',
  'mail',
  'deliver',
];
// Literal gates: a pattern runs only when the lower-cased text holds one of these strings. Only
// needed when word gates are off (no tokens, or fold risk: see literalGate).
const ADDRESS_CUE_LITERALS = literals(ADDRESS_CUE_WORDS);
const POBOX_LITERALS = literals(['box', 'psc', 'cmr', 'unit', 'fpo', 'apo', 'dpo']);
const UNIT_ALONE_LITERALS = literals(['apt', 'apartment', 'suite', 'ste', 'unit']);
const ZIP_CUE_LITERALS = literals(['zip', 'postal', 'post code', 'postcode']);
/**
 * Whether a word-gated pattern (eachMatchAtWords) whose every match holds one of `lits` may match.
 * With word gates on, the gate already skips texts without a cue word: one pass over the text
 * saved. Without them (no tokens, or fold risk), the literals keep the whole-text scan rare.
 */
function literalGate(ctx: ScanContext, lits: RegExp, lower: string): boolean {
  return (ctx.toks !== undefined && !ctx.toks.foldRisk) || lits.test(lower);
}
const ADDRESS_CUE_RE =
  /\b(?:(?:my|his|her|their|our|new|home|mailing|postal|street|billing|shipping)\s+address(?:\s+is)?|address\s*:|lives at|live at|living at|located at|resides at|meet me at|(?:the )?corner of|office is at|arrived at|send (?:it|them|this|that|a new one|the \w+) to|ship(?:ped)? to|mail(?:ed)? to|deliver(?:ed)? to)\s*:?\s*/giu;
// One address part: a number, a capitalised word, a unit word, a particle inside street names.
const PART_RE =
  /(?:\d{1,6}(?:[-/]\d{1,5})?[A-Za-z]?|[A-Z]{1,3}\d[A-Z0-9]{0,5}|[\p{Lu}][\p{L}\p{M}'’.-]*|(?:apt|suite|ste|unit|box|po|ul|str|de|do|da|dos|das|del|della|di|du|des|la|le|les|von|van|der|den|y|nan|gate|vej|gatan|utca)\.?)(?=[\s,?!;:)]|\.(?:\s|$)|$)/uy;
/**
 * End of the separator between address parts at `pos` (as the sticky pattern
 * /[ \t]*(?:,[ \t]*)?(?:\r?\n[ \t>]*){0,2}(?:,[ \t]*)?/y would match it: it always does, maybe empty).
 */
function sepEnd(text: string, pos: number): number {
  let p = skipIn(text, pos, false);
  if (text.charCodeAt(p) === 44) p = skipIn(text, p + 1, false);
  for (let k = 0; k < 2; k++) {
    const c = text.charCodeAt(p);
    if (c === 13 && text.charCodeAt(p + 1) === 10) p += 2;
    else if (c === 10) p++;
    else break;
    p = skipIn(text, p, true);
  }
  if (text.charCodeAt(p) === 44) p = skipIn(text, p + 1, false);
  return p;
}

/** Past the spaces and tabs (and ">" when `quote`) from `p`. */
function skipIn(text: string, p: number, quote: boolean): number {
  for (;;) {
    const c = text.charCodeAt(p);
    if (c === 32 || c === 9 || (quote && c === 62)) p++;
    else return p;
  }
}
const NOT_ADDRESS_WORDS = new Set(
  "I|I'm|A|An|The|And|Or|But|If|When|My|His|Her|Our|Their|Please|Thanks|Thank|Mobile|Phone|Tel|Email|Fax|Web|Cell|Best|Regards|Dear|Hi|Hello|Where|When|What|Who|Date|Time|Subject|From|To|Cc|It|This|That|There|We|You|He|She|They|Is|Was|On|In|At|For|With|Also|Then|So".split(
    '|',
  ),
);

/** Grow an address forward over separators and address parts (bounded: 12 parts, 160 chars). */
function extendForward(text: string, end: number): number {
  let pos = end;
  let best = end;
  for (let parts = 0; parts < 12 && pos - end < 160; parts++) {
    const at = sepEnd(text, pos);
    // A new line that is mostly a phone number ends the address.
    // (Both searches are bounded: a text without line breaks would otherwise be read to its end
    // for every part.)
    if (newlineIn(text, pos, at) >= 0) {
      const limit = Math.min(text.length, at + 40);
      const nl = newlineIn(text, at, limit);
      const lineEnd = nl < 0 ? limit : nl;
      const c0 = at < lineEnd ? text.charCodeAt(at) : 0;
      if (((c0 >= 48 && c0 <= 57) || c0 === 40 || c0 === 43) && countDigits(text, at, lineEnd) >= 7) break;
    }
    PART_RE.lastIndex = at;
    const m = PART_RE.exec(text);
    if (!m) break;
    const p = m[0];
    const word = p.charCodeAt(p.length - 1) === 46 ? p.slice(0, -1) : p;
    if (NOT_ADDRESS_WORDS.has(word)) break;
    // A capitalised word followed by a colon is a label ("Mobile:"), not part of the address.
    if (text[at + m[0].length] === ':') break;
    pos = at + m[0].length;
    best = pos;
  }
  return best;
}

/** The first "\n" in text[from, to), or -1. */
function newlineIn(text: string, from: number, to: number): number {
  for (let k = from; k < to; k++) if (text.charCodeAt(k) === 10) return k;
  return -1;
}

/** How many ASCII digits text[from, to) holds. */
function countDigits(text: string, from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/** Grow an address back over a leading house number on the same line ("846 31 Rue ..."). */
function extendBack(text: string, start: number): number {
  let s = start;
  for (let k = 0; k < 2; k++) {
    const m = /(\d{1,6})[ \t]+$/.exec(text.slice(Math.max(0, s - 12), s));
    if (!m) break;
    s -= m[0].length;
  }
  return s;
}

// One function per pass: a rare pattern's callback that V8 deoptimizes discards only its own
// small function.
export function recognizeAgeAddress(ctx: ScanContext, out: Candidate[]): void {
  // Cue words of the text (age-words.ts): a pattern none of whose cue words occur is skipped.
  const cues = cueBits(ctx);
  if (ctx.wants('AGE_OVER_89')) agesOver89(ctx, out, cues);
  if (ctx.wants('ADDRESS')) {
    const firstAnchor = out.length;
    if ((cues & A_STREET_TYPE) !== 0) streetLines(ctx, out);
    // Continental street forms are Title-case by construction; all-caps notes skip the pattern.
    if (!ctx.upper) euroStreets(ctx, out, cues);
    if (!ctx.upper && digitCount(ctx) >= 2) numberWordsNumber(ctx, out);
    if (!ctx.upper && (cues & A_NAMED_STREET) !== 0) namedStreets(ctx, out);
    const lower = lowerText(ctx);
    if (literalGate(ctx, POBOX_LITERALS, lower)) poBoxes(ctx, out);
    if (literalGate(ctx, UNIT_ALONE_LITERALS, lower)) unitsAlone(ctx, out);
    addressBlocks(ctx, out, firstAnchor, cues);
    citiesBeforeStateZip(ctx, out);
  }
  if (ctx.wants('ZIP')) {
    stateZips(ctx, out);
    zipPlus4(ctx, out);
    if (literalGate(ctx, ZIP_CUE_LITERALS, lowerText(ctx))) labelledZips(ctx, out);
    ukPostcodes(ctx, out);
    canadianPostcodes(ctx, out);
  }
}

function agesOver89(ctx: ScanContext, out: Candidate[], cues: number): void {
  const { text } = ctx;
  if ((cues & (A_AGE | A_AGE89)) !== 0)
    eachMatchAtWords(ctx, AGE_GATE, AGE_RE, (m) => {
      if (m[1] && ageOfThing(text, m.index, m.index + m[0].length)) return;
      pushMatch(out, m, 'AGE_OVER_89', 0.9, 'Age over 89');
    });
  if ((cues & A_SEX89) !== 0)
    eachMatchAtWords(ctx, AGE_GATE, AGE_SEX_RE, (m) => {
      out.push({
        type: 'AGE_OVER_89',
        start: m.index,
        end: m.index + m[1]!.length,
        confidence: 0.75,
        reason: 'Age over 89 before sex',
      });
    });
}

// Speed: STREET_RE and NUM_WORDS_NUM_RE start at a house number of at most six digits; the
// character after it must be \s, a letter or "-" (STREET_RE), a space or a tab (NUM_WORDS_NUM_RE).
// These filters (eachMatchAtWords' `can`) skip the other numbers without running the pattern.
/** After the digits at p: 0 when more than six, else the next character's code (NaN at the end). */
function afterNumber(text: string, p: number): number {
  let e = p;
  for (;;) {
    const c = text.charCodeAt(e);
    if (c >= 48 && c <= 57) e++;
    else return e - p > 6 ? 0 : c;
  }
}

function streetCan(text: string, p: number): boolean {
  const c = afterNumber(text, p);
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || isJsSpace(c);
}

function numberWordsCan(text: string, p: number): boolean {
  const c = afterNumber(text, p);
  return c === 32 || c === 9;
}

function streetLines(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(
    ctx,
    STREET_GATE,
    STREET_RE,
    (m) => {
      // Short or common-word street types ("Pt", "Dr", "Place", "Park") need Title-case words
      // before them; in all-caps notes "3 DOSES AND PT" is not an address.
      const tm = TYPE_IN_MATCH.exec(m[0]);
      // In all-caps notes only spelled-out types count ("6 MCG. HR STEADY CONT AV" is not a street).
      if (ctx.upper && (!tm || tm[1]!.replace('.', '').length <= 4)) return;
      if (
        tm &&
        AMBIGUOUS_TYPES.has(tm[1]!.toLowerCase().replace('.', '')) &&
        !/^\S+\s+(?:[NSEW]\.?\s+)?(?:\p{Lu}\p{Ll}+\s+)+/u.test(m[0])
      )
        return;
      out.push({
        type: 'ADDRESS',
        start: m.index,
        end: m.index + m[0].replace(/[\s,]+$/, '').length,
        confidence: 0.9,
        reason: 'Street address',
      });
    },
    streetCan,
  );
}

function euroStreets(ctx: ScanContext, out: Candidate[], cues: number): void {
  const extra = (cues & (A_EURO_SUFFIX | A_EURO_WORD)) !== 0 ? euroExtraStarts(ctx) : NO_STARTS;
  // Without a continental street word only the capitalised-word alternatives can match.
  const lead = (cues & A_EURO_LEAD) !== 0;
  if (!lead && extra.length === 0) return;
  const fn = (m: RegExpExecArray): void => {
    if (!/\d/.test(m[0])) return;
    pushMatch(out, m, 'ADDRESS', 0.8, 'Street address (continental form)');
  };
  if (lead) eachMatchAtWordsAnd(ctx, EURO_GATE, extra, EURO_RE, fn);
  // (No word gate then: the capitalised-word starts alone.)
  else eachMatchAtStarts(ctx, extra, EURO_RE, EURO_AT, fn);
}

/** "4410 Tammiku 12", "118 Petőfi tér 6.": house number, capitalised street words, number. */
function numberWordsNumber(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  eachMatchAtWords(
    ctx,
    NUM_WORDS_NUM_GATE,
    NUM_WORDS_NUM_RE,
    (m) => {
      // Lab values and vent settings share the shape ("Rate 10", "AST 524"): the form must open
      // its line or follow an address cue.
      const lineBefore = text.slice(Math.max(0, text.lastIndexOf('\n', m.index - 1) + 1), m.index);
      const cue = /\b(?:address|at|to|lives|live|is|on|of|in)\s*:?\s*$/i.test(lineBefore);
      // An apartment or suite right after it makes the form a street line wherever it stands
      // ("... please check 4302 Bergweg 31 Apt. 207").
      const unitAfter = /^,?[ \t]*(?:apt|apartment|suite|ste|unit)\b\.?[ \t]*#?[ \t]*\d/i.test(
        text.slice(m.index + m[0].length, m.index + m[0].length + 20),
      );
      if (!/^[\s>?*•·-]*$/.test(lineBefore) && !cue && !unitAfter) return;
      // Number, lower-case word, number reads as a quantity ("2 tabs 500") unless cued or
      // the next line goes on with an address (a unit, a place).
      const w1 = /^\d+[ \t]+(?:\S+\.[ \t]*)?(\S)/u.exec(m[0]);
      if (
        w1 &&
        w1[1]!.toLowerCase() === w1[1] &&
        !unitAfter &&
        !/\b(?:address|lives at|live at|located at|resides at)\s*:?\s*$/i.test(lineBefore) &&
        !/^\s*\n[\s>?*]*(?:apt|suite|unit)\b/i.test(
          text.slice(m.index + m[0].length, m.index + m[0].length + 20),
        )
      )
        return;
      // Quantities and times in notes ("12 from 9", "5 but bp 80") share the shape.
      if (/\s(?:mg|mcg|ml|cc|tabs?|units?|x|times|of|and|or|to|for|with)\s/i.test(m[0])) return;
      pushMatch(out, m, 'ADDRESS', 0.8, 'Street address (number, street, number)');
    },
    numberWordsCan,
  );
}

function namedStreets(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  eachMatch(NAMED_STREET_RE, text, (m) => {
    pushTail(out, m, m[1]!.length, 'ADDRESS', 0.75, 'Named street');
  });
}

function poBoxes(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(ctx, POBOX_GATE, POBOX_RE, (m) => {
    pushMatch(out, m, 'ADDRESS', 0.9, 'Post office or military box');
  });
}

function unitsAlone(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(ctx, UNIT_ALONE_GATE, UNIT_ALONE_RE, (m) => {
    pushMatch(out, m, 'ADDRESS', 0.7, 'Apartment or suite number');
  });
}

function addressBlocks(ctx: ScanContext, out: Candidate[], firstAnchor: number, cues: number): void {
  const { text } = ctx;
  const lower = lowerText(ctx);
  // Address blocks: a street line, unit or PO box grows over the rest of the address (more
  // numbers and capitalised words, commas, line breaks: "Apt. 5\nSpringfield, IL 62704\nUSA"),
  // and an address cue ("my address is", "lives at") starts one.
  const anchors: Array<[number, number]> = [];
  for (let k = firstAnchor; k < out.length; k++) anchors.push([out[k]!.start, out[k]!.end]);
  if ((cues & A_ADDRESS_CUE) !== 0 && literalGate(ctx, ADDRESS_CUE_LITERALS, lower))
    eachMatchAtWords(ctx, ADDRESS_CUE_GATE, ADDRESS_CUE_RE, (m) => {
      const at = m.index + m[0].length;
      if (/^[\d\p{Lu}]/u.test(text.slice(at, at + 1))) anchors.push([at, at]);
    });
  for (const [a, b] of anchors) {
    const start = extendBack(text, a);
    const end = extendForward(text, b);
    if (end - start > b - a && end > start)
      out.push({ type: 'ADDRESS', start, end, confidence: 0.96, reason: 'Address block' });
  }
}

/**
 * STATE_ZIP_RE can start at p (case-sensitive): every state and abbreviation opens with a capital,
 * and what a match holds before the ZIP is the state (at most 14 letters and spaces: "North
 * Carolina"), "." and "," and white space, so a walk over those must stop at a digit.
 */
function stateZipCan(text: string, p: number): boolean {
  const c0 = text.charCodeAt(p);
  if (c0 < 65 || c0 > 90) return false;
  let k = p + 1;
  const name = Math.min(text.length, p + 14);
  for (; k < name; k++) {
    const c = text.charCodeAt(k);
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 32)) break;
  }
  for (; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c !== 46 && c !== 44 && !isJsSpace(c)) return c >= 48 && c <= 57;
  }
  return false;
}

function citiesBeforeStateZip(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  // City before "ST 12345": walk back over up to three capitalised words (cheaper than a
  // regex that would start at every capital letter).
  eachMatchAtWords(
    ctx,
    STATE_ZIP_GATE,
    STATE_ZIP_RE,
    (m) => {
      const city = cityBefore(text, m.index);
      if (city)
        out.push({
          type: 'ADDRESS',
          start: city[0],
          end: city[1],
          confidence: 0.85,
          reason: 'City before state and ZIP',
        });
    },
    stateZipCan,
  );
}

function stateZips(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(
    ctx,
    STATE_ZIP_GATE,
    STATE_ZIP_RE,
    (m) => {
      const z = m[1]!;
      if (zipValid(z)) pushTail(out, m, z.length, 'ZIP', 0.95, 'ZIP code after a state');
    },
    stateZipCan,
  );
}

function zipPlus4(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(ctx, ZIP4_GATE, ZIP4_RE, (m) => {
    if (!zipValid(m[0])) return;
    pushMatch(out, m, 'ZIP', 0.85, 'ZIP+4 code');
  });
}

function labelledZips(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(ctx, ZIP_CUE_GATE, ZIP_CUE_RE, (m) => {
    const z = m[1]!;
    if (/\d/.test(z)) pushTail(out, m, z.length, 'ZIP', 0.9, 'Labelled postal code');
  });
}

function ukPostcodes(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  eachMatchAtWords(ctx, GATE_LETTER_DIGIT, UK_POSTCODE_RE, (m) => {
    if (!/\s/.test(m[0]) && !/\b(?:postcode|post code|uk|london)\b/i.test(before(text, m.index, 40))) return;
    pushMatch(out, m, 'ZIP', 0.8, 'UK postcode');
  });
}

function canadianPostcodes(ctx: ScanContext, out: Candidate[]): void {
  eachMatchAtWords(ctx, GATE_LETTER_DIGIT, CA_POSTCODE_RE, (m) => {
    pushMatch(out, m, 'ZIP', 0.8, 'Canadian postal code');
  });
}
