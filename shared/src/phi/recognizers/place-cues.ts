// Places given by a phrase rather than a street line:
//   - an intersection: "the corner of Elm Street and 5th Avenue", "corner of Oak & Main";
//   - a hometown: "originally from Tarnów", "my home town Ely", "hometown: Bend".
// Not a "Where:" line: an event's venue is a public place, and a newsletter announcing a workshop
// must not read as a patient's address.
// Every pattern is gated on a literal word of its cue, so texts without one pay one lookup.
import { eachMatch, wordSet, type Candidate, type ScanContext, pushMatch, pushTail } from '../candidate.ts';
import { US_STATES } from '../dictionaries/countries.ts';
import { wordFlag } from '../tokens.ts';
import { A_HOSP_INITIALS, A_UNIV, tokenCueBits } from './age-words.ts';

// One word of a street or place name: capitalised, a number, or a street/particle word.
const PLACE_WORD_RE =
  /^(?:[\p{Lu}][\p{L}\p{M}'’.-]*|\d{1,6}[A-Za-z]{0,2}\.?|(?:st|str|rd|ave|blvd|ln|dr|ct|pl|sq|ul|u|út|utca|út|rue|via|de|del|della|di|da|do|dos|das|des|du|la|le|les|von|van|der|den|ten|ter|street|avenue|road|lane|drive|boulevard|place|square|way|court|route|trail|pass|parks?|greens?|coves?|bridge|summit|harbou?r|mill|flats?|club|union|forges?|turnpike|bypass|radial|crossroad|courts?|kapu|gate|gatan|vej|veien|gasse|weg|straße|strasse|straat|laan)\.?)$/u;

const STREETISH_RE =
  /\d|\b(?:st|street|rd|road|ave|avenue|blvd|boulevard|ln|lane|dr|drive|way|place|pl|court|ct|square|sq|highway|hwy|route|parkway|pkwy|trail)\b/;
// "corner of" through the end of its clause.
const CORNER_RE = /\b(?:the\s+)?corner\s+of\s+([^\n,;:!?()"]{3,100})/giu;
const WORD_SPLIT_RE = /[ \t]+/;

/** Length of the leading run of place words in `s` (at most `max` words), in characters. */
function placeRun(s: string, max: number, anyCase: boolean): number {
  const words = s.split(WORD_SPLIT_RE);
  let len = 0;
  let taken = 0;
  for (const w of words) {
    if (taken >= max || w.length === 0) break;
    const bare = w.replace(/[.]$/, '');
    if (!(anyCase ? /^[\p{L}\p{N}]/u.test(bare) : PLACE_WORD_RE.test(bare))) break;
    if (/^(?:and|or|where|when|which|who|that|in|on|at|to|for|with|the|a|an|is|was)$/i.test(bare)) break;
    len += (taken > 0 ? s.slice(len).search(/\S/) : 0) + w.length;
    taken++;
    // A sentence end inside the run ("Main St. The ...") stops it after the word.
    if (/\.$/.test(w) && !/^(?:st|rd|ave|blvd|ln|dr|ct|pl|sq|ul|u|str|\d+)\.$/i.test(w)) break;
  }
  return len;
}

function corners(text: string, out: Candidate[]): void {
  eachMatch(CORNER_RE, text, (m) => {
    const clause = m[1]!;
    const cut = /\s(?:and|&)\s/.exec(clause);
    if (!cut) return;
    // Lower-case mail writes street names in lower case too (then a number or a street word must
    // show it is a street: "the corner of each page and ..." is not); otherwise capitals and numbers.
    const anyCase = !/\p{Lu}/u.test(text.slice(Math.max(0, m.index - 200), m.index + m[0].length));
    const a = clause.slice(0, cut.index);
    if (placeRun(a, 6, anyCase) !== a.length) return;
    const rest = clause.slice(cut.index + cut[0].length);
    const b = placeRun(rest, 5, anyCase);
    if (b === 0) return;
    const clauseAt = m.index + m[0].length - clause.length;
    if (anyCase && !STREETISH_RE.test(clause.slice(0, cut.index + cut[0].length + b))) return;
    let end = clauseAt + cut.index + cut[0].length + b;
    while (
      end > clauseAt &&
      /[\s.]/.test(text[end - 1]!) &&
      !/\b(?:st|rd|ave|dr)\.$/i.test(text.slice(end - 4, end))
    )
      end--;
    out.push({ type: 'ADDRESS', start: m.index, end, confidence: 0.97, reason: 'Street corner' });
  });
}

// "originally from X", "(my|his|her) home town X", "hometown: X", "home city X".
const HOMETOWN_RE =
  /\b(?:[Oo]riginally\s+(?:from|of)|(?:[Hh]ome\s*town|HOMETOWN|[Hh]ome\s+city|[Nn]ative\s+city|[Bb]irthplace|[Pp]lace\s+of\s+birth)(?:\s+(?:is|was|of))?\s*:?)[ \t]+((?:[\p{Lu}][\p{L}\p{M}'’.-]*|\d{1,3})(?:[ \t]+(?:[\p{Lu}][\p{L}\p{M}'’.-]*|\d{1,3}|(?:de|del|la|le|upon|on|am|an|der|sur|u|na|nad|pod)(?=[ \t]+\p{Lu}))){0,3})/gu;
// A hospital's initials ("transferred to GH", "seen at BWH", "UMMC EW"): capitals ending in H, MC
// or HC after "at/to/from/by", or before an emergency or critical-care unit. Clinical acronyms of
// the same shape (BPH, NPH, LVH, PMH, TSH...) are not places.
const HOSPITAL_INITIALS_RE = /\b[A-Z]{0,4}(?:H|MC|HC)\b/g;
const HOSPITAL_INITIALS_AT = /\b[A-Z]{0,4}(?:H|MC|HC)\b/y;
const INITIALS_CUE_BEFORE_RE = /(?:\b(?:at|to|from|by|At|To|From|AT|TO|FROM|BY)[ \t]+|@[ \t]*)$/;
const INITIALS_UNIT_AFTER_RE =
  /^[ \t]+(?:EW|ER|ED|ICU|CCU|MICU|SICU|CVICU|NICU|PICU|[Cc]ath|CATH|[Cc]linic|CLINIC)\b/;
export const NOT_HOSPITAL = new Set(
  'CATH|TRACH|BATH|BOTH|CASH|DASH|EACH|FISH|HIGH|LASH|MASH|MATH|MESH|MUCH|PATH|PUSH|RUSH|SUCH|WASH|WISH|WITH|OUCH|RICH|ITCH|INCH|ARCH|BPH|NPH|LVH|RVH|ICH|SAH|SDH|EDH|IVH|PPH|TSH|ACTH|ADH|LDH|HGH|FSH|LH|PTH|CH|PH|OH|AH|EH|UH|HH|NH|DH|SH|TH|WH|BH|RH|VH|FH|PMH|PSH|FMH|OSH|MSH|NSH|DVH|HCH|BIH|IAH|ISH|PAH|CAH|OHH|LOH|ETOH|ETH|EMH|TAH|DMH|SMH|BMH|AMH|OMH|NMH|IMH|SCH|MCH|DCH|RCH|PCH|HMC|AMC|SMC|DMC|MMC|OMC|CMC|PMC|EMC|AHC|PHC|CHC|FQHC|MHC|BHC|DHHS|HHS|OASH|NCH|WIH|ETCH'.split(
    '|',
  ),
);

// A state university by its short form: "U Maryland", "U. Mass", "Univ of Michigan" (a hospital or a
// protocol named after it, such as a dosing scale).
let UNIV_RE: RegExp | undefined;
function univRe(): RegExp {
  UNIV_RE ??= new RegExp(
    `\\b(?:U\\.?|Univ\\.?|UNIV\\.?)[ \\t]+(?:of[ \\t]+|OF[ \\t]+)?(?:${US_STATES.split('|')
      .map((st) => st.replace(/\b\w/g, (c) => c.toUpperCase()).replace(/ /g, '[ \\t]+'))
      .join('|')}|Mass|Penn|Conn|Mich|Wisc)\\b`,
    'gi',
  );
  return UNIV_RE;
}

// Cue words as word flags (tokens.ts wordFlag): the tokenizer tells which of them the text holds.
const CUE_WORDS: ReadonlyArray<readonly [readonly string[], number]> = [
  ['corner'],
  ['u', 'univ'],
  ['originally', 'hometown', 'birthplace'],
  ['home'],
  ['town'],
  ['city'],
  ['birth'],
  ['place'],
  ['native'],
].map((ws) => [ws, wordFlag(ws)] as const);
const [F_CORNER, F_UNIV, F_HOMETOWN, F_HOME, F_TOWN, F_CITY, F_BIRTH, F_PLACE, F_NATIVE] = CUE_WORDS.map(
  ([, f]) => f,
) as [number, number, number, number, number, number, number, number, number];

/** The flags above of the cue words the text holds. */
function cueWords(ctx: ScanContext): number {
  if (ctx.toks) return ctx.toks.wordFlags;
  const words = wordSet(ctx);
  let bits = 0;
  for (const [ws, f] of CUE_WORDS) if (ws.some((w) => words.has(w))) bits |= f;
  return bits;
}

/**
 * eachMatch(HOSPITAL_INITIALS_RE, ctx.text, fn), tried only inside the tokens that hold such
 * initials (age-words.ts A_HOSP_INITIALS). A match is capitals between `\b`s, so it lies inside one
 * token and starts at a capital after a character that is not a word character.
 */
function eachHospitalInitials(ctx: ScanContext, fn: (m: RegExpExecArray) => void): void {
  const { text, toks } = ctx;
  if (!toks) {
    eachMatch(HOSPITAL_INITIALS_RE, text, fn);
    return;
  }
  const bits = tokenCueBits(ctx, toks);
  for (let k = 0; k < toks.count; k++) {
    if ((bits[k]! & A_HOSP_INITIALS) === 0) continue;
    const end = toks.end[k]!;
    for (let p = toks.start[k]!; p < end;) {
      const c = text.charCodeAt(p);
      if (c >= 65 && c <= 90 && (p === 0 || !isWordChar(text.charCodeAt(p - 1)))) {
        HOSPITAL_INITIALS_AT.lastIndex = p;
        const m = HOSPITAL_INITIALS_AT.exec(text);
        if (m !== null) {
          fn(m);
          p += m[0].length;
          continue;
        }
      }
      p++;
    }
  }
}

let UNIV_AT: RegExp | undefined;
/**
 * eachMatch(univRe(), ctx.text, fn), tried only where "U" or "Univ" ends a token after `\b`
 * (age-words.ts A_UNIV): a match's "U\.?" or "Univ\.?" is followed by a space or a tab.
 */
function eachUniversity(ctx: ScanContext, fn: (m: RegExpExecArray) => void): void {
  const { text, toks } = ctx;
  if (!toks) {
    eachMatch(univRe(), text, fn);
    return;
  }
  UNIV_AT ??= new RegExp(univRe().source, 'iy');
  const y = UNIV_AT;
  const bits = tokenCueBits(ctx, toks);
  let from = 0;
  for (let k = 0; k < toks.count; k++) {
    if ((bits[k]! & A_UNIV) === 0) continue;
    const raw = toks.raw[k]!;
    const n = raw.length;
    const univ =
      n >= 4 && raw.slice(n - 4).toLowerCase() === 'univ' && (n === 4 || !isWordChar(raw.charCodeAt(n - 5)));
    const p = toks.end[k]! - (univ ? 4 : 1);
    if (p < from) continue;
    y.lastIndex = p;
    const m = y.exec(text);
    if (m === null) continue;
    fn(m);
    from = p + m[0].length;
  }
}

/** What \w matches without the u and i flags. */
function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

export function recognizePlaceCues(ctx: ScanContext, out: Candidate[]): void {
  if (!ctx.wants('ADDRESS')) return;
  const { text } = ctx;
  const words = cueWords(ctx);
  if ((words & F_CORNER) !== 0) corners(text, out);
  if ((words & F_UNIV) !== 0)
    eachUniversity(ctx, (m) => {
      // A capital "U": a lower-case "u" is "you" in chat ("send u Texas pics").
      if (m[0][0] !== 'U') return;
      pushMatch(out, m, 'ADDRESS', 0.8, 'State university');
    });
  eachHospitalInitials(ctx, (m) => {
    const a = m[0];
    if (a.length < 2 || NOT_HOSPITAL.has(a)) return;
    // In all-caps notes words end in H too ("TO TOUCH", "WITH MICU"): three letters at most there.
    if (ctx.upper && a.endsWith('H') && a.length > 3) return;
    const end = m.index + a.length;
    const next = text.charCodeAt(end);
    // Not "GH-", "GH/", "GH's", "GH.5".
    if (next === 45 || next === 47 || next === 39 || next === 0x2019) return;
    if (next === 46 && /\w/.test(text[end + 1] ?? '')) return;
    if (
      !INITIALS_CUE_BEFORE_RE.test(text.slice(Math.max(0, m.index - 6), m.index)) &&
      !INITIALS_UNIT_AFTER_RE.test(text.slice(end, end + 8))
    )
      return;
    out.push({ type: 'ADDRESS', start: m.index, end, confidence: 0.7, reason: 'Hospital initials' });
  });
  if (
    (words & F_HOMETOWN) !== 0 ||
    ((words & F_HOME) !== 0 && (words & (F_TOWN | F_CITY)) !== 0) ||
    ((words & F_BIRTH) !== 0 && (words & F_PLACE) !== 0) ||
    ((words & F_NATIVE) !== 0 && (words & F_CITY) !== 0)
  )
    eachMatch(HOMETOWN_RE, text, (m) => {
      pushTail(out, m, m[1]!.length, 'ADDRESS', 0.75, 'Hometown');
    });
}
