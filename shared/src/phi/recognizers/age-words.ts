// Per-word cue bits of the age and address patterns (ages.ts, age-address.ts, place-cues.ts), and
// the word lists they are built from.
import { eachMatch, type ScanContext } from '../candidate.ts';
import type { Tokens, Word } from '../tokens.ts';

// Street types of age-address.ts STREET_RE.
const STREET_TYPES =
  'street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|terr|circle|cir|parkway|pkwy|highway|hwy|freeway|fwy|expressway|square|sq|trail|trl|alley|aly|plaza|plz|route|rte|crescent|cres|close|grove|row|gardens|gdns|mews|walk|hill|heights|hts|point|pt|pike|loop|run|path|crossing|xing|commons|green|park|ridge|view|center|centre|station|landing|junction|causeway|quay|wharf|esplanade|promenade|broadway';
// Street types match as written in lower, Title or UPPER case; the pattern itself stays
// case-sensitive so the capitalised-word parts keep their meaning.
export const TYPES_ANY_CASE = STREET_TYPES.split('|')
  .map((t) => `${t}|${t[0]!.toUpperCase()}${t.slice(1)}|${t.toUpperCase()}`)
  .join('|');
// Continental street words of age-address.ts EURO_RE.
export const EURO_WORDS =
  'rue|avenue|boulevard|chemin|place|via|viale|piazza|vicolo|corso|calle|avenida|carrer|rua|praça|plaza|paseo|ulica|straße|strasse|gasse|weg|allee|platz'
    .split('|')
    // "via" in lower case is the English preposition ("via PB 840 vent"): capitalised only.
    .map((t) => (t === 'via' ? 'Via' : `${t}|${t[0]!.toUpperCase()}${t.slice(1)}`))
    .join('|');

// Speed: per-word cue bits (tokens.ts Word.ages), computed once per distinct word. A pattern that
// scans the whole text runs only when some token of the text has its bit (cueBits): each bit is
// true of every token a match of its pattern must contain, so the bits only skip texts where the
// pattern cannot match.
/** AGE_WORD_RE: "age"/"aged" starting the word or after a non-word character, then its end or digits. */
export const A_AGE = 1;
/** YO_RE: "y", "yo", "yoa" after at most three digits ("34yo", "y" of "y/o"). */
export const A_YO = 2;
/** AGE_SEX_RE: a sex marker, maybe after the age and "yo" ("F", "34F", "34yoM", "oF" of "y/oF"). */
export const A_SEX = 4;
/** age-address.ts NAMED_STREET_RE: a spelled-out street word. */
export const A_NAMED_STREET = 8;
/** age-address.ts EURO_RE: a word ending in a street suffix ("Lindauerstr", "Rantakatu", "Lipová"). */
export const A_EURO_SUFFIX = 16;
/** age-address.ts EURO_RE: a street word after a capitalised word ("Lindauer Strasse 8"). */
export const A_EURO_WORD = 32;
/** age-address.ts STREET_RE: a street type ("Street", "Ave", "RD"). */
export const A_STREET_TYPE = 64;
/** age-address.ts EURO_RE: a continental street word ("Rue", "Via", "Platz"). */
export const A_EURO_LEAD = 128;
/** age-address.ts ADDRESS_CUE_RE: the key word of an address cue ("address", "lives", "ship"). */
export const A_ADDRESS_CUE = 256;
/**
 * place-cues.ts HOSPITAL_INITIALS_RE: one to five capitals ending in "H", "MC" or "HC" between
 * `\b`s ("GH", "BWH", "UMMC").
 */
export const A_HOSP_INITIALS = 512;
/** place-cues.ts UNIV_RE: "u" or "univ", in any case, ending the token after `\b` ("U", "Univ"). */
export const A_UNIV = 1024;
/** ages.ts YEARS_OLD_RE: "old" or "age" (of "of age") at the token's start, closing its word. */
export const A_OLD = 2048;
/**
 * age-address.ts AGE_RE (with A_AGE): a years word maybe after the number ("yo", "95yrs", "y" of
 * "y/o", "yearold"), "birthday", "nonagenarian", "centenarian".
 */
