// Places smaller than a state: hospitals and facilities, cities from a dictionary, and
// capitalised words after location cues ("transferred to X", "lives in X").
import { pushTokens, type Candidate, type ScanContext } from '../candidate.ts';
import { COUNTRIES, US_STATES } from '../dictionaries/countries.ts';
import { CITIES } from '../dictionaries/names.ts';
import { ByFirstWord } from '../dictionaries/lookup.ts';
import { NOT_NAMES } from '../dictionaries/not-names.ts';
import { isFirstNameWord, isNameWord } from './names.ts';
import { NOT_HOSPITAL } from './place-cues.ts';
import {
  SHAPE_CAPS,
  SHAPE_INITIAL,
  SHAPE_LETTERS,
  SHAPE_LOWER,
  SHAPE_TITLE,
  type Tokens,
  type Word,
  wordFlag,
} from '../tokens.ts';

let CITY_FIRST: ByFirstWord | undefined;
// Cities by first word, searched in the front-coded list word by word (lookup.ts).
function cities(): ByFirstWord {
  return (CITY_FIRST ??= new ByFirstWord(CITIES, (c) =>
    c.match(/[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:'[\p{L}]+)?/gu),
  ));
}

// The not-names list holds some big places so that they are never taken as person names; as
// places they are exactly what this recognizer looks for.
const PLACE_NOT_NAMES = new Set(
  'london|york|boston|chicago|texas|california|florida|washington|england|america'.split('|'),
);
const STOP = new Set(NOT_NAMES.split('|').filter((w) => !PLACE_NOT_NAMES.has(w)));

// Countries and US states by first word, longest names first ("united states of america" before "united states").
let COUNTRY_FIRST: Map<string, string[][]> | undefined;
function countries(): Map<string, string[][]> {
  if (COUNTRY_FIRST) return COUNTRY_FIRST;
  const m = new Map<string, string[][]>();
  for (const c of `${COUNTRIES}|${US_STATES}`.split('|')) {
    const words = c.match(/[\p{L}\p{N}]+/gu);
    if (!words) continue;
    const arr = m.get(words[0]);
    if (arr) arr.push(words);
    else m.set(words[0], [words]);
  }
  for (const arr of m.values()) arr.sort((a, b) => b.length - a.length);
  COUNTRY_FIRST = m;
  return m;
}
// Countries that are also first names or common words: only after a place cue ("from Jordan").
const AMBIGUOUS_COUNTRY = new Set(
  'jordan|chad|georgia|turkey|china|guinea|niger|mali|israel|kenya|india|dominica|grenada|jersey|wales|england|holland|oman|peru|cuba|malta|samoa|tonga|congo|korea|sudan|iran|iraq|uk|washington|virginia|indiana|montana|carolina|maine|nevada|kansas|georgia'.split(
    '|',
  ),
);
// Adjectives that appear inside hospital names but do not name one alone.
const FACILITY_ADJ = new Set(
  'outside|local|community|state|county|general|university|private|previous|prior|other|another|same|nearest|receiving|referring|transferring|home|old|new|main|psychiatric|psych|mental|childrens|children|veterans|va|osh|city|medical|health|rehab'.split(
    '|',
  ),
);
const GENERIC_FACILITY = new Set(
  'ew|vicu|tlc|midnoc|angio|radiology|hospice|baseline|area|norm|limits|stimuli|painful|severe|head|triple|lumen|ct|mri|xray|cs|ir|pacu|cvicu|ccu|snf|nh|dept|department|house|apartment|room|chair|bathroom|shower|commode|work|school|church|office|clinic|surgery|procedure|lab|labs|imaging|bed|bedside|unit|floor|ward|icu|er|ed|or|outside|local|community|state|county|general|university|private|previous|prior|other|another|same|nearest|receiving|referring|transferring|home|old|new|big|small|main|big|psychiatric|psych|mental|childrens|children|veterans|va|osh|an|a|the|to|from|at|in|of|his|her|their|our|this|that'.split(
    '|',
  ),
);
// Where a patient "goes" in notes without going to a place: heart rhythms ("went into AF"),
// ventilator modes ("returned to IMV"), the blood bank ("sample sent to BB"), hospital services
// ("transferred to medicine"), limbs ("swab sent from LLE"), the patient's own baseline and "OH"/"OSH"
// (outside hospital, no name).
const NOT_DESTINATION = new Set(
  'af|afib|aflutter|raf|nsr|sr|st|svt|vt|vf|vfib|pea|asystole|sinus|junctional|bigeminy|trigeminy|rapid|oh|osh|pt|patient|baseline|rle|lle|rue|lue|imv|simv|cpap|bipap|psv|ps|prvc|trach|bb|medicine|cardiology|neurology|neurosurgery|oncology|psychiatry|nephrology|urology|hematology|pulmonary|gi|ortho|orthopedics|dermatology|gynecology|obstetrics'.split(
    '|',
  ),
);
// Verbs of moving a patient, then "to/from/at": the next capitalised words name a place.
const MOVE_VERBS = new Set(
  "transferred|transfered|transfer|trans|tx|xfer|xferred|sent|admitted|adm|readmitted|referred|came|come|arrived|arriving|taken|brought|presented|followed|seen|went|go|going|goes|transported|transport|discharged|dc|d/c|returned|return|accepted|excepted|flown|flew|lives|living|live|resides|residing|moved|moving|relocated|travelled|traveled|trip|born|raised|grew|originally|based|located|stationed|visiting|vacationing|staying|stay|stays|stayed|am|is|are|was|were|been|i'm|im|work|works|worked|working|drive|drove|driving|fly|flying|headed|heading|travel|traveling|travelling|vacation|holiday|conference|meeting|office|branch|headquarters|hq|hometown|hails|hailing|native".split(
    '|',
  ),
);
const WEAK_MOVE = new Set(
  "am|is|are|was|were|been|i'm|im|work|works|worked|working|office|branch|meeting|conference".split('|'),
);
const SKIP_AFTER_VERB = new Set(
  'here|back|over|home|nearby|near|now|currently|originally|just|there'.split('|'),
);
// Words that may follow a place and close its phrase ("flew to X on Friday", "lives in X and").
const CLOSING_WORDS = new Set(
  'and|on|in|at|for|with|since|last|this|next|today|yesterday|tomorrow|but|where|when|to|until|now|area'.split(
    '|',
  ),
);
const RESIDENCE_VERBS = new Set(
  'lives|living|live|resides|residing|moved|born|raised|grew|flew|traveled|travelled|relocated|visiting|visited'.split(
    '|',
  ),
);
const MOVE_PREPS = new Set('to|from|into|at|in|@|up'.split('|'));
const FACILITY = new Set(
  'hospital|hosp|hospitals|hospiatal|clinic|infirmary|sanatorium|memorial|hospice|pavilion|rehab|campus'.split(
    '|',
  ),
);
// Facility words that need a second word: "Medical Center", "Nursing Home", "Health Center".
const FACILITY_FIRST = new Set([
  'medical',
  'nursing',
  'health',
  'rehab',
  'regional',
  'care',
  'treatment',
  'behavioral',
  'mental',
  'family',
  'primary',
  'urgent',
]);
const FACILITY_PAIRS = new Set([
  'medical center',
  'medical centre',
  'nursing home',
  'health center',
  'health centre',
  'rehab center',
  'regional hospital',
  'regional medical',
  'care center',
  'treatment center',
  'behavioral health',
  'mental health',
  // Practices: "Lakeside Family Medicine", "Elm Street Primary Care", "Bayview Medical Group".
  'family medicine',
  'family practice',
  'family health',
  'primary care',
  'medical group',
  'medical associates',
  'urgent care',
]);
const FROM_AT = new Set(['from', 'at', '@']);
const RESIDENCE_FACILITY = new Set(['house', 'manor', 'lodge']);
const RESIDENCE_PREPS = new Set(['to', 'from', 'at', 'into', '@']);
// Words that never open a facility's name (articles, pronouns, prepositions, verbs of care).
const NAME_OPENERS_NOT = new Set(
  'the|a|an|his|her|their|our|my|your|its|this|that|to|from|at|in|on|of|for|with|by|and|or|into|back|home|outside|local|same|other|another|previous|prior|new|old|will|was|is|be|been|to|per|see'.split(
    '|',
  ),
);
// Sides that name a campus.
const DIRECTIONS = new Set(
  'north|south|east|west|northeast|northwest|southeast|southwest|main|central|upper|lower'.split('|'),
);
// Kinds of care that stand before "rehab", "hospital", "clinic" without naming one.
const CARE_KIND = new Set(
  'prev|previous|leave|start|starting|begin|poss|possible|possibly|probable|likely|need|needs|consider|screen|screening|eval|evaluation|cardiac|pulmonary|physical|occupational|speech|inpatient|outpatient|acute|subacute|drug|alcohol|day|partial|detox|short|long|term|stroke|brain|injury|vestibular|pain|sleep|wound|memory|eating|disorder|addiction|methadone|dialysis|infusion|walk|urgent|free|animal|veterinary|vet|dental|eye'.split(
    '|',
  ),
);
const LOC_CUE = new Set(
  'in|at|from|to|near|lives|living|moved|visiting|hometown|transferred|transfer|trans'.split('|'),
);
const CAP_RE = /^[\p{Lu}][\p{L}\p{M}'’.-]*$/u;

// Per-word facts for the loops below, computed once per distinct word and kept on its Word
// (tokens.ts, field `places`): which lists hold its lower-cased text, and whether its exact text
// is capitalised (CAP_RE). The loops test bits instead of looking each token up.
const P_COUNTRY = 1; // first word of a country or US state (countries())
const P_FACILITY = 2; // FACILITY
const P_FACILITY_FIRST = 4; // FACILITY_FIRST
const P_CITY = 8; // first word of a dictionary city (cities())
const P_CAP = 16; // CAP_RE matches the exact text
const P_MOVE_VERB = 32; // MOVE_VERBS
const P_RESIDENCE = 64; // RESIDENCE_FACILITY
const P_SAINT = 128; // "st", "saint"
const P_STATE_CODE = 256; // STATE_CODES (exact text)
const P_WARD_WORD = 512; // may name a ward before its number (wardWord)
const P_WARD_CUE = 16384; // WARD_CUES, "plan"
const P_WARD_NUM = 32768; // a ward's number: 1-99 without a leading zero
const P_STATE_STEM = 65536; // F_STATE_STEM: a state's name, maybe possessive
const P_LOC_TRIGGER = 1024; // "in", "university", "college" (recognizeLocationCues, with P_MOVE_VERB)
const P_RELATIVE = 2048; // RELATIVES
const P_LOWER_HOSP = 4096; // lower-case hospital initials (lowerHospitalInitials)
const P_OF = 8192; // "of"
// Words recognizeLocationCues asks about around its cue words.
const P_IN = 1 << 17; // "in"
const P_UNIVERSITY = 1 << 18; // "university", "college"
const P_WEAK_MOVE = 1 << 19; // WEAK_MOVE
const P_SKIP_AFTER_VERB = 1 << 20; // SKIP_AFTER_VERB
const P_MOVE_PREP = 1 << 21; // MOVE_PREPS
const P_ON = 1 << 22; // "on"
const P_TRIP = 1 << 23; // TRIP_WORDS
const P_THE = 1 << 24; // "the"
// placeWordAt may take the word: it has a bit of P_MAIN and is a country or capitalised (Title
// case, capitals, an initial, CAP_RE) or a lower-case facility word; at any other word placeWordAt
// returns at once, and recognizePlaces' main loop does not list it.
const P_MAIN_AT = 1 << 25;
// The word's lower-cased text is as long as its exact text (toLowerCase keeps the length of most
// words; "İ" is one that it does not).
const P_SAME_LENGTH = 1 << 26;
const P_MAIN = P_COUNTRY | P_FACILITY | P_FACILITY_FIRST | P_RESIDENCE | P_SAINT | P_CITY;
function placeInfo(word: Word): number {
  const b = placeLists(word);
  const shp = word.shape;
  const at =
    (b & P_MAIN) !== 0 &&
    ((b & (P_COUNTRY | P_CAP)) !== 0 ||
      (shp & (SHAPE_TITLE | SHAPE_CAPS | SHAPE_INITIAL)) !== 0 ||
      ((shp & SHAPE_LOWER) !== 0 && (b & P_FACILITY) !== 0));
  const same = word.lower.length === word.raw.length ? P_SAME_LENGTH : 0;
  return (at ? b | P_MAIN_AT : b) | same;
}
function placeLists(word: Word): number {
  const w = word.lower;
  return (
    (countries().has(w) ? P_COUNTRY : 0) |
    (FACILITY.has(w) ? P_FACILITY : 0) |
    (FACILITY_FIRST.has(w) ? P_FACILITY_FIRST : 0) |
    (cities().has(w) ? P_CITY : 0) |
    (CAP_RE.test(word.raw) ? P_CAP : 0) |
    (MOVE_VERBS.has(w) ? P_MOVE_VERB : 0) |
    (RESIDENCE_FACILITY.has(w) ? P_RESIDENCE : 0) |
    (w === 'st' || w === 'saint' ? P_SAINT : 0) |
    (STATE_CODES.has(word.raw) ? P_STATE_CODE : 0) |
    (wardWord(word) ? P_WARD_WORD : 0) |
    (WARD_CUES.has(w) || w === 'plan' ? P_WARD_CUE : 0) |
    (/^[1-9][0-9]?$/.test(word.raw) ? P_WARD_NUM : 0) |
    (w === 'in' || w === 'university' || w === 'college' ? P_LOC_TRIGGER : 0) |
    (RELATIVES.has(w) ? P_RELATIVE : 0) |
    (lowerHospitalInitials(word) ? P_LOWER_HOSP : 0) |
    (w === 'of' ? P_OF : 0) |
    (w === 'in' ? P_IN : 0) |
    (w === 'university' || w === 'college' ? P_UNIVERSITY : 0) |
    (WEAK_MOVE.has(w) ? P_WEAK_MOVE : 0) |
    (SKIP_AFTER_VERB.has(w) ? P_SKIP_AFTER_VERB : 0) |
    (MOVE_PREPS.has(w) ? P_MOVE_PREP : 0) |
    (w === 'on' ? P_ON : 0) |
    (TRIP_WORDS.has(w) ? P_TRIP : 0) |
    (w === 'the' ? P_THE : 0) |
    ((word.flags & F_STATE_STEM) !== 0 ? P_STATE_STEM : 0)
  );
}
/** The P_* bits of token i. */
function placeBits(toks: Tokens, i: number): number {
  const word = toks.word[i]!;
  let b = word.places;
  if (b < 0) word.places = b = placeInfo(word);
  return b;
}

/** Scratch array of recognizePlaces: the P_* bits of each token (reused, grown on demand). */
let PB = new Int32Array(512);
// Scratch lists of recognizePlaces (reused, grown with PB): the tokens each pass looks at.
let L_MAIN = new Int32Array(512);
let L_LOC = new Int32Array(512);
let L_WARD = new Int32Array(512);
let L_TOWN = new Int32Array(512);
let L_SMALL = new Int32Array(512);

export function recognizePlaces(ctx: ScanContext, toks: Tokens, out: Candidate[]): void {
  if (!ctx.wants('ADDRESS')) return;
  const n = toks.count;
  const firstOwn = out.length;
  // The P_* bits of every token, read by the passes below from one array (not through each
  // token's Word), and which bits the text has: a pass whose cue words are absent is skipped.
  // Each pass then visits only the tokens listed for it (in order), not every token.
  if (PB.length < n) {
    const cap = Math.max(n, PB.length * 2);
    PB = new Int32Array(cap);
    L_MAIN = new Int32Array(cap);
    L_LOC = new Int32Array(cap);
    L_WARD = new Int32Array(cap);
    L_TOWN = new Int32Array(cap);
    L_SMALL = new Int32Array(cap);
  }
  const pb = PB;
  let any = 0;
  let nMain = 0;
  let nLoc = 0;
  let nWard = 0;
  let nTown = 0;
  let nSmall = 0;
  for (let i = 0; i < n; i++) {
    const b = placeBits(toks, i);
    pb[i] = b;
    any |= b;
    if ((b & P_MAIN_AT) !== 0) L_MAIN[nMain++] = i;
    if ((b & (P_LOC_TRIGGER | P_MOVE_VERB)) !== 0) L_LOC[nLoc++] = i;
    if (i === 0) continue;
    if ((b & P_WARD_WORD) !== 0 && (pb[i - 1]! & P_WARD_CUE) !== 0) L_WARD[nWard++] = i;
    if ((b & (P_OF | P_LOWER_HOSP | P_STATE_STEM)) !== 0) L_SMALL[nSmall++] = i;
    // townCommaState looks at the word before a state code.
    if (i >= 2 && (b & P_STATE_CODE) !== 0) L_TOWN[nTown++] = i - 1;
  }
  if (nLoc > 0) recognizeLocationCues(ctx, toks, pb, L_LOC, nLoc, out);
  if (nWard > 0) wardNumbers(ctx, toks, L_WARD, nWard, out);
  if (nTown > 0) townCommaState(ctx, toks, L_TOWN, nTown, out);
  if (nSmall > 0 && (any & (P_RELATIVE | P_LOWER_HOSP | P_STATE_STEM)) !== 0)
    smallPlaceCues(ctx, toks, L_SMALL, nSmall, out);
  if (nMain > 0) placeWords(ctx, toks, pb, L_MAIN, nMain, out);
  propagatePlaces(ctx, toks, out, firstOwn);
}

/**
 * Countries, named facilities, saint names and dictionary cities, at the tokens listed (those with
 * P_MAIN_AT, in order). A rule that takes several tokens resumes after them.
 */
function placeWords(
  ctx: ScanContext,
  toks: Tokens,
  bits: Int32Array,
  list: Int32Array,
  count: number,
  out: Candidate[],
): void {
  let next = 0;
  for (let x = 0; x < count; x++) {
    const i = list[x]!;
    if (i < next) continue;
    next = placeWordAt(ctx, toks, bits, i, out) + 1;
  }
}

/** placeWords at token i0; returns the last token index taken (i0 when none). */
function placeWordAt(ctx: ScanContext, toks: Tokens, bits: Int32Array, i0: number, out: Candidate[]): number {
  let i = i0;
  const { text } = ctx;
  const n = toks.count;
  const idx = cities();
  const w = toks.lower[i]!;
  const shp = toks.shape[i]!;
  const pb = bits[i]!;
  const ctry = (pb & P_COUNTRY) !== 0 ? countries().get(w) : undefined;
  if (ctry) {
    const last = countryAt(ctx, toks, i, ctry, out);
    if (last >= 0) {
      i = last;
      return i;
    }
  }
  const lowerFacility = (shp & SHAPE_LOWER) !== 0 && (pb & P_FACILITY) !== 0;
  if ((shp & (SHAPE_TITLE | SHAPE_CAPS | SHAPE_INITIAL)) === 0 && !lowerFacility && (pb & P_CAP) === 0)
    return i;
  // Facility: up to 3 capitalised words before "Hospital", "Medical Center", ...
  const pair = i + 1 < n && (pb & P_FACILITY_FIRST) !== 0 ? `${w} ${toks.lower[i + 1]!}` : '';
  // "to Rosewood House", "from Elm Manor": a residence's name only after a preposition of movement.
  const residenceWord = (pb & P_RESIDENCE) !== 0;
  if (((pb & P_FACILITY) !== 0 || FACILITY_PAIRS.has(pair) || residenceWord) && i > 0) {
    let j = i - 1;
    let first = -1;
    // Lower-case notes ("good hope hospital") take lower-case words, minus generic adjectives.
    // A campus is named by its side ("North Campus", "West Campus").
    const campus = w === 'campus';
    const okWord = (k: number): boolean =>
      (lowerFacility ? (toks.shape[k]! & SHAPE_LETTERS) !== 0 : (bits[k]! & P_CAP) !== 0) &&
      (!STOP.has(toks.lower[k]!) ||
        FACILITY_ADJ.has(toks.lower[k]!) ||
        (campus && DIRECTIONS.has(toks.lower[k]!)));
    while (
      j >= 0 &&
      i - j <= 3 &&
      okWord(j) &&
      /^\s{1,2}$|^\.\s$|^-$/.test(text.slice(toks.end[j], toks.start[j + 1]))
    ) {
      first = j;
      j--;
    }
    // "Outside Hospital", "the General Hospital": generic words alone do not name a place.
    while (first >= 0 && first < i && FACILITY_ADJ.has(toks.lower[first]!))
      first = first + 1 < i ? first + 1 : -1;
    // Mixed-case text: "rehab (st brendan Memorial)": a name typed in lower case before a
    // capitalised facility word, opened by a parenthesis.
    if (first < 0 && !ctx.upper && !lowerFacility && (shp & SHAPE_TITLE) !== 0) {
      let k = i - 1;
      let f = -1;
      while (
        k >= 0 &&
        i - k <= 3 &&
        (toks.shape[k]! & SHAPE_LOWER) !== 0 &&
        (toks.shape[k]! & SHAPE_LETTERS) !== 0 &&
        toks.lower[k]!.length > 1 &&
        !CARE_KIND.has(toks.lower[k]!) &&
        !FACILITY_ADJ.has(toks.lower[k]!) &&
        /^ $/.test(text.slice(toks.end[k], toks.start[k + 1]))
      ) {
        f = k;
        k--;
      }
      if (f >= 0 && /\($/.test(text.slice(Math.max(0, toks.start[f]! - 2), toks.start[f]))) first = f;
    }
    // All-caps and lower-case notes: "BEGIN REHAB", "possible rehab" are not places; one of the
    // words must be a known name or place word.
    if (first >= 0 && (ctx.upper || lowerFacility)) {
      // "FROM GOOD SAMARITAN MEDICAL CENTER": a name may open with a common word; after a
      // preposition of movement it joins the name.
      let q = first;
      while (
        q > 1 &&
        i - q < 4 &&
        STOP.has(toks.lower[q - 1]!) &&
        !NAME_OPENERS_NOT.has(toks.lower[q - 1]!) &&
        (toks.shape[q - 1]! & (ctx.upper ? SHAPE_CAPS : SHAPE_LOWER)) !== 0 &&
        /^ $/.test(text.slice(toks.end[q - 1], toks.start[q]))
      )
        q--;
      if (q < first && FROM_AT.has(toks.lower[q - 1]!)) first = q;
      let evidence = false;
      for (let k = first; k < i; k++)
        if (isNameWord(toks.lower[k]!) || cities().has(toks.lower[k]!)) evidence = true;
      // "BEGIN REHAB", "poss rehab": a kind of care or a plan, whatever the dictionary says.
      for (let k = first; k < i; k++) if (CARE_KIND.has(toks.lower[k]!)) evidence = false;
      // "TRANSFERRED FROM VALLEY HOSPITAL", "came from harbor hosp": a preposition of movement
      // before the name is evidence too, unless the words name a kind of care ("to cardiac rehab").
      const prep = first > 0 ? toks.lower[first - 1]! : '';
      if (
        !evidence &&
        (FROM_AT.has(prep) ||
          ((prep === 'to' || prep === 'into') && first > 1 && MOVE_VERBS.has(toks.lower[first - 2]!)))
      ) {
        evidence = true;
        for (let k = first; k < i; k++) if (CARE_KIND.has(toks.lower[k]!)) evidence = false;
      }
      if (!evidence) first = -1;
    }
    if (first >= 0 && residenceWord && !(first > 0 && RESIDENCE_PREPS.has(toks.lower[first - 1]!)))
      first = -1;
    if (first >= 0) {
      // A facility of several facility words ends on the last ("Mercy Medical Center", "Fairhaven
      // Regional Medical Center"), not on the first.
      let last = i;
      while (
        last + 1 < n &&
        last - i < 3 &&
        /^[ \t]{1,2}$/.test(text.slice(toks.end[last], toks.start[last + 1])) &&
        (FACILITY_PAIRS.has(`${toks.lower[last]!} ${toks.lower[last + 1]!}`) ||
          ((placeBits(toks, last + 1) & P_FACILITY) !== 0 && (toks.shape[last + 1]! & SHAPE_LOWER) === 0))
      )
        last++;
      pushTokens(out, toks, first, last, 'ADDRESS', 0.8, 'Named hospital or facility');
      i = last;
      return i;
    }
  }
  // Saint names of hospitals and towns ("St. Brendan").
  if (
    (pb & P_SAINT) !== 0 &&
    i + 1 < n &&
    (bits[i + 1]! & P_CAP) !== 0 &&
    !STOP.has(toks.lower[i + 1]!) &&
    (!ctx.upper || isNameWord(toks.lower[i + 1]!))
  ) {
    const gap = text.slice(toks.end[i], toks.start[i + 1]);
    if (
      /^\.?\s$/.test(gap) &&
      !/^\d/.test(
        text
          .slice(Math.max(0, toks.start[i]! - 8), toks.start[i])
          .trim()
          .slice(-1),
      )
    ) {
      pushTokens(out, toks, i, i + 1, 'ADDRESS', 0.8, 'Saint name of a place or hospital');
      i++;
      return i;
    }
  }
  // Dictionary cities, longest match; a single word that is also a common word needs a cue.
  if ((pb & P_CITY) === 0) return i;
  const cands = idx.get(w)!;
  for (const words of cands) {
    const m = words.length;
    if (i + m > n) continue;
    let ok = true;
    for (let k = 1; k < m && ok; k++)
      if (toks.lower[i + k] !== words[k] || (bits[i + k]! & P_CAP) === 0) ok = false;
    if (!ok) continue;
    if (m === 1 && STOP.has(w)) break;
    const prev = i > 0 ? toks.lower[i - 1]! : '';
    const cue = LOC_CUE.has(prev);
    // "Washington called": a surname as often as a place, so it needs a place cue.
    if (m === 1 && !cue && (w === 'washington' || w === 'america')) break;
    const conf = m > 1 ? 0.8 : cue ? 0.75 : ctx.upper ? 0 : 0.6;
    if (conf === 0) break;
    pushTokens(out, toks, i, i + m - 1, 'ADDRESS', conf, 'City or town');
    i += m - 1;
    break;
  }
  return i;
}

/**
 * A country name: after a place cue ("moved here from mongolia", "lives in Sweden"), closing an
 * address ("Belo Horizonte, Brazil"; a line of its own under a city), or capitalised in prose.
 * Returns the last token index taken, or -1.
 */
function countryAt(ctx: ScanContext, toks: Tokens, i: number, list: string[][], out: Candidate[]): number {
  const { text, upper } = ctx;
  const n = toks.count;
  for (const words of list) {
    const m = words.length;
    if (i + m > n) continue;
    let ok = true;
    for (let k = 1; k < m && ok; k++)
      if (toks.lower[i + k] !== words[k] || toks.start[i + k]! - toks.end[i + k - 1]! > 2) ok = false;
    if (!ok) continue;
    const shp = toks.shape[i]!;
    const capital = (shp & (SHAPE_TITLE | SHAPE_CAPS)) !== 0;
    const prev = i > 0 ? toks.lower[i - 1]! : '';
    const cue = LOC_CUE.has(prev);
    // What precedes on the line: a comma after a word, or a line break (address blocks).
    let b = toks.start[i]! - 1;
    // Skip spaces and the quote or bullet marks some mail puts at line starts ("> ", "??? ").
    while (
      b >= 0 &&
      (text.charCodeAt(b) === 32 ||
        text.charCodeAt(b) === 9 ||
        text.charCodeAt(b) === 63 ||
        text.charCodeAt(b) === 42)
    )
      b--;
    const bc = b >= 0 ? text.charCodeAt(b) : 10;
    const afterComma = bc === 44;
    const lineStart = bc === 10 || bc === 13 || bc === 62;
    const ambiguous = AMBIGUOUS_COUNTRY.has(words.join(' '));
    let conf = 0;
    if (cue && (capital || (shp & SHAPE_LOWER) !== 0)) conf = 0.7;
    else if (upper) conf = 0;
    else if (capital && (afterComma || lineStart) && (!ambiguous || m > 1)) conf = 0.65;
    else if (capital && !ambiguous && (shp & SHAPE_TITLE) !== 0) conf = 0.6;
    if (conf === 0) return -1;
    // "Czech Republic", "New Zealand": a whole country name outranks the two-capitalised-words name rule.
    if (m > 1) conf = Math.max(conf, 0.8);
    // An address block's country line: the short line above it is the town ("Hallstatt\nAustria").
    if (
      lineStart &&
      !cue &&
      COUNTRY_LINE_END_RE.test(text.slice(toks.end[i + m - 1], toks.end[i + m - 1]! + 16))
    )
      townLineAbove(text, toks.start[i]!, out);
    pushTokens(out, toks, i, i + m - 1, 'ADDRESS', conf, 'Country');
    return i + m - 1;
  }
  return -1;
}

const TOWN_LINE_RE = /^[ \t>?*•·-]*([\p{L}][\p{L}\p{M}'’. -]{1,38}[\p{L}.])[ \t]*$/u;
// The country closes the block: an optional postal code, then the line or text ends.
const COUNTRY_LINE_END_RE = /^[ \t]*(?:[\dA-Z][\dA-Z -]{2,9})?[ \t.]*(?:\r?\n|$)/;
/** The line above position `at` (a line start), when it is a short run of words without digits. */
function townLineAbove(text: string, at: number, out: Candidate[]): void {
  let e = at - 1;
  while (
    e >= 0 &&
    (text.charCodeAt(e) === 32 ||
      text.charCodeAt(e) === 9 ||
      text.charCodeAt(e) === 62 ||
      text.charCodeAt(e) === 63)
  )
    e--;
  if (e < 0 || (text.charCodeAt(e) !== 10 && text.charCodeAt(e) !== 13)) return;
  const lineEnd = text.charCodeAt(e - 1) === 13 ? e - 1 : e;
  const lineStart = text.lastIndexOf('\n', lineEnd - 1) + 1;
  if (lineEnd - lineStart > 44 || lineEnd <= lineStart) return;
  const line = text.slice(lineStart, lineEnd);
  const m = TOWN_LINE_RE.exec(line);
  if (!m) return;
  const word = m[1]!;
  // A first letter in upper case, or a whole lower-case letter ("odense c").
  if (word.split(/\s+/).length > 5) return;
  const start = lineStart + line.indexOf(word);
  out.push({
    type: 'ADDRESS',
    start,
    end: start + word.replace(/[ .]+$/, '').length,
    confidence: 0.7,
    reason: 'Town line above a country',
  });
}

// Words that take a number without naming a ward ("to stage 2", "from level 3", "per protocol 4").
const NUMBERED_THINGS = new Set(
  'level|levels|stage|grade|phase|type|cycle|dose|doses|pod|tower|wing|station|module|lesson|chapter|part|section|page|step|steps|room|rooms|bed|beds|floor|unit|units|ward|day|days|week|weeks|month|months|year|years|hour|hours|class|group|session|version|table|figure|item|question|number|line|lead|trial|round|visit|score|zone|area|building|suite|block|gate|door|exit|track|channel|course|term|semester|tier|batch|model|series|volume|issue|rule|article|bay|cell|core|extension|option|plan|policy|protocol|schedule|regimen|mode|setting|times|point|points|degree|degrees|grams|liters|litres|units|tablets|tabs|puffs|drops|sessions|visits|minutes|seconds|miles|blocks|team|teams|shift|shifts|pages|parts|rounds|sets|reps|mg|mcg|ml|cc'.split(
    '|',
  ),
);
// What may follow a ward number: the phrase closes, or a word of the stay goes on ("Ward 2 RN",
// "Ward 2 this am", "Ward 3 CV step down", "Ward 7 04:00").
const AFTER_WARD = new Set(
  'rn|rns|np|md|team|staff|or|and|in|this|today|tonight|tomorrow|for|when|with|w|once|cv|step|tele|telemetry|am|pm|at|on|to|if|per|after|before|later|soon|when|vs|via|from|today|tomorrow|tmrw|tmw'.split(
    '|',
  ),
);
const WARD_CUES = new Set('to|from|into|at|per|transfer|xfer|tx|trans'.split('|'));
const STATE_CODES = new Set(
  'AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY'.split(
    '|',
  ),
);
/**
 * "files from FREDERICKSBURG, VA)", "lives in Dover, DE.": a capitalised word after a place cue, then a
 * comma and a state's capitals closing the phrase, is a town (the state code is not a credential).
 */
function townCommaState(
  ctx: ScanContext,
  toks: Tokens,
  list: Int32Array,
  count: number,
  out: Candidate[],
): void {
  const { text } = ctx;
  // The tokens before a state code (P_STATE_CODE), from the second one.
  for (let x = 0; x < count; x++) {
    const i = list[x]!;
    const st = toks.raw[i + 1]!;
    if (text.charCodeAt(toks.end[i]!) !== 44 || toks.start[i + 1]! - toks.end[i]! > 2) continue;
    const sh = toks.shape[i]!;
    if ((sh & (SHAPE_TITLE | SHAPE_CAPS)) === 0 || toks.raw[i]!.length < 3) continue;
    if (!LOC_CUE.has(toks.lower[i - 1]!) || !/^[ \t]{1,2}$/.test(text.slice(toks.end[i - 1], toks.start[i])))
      continue;
    const e = toks.end[i + 1]!;
    const ch = e < text.length ? text.charCodeAt(e) : 10;
    // The phrase closes after the state, or a ZIP code follows ("TROPONIN, OR ST" is not one).
    if (
      !(ch === 10 || ch === 13 || ch === 41 || ch === 46 || ch === 59) &&
      !(ch === 32 && /^ \d{5}\b/.test(text.slice(e, e + 7)))
    )
      continue;
    const lw = toks.lower[i]!;
    const city = cities().has(lw);
    if (STOP.has(lw) && !city) continue;
    // "MD" and "PA" are also credentials: "referred to Jones, MD for review" is a doctor. Then
    // the phrase must close and the word be a town or no one's name.
    if ((st === 'MD' || st === 'PA') && !city && isNameWord(lw)) continue;
    pushTokens(out, toks, i, i, 'ADDRESS', 0.92, 'Town before a comma and a state');
  }
}

/**
 * A ward or unit named with its number: "transferred to Ellsworth 2", "from hadley 5",
 * "TRANSFER BLAKE 4.", "per Ellison 3 RN", "Plan: Blake 2 this am", "ADMITTED TO BLAKE7". The
 * word is not a thing that takes a number ("stage 2", "room 5"); a cue of movement (or a "Plan:"
 * label) comes first and the number closes the phrase.
 */
/**
 * Whether wardNumbers may take the word as a ward's name: five or more letters, or five or more
 * ASCII letters then one glued digit 1-9; opening with an ASCII letter; not a common word, a
 * facility word or a thing that takes a number.
 */
function wardWord(word: Word): boolean {
  const raw = word.raw;
  if (raw.length < 5) return false;
  const c0 = raw.charCodeAt(0);
  if (!((c0 >= 65 && c0 <= 90) || (c0 >= 97 && c0 <= 122))) return false;
  let len = raw.length;
  if ((word.shape & SHAPE_LETTERS) === 0) {
    const last = raw.charCodeAt(raw.length - 1);
    if (last < 49 || last > 57 || !/^[A-Za-z]{5,}[1-9]$/.test(raw)) return false;
    len--;
  }
  const lw = word.lower.slice(0, len);
  return !(STOP.has(lw) || GENERIC_FACILITY.has(lw) || FACILITY.has(lw) || NUMBERED_THINGS.has(lw));
}

function wardNumbers(
  ctx: ScanContext,
  toks: Tokens,
  list: Int32Array,
  count: number,
  out: Candidate[],
): void {
  const { text } = ctx;
  const n = toks.count;
  const pb = PB;
  // The tokens of letters, or letters then one glued digit (wardWord), after a cue word (checked
  // below), from the second one.
  for (let x = 0; x < count; x++) {
    const i = list[x]!;
    let wordEnd = toks.end[i]!;
    let numEnd: number;
    const sh = toks.shape[i]!;
    if ((sh & SHAPE_LETTERS) !== 0) {
      if (i + 1 >= n || toks.start[i + 1] !== wordEnd + 1 || text.charCodeAt(wordEnd) !== 32) continue;
      if ((pb[i + 1]! & P_WARD_NUM) === 0) continue;
      numEnd = toks.end[i + 1]!;
    } else {
      numEnd = wordEnd;
      wordEnd--;
    }
    // The cue: "to", "from", "per", "transfer" just before; or a "Plan:" label.
    const prev = toks.lower[i - 1]!;
    const gap = text.slice(toks.end[i - 1], toks.start[i]);
    const cued =
      (WARD_CUES.has(prev) && /^[ \t]{1,2}$/.test(gap)) || (prev === 'plan' && /^:[ \t]*$/.test(gap));
    if (!cued) continue;
    // What follows the number.
    const ch = numEnd < text.length ? text.charCodeAt(numEnd) : 10;
    // (Not a decimal: "before intubation 7.19", "to start 12.5".)
    const d = numEnd + 1 < text.length ? text.charCodeAt(numEnd + 1) : 32;
    let closes =
      ch === 10 ||
      ch === 13 ||
      ch === 59 ||
      ch === 41 ||
      ((ch === 46 || ch === 44 || ch === 47) && !(d >= 48 && d <= 57)) ||
      ch === 47;
    if (!closes && (ch === 32 || ch === 9)) {
      const rest = /^[ \t]+([A-Za-z]+|\d{1,2}:\d{2})/.exec(text.slice(numEnd, numEnd + 16));
      closes = rest !== null && (rest[1]!.includes(':') || AFTER_WARD.has(rest[1]!.toLowerCase()));
    }
    if (!closes) continue;
    out.push({
      type: 'ADDRESS',
      start: toks.start[i]!,
      // The word alone; a glued number stays with it ("BLAKE7").
      end: (sh & SHAPE_LETTERS) !== 0 ? wordEnd : numEnd,
      confidence: 0.75,
      reason: 'Ward or unit with its number',
    });
  }
}

/**
 * "transferred to Tilbury", "sent to GH", "grew up in Vrbnik", "lives in glenarm": after a
 * verb of movement or residence and a preposition, up to three non-stop words name a place.
 */
// Scratch array of propagatePlaces (reused, grown on demand): 1 for a token inside a place found.
let IN_PLACE = new Uint8Array(512);

/** A place found by a strong rule is also a place where its name appears again in the text. */
function propagatePlaces(ctx: ScanContext, toks: Tokens, out: Candidate[], from: number): void {
  const own: Candidate[] = [];
  for (let k = from; k < out.length; k++) {
    const c = out[k]!;
    if (c.type === 'ADDRESS' && c.confidence >= 0.7) own.push(c);
  }
  if (own.length === 0) return;
  own.sort((a, b) => a.start - b.start);
  // One merged pass over tokens and (sorted) places: linear, whatever the text size.
  const words = new Set<string>();
  if (IN_PLACE.length < toks.count) IN_PLACE = new Uint8Array(Math.max(toks.count, IN_PLACE.length * 2));
  const inPlace = IN_PLACE;
  inPlace.fill(0, 0, toks.count);
  let k = 0;
  // Bit min(length, 31) of each word's length: a token of another length is none of them (when
  // its lower-cased text is as long as its text, P_SAME_LENGTH).
  let lengths = 0;
  for (let i = 0; i < toks.count; i++) {
    const s = toks.start[i]!;
    while (k < own.length && own[k]!.end <= s) k++;
    // (Past the last place no token is in one.)
    if (k === own.length) break;
    const c = own[k]!;
    if (s < c.start) continue;
    inPlace[i] = 1;
    const lw = toks.lower[i]!;
    if (
      lw.length >= 2 &&
      !STOP.has(lw) &&
      !GENERIC_FACILITY.has(lw) &&
      !FACILITY.has(lw) &&
      (toks.shape[i]! & SHAPE_LETTERS) !== 0
    ) {
      words.add(lw);
      lengths |= 1 << Math.min(lw.length, 31);
    }
  }
  if (words.size === 0) return;
  const pb = PB;
  for (let i = 0; i < toks.count; i++) {
    if (inPlace[i] === 1) continue;
    if (
      (pb[i]! & P_SAME_LENGTH) !== 0 &&
      (lengths & (1 << Math.min(toks.end[i]! - toks.start[i]!, 31))) === 0
    )
      continue;
    if (!words.has(toks.lower[i]!)) continue;
    const s = toks.start[i]!;
    if (!ctx.upper && (toks.shape[i]! & (SHAPE_TITLE | SHAPE_CAPS)) === 0 && !lowerBefore(ctx.text, s, 60))
      continue;
    out.push({
      type: 'ADDRESS',
      start: s,
      end: toks.end[i]!,
      confidence: 0.7,
      reason: 'Same place as found elsewhere in the text',
    });
  }
}

function recognizeLocationCues(
  ctx: ScanContext,
  toks: Tokens,
  pb: Int32Array,
  list: Int32Array,
  count: number,
  out: Candidate[],
): void {
  const { text, upper } = ctx;
  const n = toks.count;
  // The tokens listed: "in", "university", "college" and verbs of movement. A place taken
  // resumes the walk after it (next).
  let next = 0;
  for (let x = 0; x < count; x++) {
    const i = list[x]!;
    if (i + 2 >= n) break;
    if (i < next) continue;
    // Bare "in X" in mixed-case prose (weaker, see below), else a verb of movement first.
    // Title case only: in notes "in AF", "in NARD", "in SBP" are rhythms, modes and measures.
    const b = pb[i]!;
    const bareIn =
      !upper &&
      (b & P_IN) !== 0 &&
      // Title case, or capitals long enough not to be an acronym ("in TROMSDALEN", not "in ICU").
      ((toks.shape[i + 1]! & SHAPE_TITLE) !== 0 ||
        ((toks.shape[i + 1]! & SHAPE_CAPS) !== 0 && toks.raw[i + 1]!.length >= 5)) &&
      toks.raw[i + 1]!.length > 3 &&
      i > 0 &&
      !MOVE_VERBS.has(toks.lower[i - 1]!) &&
      !MOVE_PREPS.has(toks.lower[i - 1]!);
    if (bareIn) {
      next = 1 + takePlace(ctx, toks, out, i, i + 1, 0.6, 'Capitalised place after "in"');
      continue;
    }
    // "University of X", "College of X".
    if ((b & P_UNIVERSITY) !== 0 && (pb[i + 1]! & P_OF) !== 0) {
      next = 1 + takePlace(ctx, toks, out, i, i + 2, 0.7, 'Place after "University of"');
      continue;
    }
    if ((b & P_MOVE_VERB) === 0) continue;
    let j = i + 1;
    // "moved here from X", "came back to X"
    if ((pb[j]! & P_SKIP_AFTER_VERB) !== 0) j++;
    // "on vacation on the Cape", "holiday on Crete": a trip takes "on" too.
    if (j >= n || !((pb[j]! & P_MOVE_PREP) !== 0 || ((pb[j]! & P_ON) !== 0 && (b & P_TRIP) !== 0))) continue;
    // Copulas ("is in", "was at") only in mixed-case prose, where the place is capitalised.
    // (Asked after the preposition: the scan of the text before is the dearer test.)
    if (
      (b & P_WEAK_MOVE) !== 0 &&
      (upper || ((toks.shape[i]! & SHAPE_LOWER) !== 0 && lowerBefore(text, toks.start[i]!, 60)))
    )
      continue;
    j++;
    // "grew up in X", "moved back to X"
    if (j < n && (pb[j]! & P_MOVE_PREP) !== 0) j++;
    if (j < n && (pb[j]! & P_THE) !== 0) j++;
    next = 1 + takePlace(ctx, toks, out, i, j, 0.7, 'Place after a verb of movement or residence');
  }
}

const TRIP_WORDS = new Set('vacation|vacationing|holiday|trip|cruise'.split('|'));
// Relatives whose hometown follows "of" ("her nephew Tobiah of Pikesville").
const RELATIVES = new Set(
  'wife|husband|son|daughter|mother|father|sister|brother|niece|nephew|aunt|uncle|cousin|friend|grandson|granddaughter|grandmother|grandfather|stepson|stepdaughter|fiance|fiancee|partner|neighbor|neighbour'.split(
    '|',
  ),
);
// Parts of a state that are not towns ("western Maryland", "upstate New York").
const REGION_WORDS = new Set(
  'north|south|east|west|northern|southern|eastern|western|central|upstate|downstate|rural|coastal|northeastern|northwestern|southeastern|southwestern|mid|greater|all|across|whole|entire|state|university|univ|of|in|from|to|at|the'.split(
    '|',
  ),
);
// Short words ending in "h" that are not initials.
const INTERJECTIONS = new Set(
  'ah|eh|oh|uh|ash|ugh|huh|bah|nah|meh|ooh|shh|rah|pah|yah|doh|heh|hah|aah|duh|yeh|och'.split('|'),
);
let STATE_WORDS: Set<string> | undefined;
// A word whose stem (tokens.ts stem) is one of stateWords(): the word itself or its possessive.
const F_STATE_STEM = wordFlag(
  US_STATES.split('|')
    .filter((st) => !st.includes(' '))
    .flatMap((st) => [st, `${st}'s`]),
);
function stateWords(): Set<string> {
  STATE_WORDS ??= new Set(US_STATES.split('|').filter((st) => !st.includes(' ')));
  return STATE_WORDS;
}

/**
 * Places given by a small phrase around them:
 *   - a relative's hometown: "niece Petra of Pikesville", "his brother Tom of Dover";
 *   - a town before its state's full name: "Wickliffe Kentucky", "in dover delaware's clinic";
 *   - a hospital's initials in lower-case notes after at/to/from: "sent to gh.", "at bwh".
 */
/**
 * Lower-case hospital initials for smallPlaceCues: two or three letters ending in "h" or "mc",
 * not a clinical acronym or an interjection.
 */
function lowerHospitalInitials(word: Word): boolean {
  const lw = word.lower;
  return (
    (word.shape & SHAPE_LOWER) !== 0 &&
    lw.length >= 2 &&
    lw.length <= 3 &&
    (lw.endsWith('h') || lw.endsWith('mc')) &&
    !NOT_HOSPITAL.has(word.raw.toUpperCase()) &&
    !INTERJECTIONS.has(lw)
  );
}

function smallPlaceCues(
  ctx: ScanContext,
  toks: Tokens,
  list: Int32Array,
  count: number,
  out: Candidate[],
): void {
  const { text, upper } = ctx;
  const n = toks.count;
  const pb = PB;
  let lowerNote = -1; // computed on first need
  // Only "of", a state's name and lower-case initials start a phrase here (the tokens listed,
  // from the second one).
  for (let x = 0; x < count; x++) {
    const i = list[x]!;
    const lw = toks.lower[i]!;
    const sh = toks.shape[i]!;
    if (lw === 'of' && !upper && i >= 2 && i + 1 < n && RELATIVES.has(toks.lower[i - 2]!)) {
      const name = toks.shape[i - 1]!;
      const town = toks.shape[i + 1]!;
      if (
        (name & SHAPE_TITLE) !== 0 &&
        !STOP.has(toks.lower[i - 1]!) &&
        (town & SHAPE_TITLE) !== 0 &&
        !STOP.has(toks.lower[i + 1]!) &&
        !FACILITY_ADJ.has(toks.lower[i + 1]!) &&
        toks.lower[i + 1]!.length >= 3 &&
        /^ $/.test(text.slice(toks.end[i - 2], toks.start[i - 1])) &&
        /^ $/.test(text.slice(toks.end[i - 1], toks.start[i])) &&
        /^ $/.test(text.slice(toks.end[i], toks.start[i + 1]))
      ) {
        pushTokens(out, toks, i + 1, i + 1, 'ADDRESS', 0.75, 'Relative\'s town after "of"');
        continue;
      }
    }
    // A town before its state's full name, in the same case.
    // (Not a state that is also a name: "Martha Washington", "Mary Georgia".)
    if ((toks.word[i]!.flags & F_STATE_STEM) !== 0 && i > 0 && !AMBIGUOUS_COUNTRY.has(toks.word[i]!.stem)) {
      const t = i - 1;
      const tsh = toks.shape[t]!;
      const tl = toks.lower[t]!;
      const sameCase = upper
        ? (tsh & SHAPE_CAPS) !== 0 && (sh & SHAPE_CAPS) !== 0
        : ((tsh & SHAPE_TITLE) !== 0 && (sh & SHAPE_TITLE) !== 0) ||
          ((tsh & SHAPE_LOWER) !== 0 && (sh & SHAPE_LOWER) !== 0);
      if (
        sameCase &&
        (tsh & SHAPE_LETTERS) !== 0 &&
        tl.length >= 4 &&
        !STOP.has(tl) &&
        !REGION_WORDS.has(tl) &&
        !isFirstNameWord(tl) &&
        !FACILITY.has(tl) &&
        !GENERIC_FACILITY.has(tl) &&
        /^ $/.test(text.slice(toks.end[t], toks.start[i])) &&
        (t === 0 ||
          !/^ $/.test(text.slice(toks.end[t - 1], toks.start[t])) ||
          !stateWords().has(toks.lower[t - 1]!))
      ) {
        if ((tsh & SHAPE_LOWER) !== 0) {
          if (lowerNote < 0) lowerNote = /[A-Z]/.test(text) ? 0 : 1;
          // Lower case: only in a lower-case note, and a word no dictionary calls common.
          if (lowerNote === 0 && !lowerBefore(text, toks.start[t]!, 80)) continue;
        }
        pushTokens(out, toks, t, t, 'ADDRESS', 0.75, 'Town before its state');
      }
      continue;
    }
    // Lower-case hospital initials: two or three letters ending in "h" or "mc".
    if (
      (pb[i]! & P_LOWER_HOSP) !== 0 &&
      (toks.lower[i - 1] === 'at' || toks.lower[i - 1] === 'to' || toks.lower[i - 1] === 'from') &&
      /^ $/.test(text.slice(toks.end[i - 1], toks.start[i]))
    ) {
      const e = toks.end[i]!;
      const ch = e < text.length ? text.charCodeAt(e) : 32;
      // Not "gh-", "gh/", "gh's", "gh.5".
      if (ch === 45 || ch === 47 || ch === 39 || ch === 0x2019) continue;
      if (ch === 46 && /\w/.test(text[e + 1] ?? '')) continue;
      out.push({
        type: 'ADDRESS',
        start: toks.start[i]!,
        end: e,
        confidence: 0.7,
        reason: 'Hospital initials',
      });
    }
  }
}

// Particles inside place names ("Aldea de la Sierra", "Torre del Monte").
const PLACE_PARTICLES = new Set(
  'de|del|della|di|da|do|dos|das|des|du|la|le|les|el|y|on|upon|en|am|an|der|den|sur|sul|van|von|og|i'.split(
    '|',
  ),
);

/** Take up to three place words (plus particles) from token j; returns the index to resume at. */
function takePlace(
  ctx: ScanContext,
  toks: Tokens,
  out: Candidate[],
  i: number,
  j: number,
  confidence: number,
  reason: string,
): number {
  const { text, upper } = ctx;
  const n = toks.count;
  {
    const first = j;
    let last = -1;
    let words = 0;
    while (j < n && words < 3) {
      // A particle joins two capitalised words in prose.
      if (
        !upper &&
        last >= 0 &&
        PLACE_PARTICLES.has(toks.lower[j]!) &&
        (toks.shape[j]! & SHAPE_LOWER) !== 0
      ) {
        let k = j;
        while (k < n && k - j < 2 && PLACE_PARTICLES.has(toks.lower[k]!)) k++;
        if (
          k < n &&
          (toks.shape[k]! & SHAPE_TITLE) !== 0 &&
          /^ $/.test(text.slice(toks.end[k - 1], toks.start[k]))
        ) {
          j = k;
          continue;
        }
        break;
      }
      const sh = toks.shape[j]!;
      const lw = toks.lower[j]!;
      if (
        (sh & SHAPE_LETTERS) === 0 ||
        STOP.has(lw) ||
        GENERIC_FACILITY.has(lw) ||
        NOT_DESTINATION.has(toks.word[j]!.stem)
      )
        break;
      // A letter of a dotted abbreviation ("back from O.R.", "taken to the o.r.") is no place.
      if (
        lw.length === 1 &&
        text.charCodeAt(toks.end[j]!) === 46 &&
        /[A-Za-z]/.test(text[toks.end[j]! + 1] ?? '')
      )
        break;
      // Mixed-case text: the place is capitalised. All-caps or lower-case notes: any word.
      // A word right before a number after the cue is a unit or building ("transfer to
      // ellsworth 2") whatever its case.
      const nextIsNumber =
        j + 1 < n && /^\d/.test(toks.raw[j + 1]!) && /^ $/.test(text.slice(toks.end[j], toks.start[j + 1]));
      // Residence verbs ("lives nearby in glenarm") take the lower-case word after them.
      // The word must close the phrase: "in fear of", "in group housing" are not places.
      const closes =
        j + 1 >= n ||
        CLOSING_WORDS.has(toks.lower[j + 1]!) ||
        (toks.shape[j + 1]! & SHAPE_LOWER) === 0 ||
        /[^ \t]/.test(text.slice(toks.end[j], toks.start[j + 1]));
      const residence = j === first && RESIDENCE_VERBS.has(toks.lower[i]!) && lw.length > 3 && closes;
      const strongMove = !WEAK_MOVE.has(toks.lower[i]!);
      const shapedOk = upper
        ? (sh & SHAPE_CAPS) !== 0 || lw.length === 1
        : (sh & (SHAPE_TITLE | SHAPE_CAPS)) !== 0 ||
          ((sh & SHAPE_LOWER) !== 0 &&
            (residence ||
              (nextIsNumber && j === first && strongMove) ||
              lowerBefore(text, toks.start[i]!, 60)));
      if (!shapedOk) break;
      // In all-caps or lower-case notes any word looks like a name: ask for evidence (a known
      // place or name word, a short acronym such as a hospital's initials).
      if (
        (upper || (sh & SHAPE_LOWER) !== 0) &&
        !(isNameWord(lw) || cities().has(lw) || lw.length <= 3 || nextIsNumber || residence) &&
        // "TAKEN TO FAIRHAVEN REGIONAL": a facility word goes on a name already taken.
        !(j > first && (FACILITY.has(lw) || FACILITY_FIRST.has(lw)))
      )
        break;
      const g = text.slice(toks.end[j - 1], toks.start[j]);
      if (j > first && !/^[ -]{1,2}$/.test(g)) break;
      last = j;
      words++;
      j++;
    }
    if (last < 0) return i;
    // A following facility word is picked up by the facility rule; take the name part here.
    out.push({ type: 'ADDRESS', start: toks.start[first]!, end: toks.end[last]!, confidence, reason });
    return last;
  }
}
// Lower-case clinical notes (no capitals in the preceding stretch): names of places are lower case too.
/** No ASCII capital in the `n` characters before `at` (a scan, not a regex over a slice). */
function lowerBefore(text: string, at: number, n: number): boolean {
  for (let k = Math.max(0, at - n); k < at; k++) {
    const c = text.charCodeAt(k);
    if (c >= 65 && c <= 90) return false;
  }
  return true;
}