export const A_AGE89 = 4096;
/** age-address.ts AGE_SEX_RE: a sex word maybe after the number and "yo" ("m", "95f", "yom", "oldf"). */
export const A_SEX89 = 8192;
// A pattern that may match at a word start inside a token (after a character that is no ASCII
// letter or digit: "l'avenue", "é12") comes as a pair: [0] tries every such place, [1] only the
// token's start, which gives the same answer for a token of ASCII letters and digits alone (most
// tokens) without trying every position (cheaper first sight of a word).
const NOT_LOWER_WORD = '(?:^|[^a-z0-9_])';
const NOT_WORD = '(?:^|[^A-Za-z0-9_])';
function wordStart(before: string, body: string, flags = ''): readonly [RegExp, RegExp] {
  return [new RegExp(before + body, flags), new RegExp(`^${body}`, flags)];
}

const A_AGE_RE = wordStart(NOT_LOWER_WORD, 'aged?(?:\\d|$)');
const A_YO_RE = wordStart('(?:^|[^a-z0-9])', '\\d{0,3}(?:y|yo|yoa)(?:[^a-z0-9]|$)');
const A_SEX_RE = wordStart(
  '(?<![A-Za-z0-9])',
  '(?:\\d{1,2})?(?:yo|YO|o)?(?:[MF]|male|female|man|woman|boy|girl|gentleman|lady|wm|wf|bm|bf)(?![A-Za-z0-9])',
);
const A_NAMED_STREET_RE =
  /^(?:Street|street|Avenue|avenue|Road|road|Boulevard|boulevard|Lane|lane|Drive|drive|Parkway|Highway)(?![A-Za-z0-9])/;
// (No start condition: tested on the last seven characters, the longest suffix.)
const A_EURO_SUFFIX_RE =
  /(?:straße|strasse|str|gasse|weg|allee|platz|gatan|vägen|vej|gade|veien|katu|tie|laan|straat|plein|gracht|utca|ulice|á|é|í|ó|ú|ská|ova|ová|ego)$/u;
const A_EURO_WORD_RE = /^(?:Strasse|Straße|Gasse|Weg|Allee|Platz)$/;
// STREET_RE takes a street type after `\s+`, so at a token start, and before `\b`.
const A_STREET_TYPE_RE = new RegExp(`^(?:${TYPES_ANY_CASE})(?![A-Za-z0-9])`);
// EURO_RE's words stand between `\b`s, maybe inside a token ("l'avenue").
const A_EURO_LEAD_RE = wordStart(NOT_WORD, `(?:${EURO_WORDS})(?![A-Za-z0-9_])`, 'u');
// ADDRESS_CUE_RE's phrases all hold one of these words at a word start (maybe longer: "addresses").
const A_ADDRESS_CUE_RE = wordStart(
  NOT_LOWER_WORD,
  '(?:address|live|living|located|resides|meet|corner|office|arrived|send|ship|mail|deliver)',
);
const A_HOSP_INITIALS_RE = wordStart('(?<![A-Za-z0-9_])', '[A-Z]{0,4}(?:H|MC|HC)(?![A-Za-z0-9_])');
const A_UNIV_RE = wordStart(NOT_WORD, '(?:u|univ)$', 'i');
const A_OLD_RE = /^(?:old|age)(?![a-z0-9_])/;
const A_AGE89_RE = wordStart(
  NOT_LOWER_WORD,
  '(?:\\d*(?:years?|yrs?|yr|y|yo)(?:old)?|birthday|nonagenarian|centenarian)(?![a-z0-9_])',
);
const A_SEX89_RE = wordStart(
  NOT_LOWER_WORD,
  '\\d*(?:y(?:ear)?)?(?:o(?:ld)?)?(?:m|f|male|female|man|woman|gentleman|lady|wm|wf|bm|bf)(?![a-z0-9_])',
);

/** Whether every character of `r` is an ASCII letter or digit. */
function asciiAlnum(r: string): boolean {
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return false;
  }
  return true;
}

function ageWordInfo(w: Word): number {
  const l = w.lower;
  const r = w.raw;
  const k = asciiAlnum(r) ? 1 : 0;
  return (
    (A_AGE_RE[k].test(l) ? A_AGE : 0) |
    (A_YO_RE[k].test(l) ? A_YO : 0) |
    (A_SEX_RE[k].test(r) ? A_SEX : 0) |
    (A_NAMED_STREET_RE.test(r) ? A_NAMED_STREET : 0) |
    (A_EURO_SUFFIX_RE.test(r.length > 7 ? r.slice(-7) : r) ? A_EURO_SUFFIX : 0) |
    (A_EURO_WORD_RE.test(r) ? A_EURO_WORD : 0) |
    (A_STREET_TYPE_RE.test(r) ? A_STREET_TYPE : 0) |
    (A_EURO_LEAD_RE[k].test(r) ? A_EURO_LEAD : 0) |
    (A_ADDRESS_CUE_RE[k].test(l) ? A_ADDRESS_CUE : 0) |
    (A_HOSP_INITIALS_RE[k].test(r) ? A_HOSP_INITIALS : 0) |
    (A_UNIV_RE[k].test(r) ? A_UNIV : 0) |
    (A_OLD_RE.test(l) ? A_OLD : 0) |
    (A_AGE89_RE[k].test(l) ? A_AGE89 : 0) |
    (A_SEX89_RE[k].test(l) ? A_SEX89 : 0)
  );
}

/** The A_* bits of a word. */
export function ageBits(w: Word): number {
  let b = w.ages;
  if (b < 0) w.ages = b = ageWordInfo(w);
  return b;
}

// The A_* bits of the last scanned text's tokens, read by several recognizers: computed once per
// scan into a reused array. The bits depend only on the text, so the text is the key (a new
// string each scan; the same text gives the same bits whatever its Tokens object).
let bitsText: string | null = null;
let bitsCount = -1;
let bitsAny = 0;
let TOKEN_BITS = new Int32Array(512);

/** The A_* bits of each token of the scan (index: token), valid until the next scan's call. */
export function tokenCueBits(ctx: ScanContext, toks: Tokens): Int32Array {
  if (ctx.text !== bitsText || toks.count !== bitsCount) fillBits(ctx.text, toks);
  return TOKEN_BITS;
}

function fillBits(text: string, toks: Tokens): void {
  const words = toks.word;
  const n = toks.count;
  if (TOKEN_BITS.length < n) TOKEN_BITS = new Int32Array(Math.max(n, TOKEN_BITS.length * 2));
  const bits = TOKEN_BITS;
  let any = 0;
  for (let k = 0; k < n; k++) any |= bits[k] = ageBits(words[k]!);
  bitsAny = any;
  bitsText = text;
  bitsCount = n;
}

/**
 * OR of the A_* bits of the text's tokens; all bits without tokens or when case-insensitive
 * patterns may fold non-ASCII letters (tokens.ts foldRisk).
 */
export function cueBits(ctx: ScanContext): number {
  const toks = ctx.toks;
  if (!toks || toks.foldRisk) return -1;
  if (ctx.text !== bitsText || toks.count !== bitsCount) fillBits(ctx.text, toks);
  return bitsAny;
}

/**
 * Same matches as eachMatch(re, ctx.text, fn) for a global pattern every match of which starts
 * at one of `starts` (increasing): its sticky twin `y` is tried there only, as candidate.ts
 * eachMatchAtWordsAnd does with no word gate. Without tokens, or with fold risk (the starts come
 * from the tokens), the whole text is scanned.
 */
export function eachMatchAtStarts(
  ctx: ScanContext,
  starts: readonly number[],
  re: RegExp,
  y: RegExp,
  fn: (m: RegExpExecArray) => void,
): void {
  const text = ctx.text;
  if (!ctx.toks || ctx.toks.foldRisk) {
    eachMatch(re, text, fn);
    return;
  }
  let from = 0; // end of the last match: a match never starts inside the previous one
  for (let k = 0; k < starts.length; k++) {
    const p = starts[k]!;
    if (p < from) continue;
    y.lastIndex = p;
    const m = y.exec(text);
    if (m === null || m[0].length === 0) continue;
    fn(m);
    from = p + m[0].length;
  }
}
