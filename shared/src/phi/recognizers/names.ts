// Person names: dictionaries (first names, surnames; names that are also English words need
// context) plus context cues (titles, relatives, roles, greetings, sign-offs, credentials,
// "my name is", verbs like "called"/"aware"), initials, coordination ("Dusty, Norris and Wade")
// and document-level propagation: a name found with a strong cue is also a name where it appears
// again without one. Every per-token fact is computed once into typed arrays; the rules then
// test bits, so the cost stays linear with no per-token allocation beyond the tokenizer's.
import { isJsSpace, type Candidate, type ScanContext } from '../candidate.ts';
import { ListFlags } from '../dictionaries/lookup.ts';
import { FIRST_NAMES, FIRST_NAMES_AMBIGUOUS, SURNAMES, SURNAMES_AMBIGUOUS } from '../dictionaries/names.ts';
import { NOT_NAMES } from '../dictionaries/not-names.ts';
import {
  SHAPE_CAPS,
  SHAPE_INITIAL,
  SHAPE_LETTERS,
  SHAPE_LOWER,
  SHAPE_TITLE,
  type Tokens,
  type Word,
} from '../tokens.ts';

const F_STRONG = 1;
const F_AMBIG = 2;
const L_STRONG = 4;
const L_AMBIG = 8;
const STRONG = F_STRONG | L_STRONG;
const FIRST = F_STRONG | F_AMBIG;

let DICT: ListFlags | undefined;
// Searched in the front-coded lists word by word (lookup.ts), so a fresh process decodes nothing.
function dict(): ListFlags {
  return (DICT ??= new ListFlags([
    [FIRST_NAMES, F_STRONG],
    [FIRST_NAMES_AMBIGUOUS, F_AMBIG],
    [SURNAMES, L_STRONG],
    [SURNAMES_AMBIGUOUS, L_AMBIG],
  ]));
}

/** True when a lower-cased word is in the first-name or surname dictionaries. */
export function isNameWord(lower: string): boolean {
  return dict().has(lower);
}

/** True when a lower-cased word is in the first-name dictionaries (also when a common word). */
export function isFirstNameWord(lower: string): boolean {
  return ((dict().get(lower) ?? 0) & FIRST) !== 0;
}

/** True when a lower-cased word is an unambiguous first name or surname (not also a common word). */
export function isStrongNameWord(lower: string): boolean {
  return ((dict().get(lower) ?? 0) & STRONG) !== 0;
}

// Surname endings common across Europe and Central Asia (patronymics and family-name suffixes).
const SURNAME_ENDING =
  /(?:dóttir|dottir|sson|ović|ović|evič|ovič|ević|owski|ewski|owska|ewska|escu|opoulos|akis|oglu|oğlu|ishvili|idze|enko|yenko|ovich|evich|ovna|evna|ová|ovová)$/;
const CONTRACTION_RE = /'(?:m|d|ll|ve|re|t)$|n't$/;
const set = (s: string): Set<string> => new Set(s.split('|'));
const STOP = set(NOT_NAMES);
const TITLES = set(
  'dr|doctor|drs|mr|mrs|ms|miss|mx|prof|professor|rev|reverend|fr|judge|officer|det|detective|sgt|capt|captain|coach|dra|herr|frau|mme|mlle|monsieur|madame|señor|señora|sra|signor|signora|dott|sir|dame|mister|madam',
);
// Roles that precede a colleague's name in notes ("caseworker Ilse", "house staff Wanda").
const ROLES = set(
  'nurse|caseworker|staff|manager|worker|sw|chaplain|pharmacist|dietician|dietitian|nutritionist|coordinator|physician|physicians|therapist|counselor|counsellor|psychiatrist|psychologist|resident|intern|fellow|attending|surgeon|consultant|colleague|supervisor|director|assistant|secretary|receptionist|rt|pt/ot|ot|interpreter|translator|liaison|advocate|rep|representative|clinician|provider|nurses',
);
const SUFFIXES = set('jr|sr|ii|iii|iv');
const TALK_VERBS = set(
  'spoke|speak|speaking|talked|talk|talking|met|meet|meeting|consult|consulted|conversation|discussed|discuss|contacted|contact|made|visit|visited|chatted|chat|phoned|called|emailed|texted|updated|reviewed|up|check|checked|touch|touched',
);
// Verbs that follow a clinician named after a role abbreviation ("NP GRETA ORDERED").
const ROLE_NAME_VERBS = set(
  'made|aware|ordered|notified|informed|paged|called|updated|wants|states|said|agreed|here',
);
const SHORT_ROLES = set('np|md|pa|rn|lpn|sw|rt|pt|ot|chapl|chaplain|msw|lcsw');
const FAMILY = set(
  'wife|husband|hubby|son|sons|daughter|daughters|dtr|dau|mother|mom|mum|mommy|mama|father|dad|daddy|papa|sister|sisters|sis|brother|brothers|bro|friend|friends|partner|boyfriend|girlfriend|bf|gf|fiance|fiancé|fiancee|fiancée|spouse|aunt|auntie|uncle|niece|nephew|grandson|granddaughter|grandmother|grandfather|grandma|grandpa|granny|nana|cousin|child|kid|baby|infant|sibling|siblings|stepson|stepdaughter|stepmother|stepfather|stepmom|stepdad|roommate|neighbor|neighbour|guardian|caregiver|inlaw|ex|sil|dil|bil|hcp|proxy|proxys|proxies|visitor|visitors|grandchildren|grandkids|boss|coworker|teacher|student|named|nickname|aka|children|kids|parents|parent',
);
const PATIENT = set('patient|pt|client|mr|mrs|ms');
// How someone is, answering a label ("Client: Fine.", "Mother: Pleasant, calm"): also names.
const LABEL_ANSWERS = set(
  'fine|better|worse|pleasant|calm|tired|anxious|upset|awake|asleep|improved|improving|cooperative|sleepy|content|hopeful|happy|glad|stable|same|unchanged|well|good|ok|okay',
);
// Weak cues: only a name from the dictionary (not an English word) counts after them.
const WEAK_BEFORE = set(
  'spoke|speak|talked|talk|met|meeting|page|paged|paging|call|called|ask|asked|per|informed|notified|told|tell|contact|contacted|seen|saw|visit|visited|thank|thanks|cc|attn|attention|signed|love|xoxo',
);
const GREETINGS = set('dear|hi|hello|hey|hiya|greetings');
// Second (or first) parts of hyphenated common-word compounds.
const COMPOUND_PARTS = set(
  'up|in|out|on|off|over|down|back|by|through|based|term|related|free|like|being|care|time|day|week|year|old|wide|long|level|line|site|side|self|non|pre|post|re|co|anti|multi|well|check|follow|sign|drop|walk|call|log|set|start|work|make|take|stand|hand',
);
const SIGN_OFFS = set(
  'thanks|thank you|regards|best|sincerely|cheers|warmly|respectfully|love|yours|best regards|kind regards|warm regards|many thanks|take care|talk soon|xo|xoxo',
);
const SIGN_OFF_MAX_LETTERS = Math.max(...[...SIGN_OFFS].map((x) => x.replace(/ /g, '').length));
// Bit (c - 97) for each letter c that starts a sign-off.
const SIGN_OFF_FIRSTS = [...SIGN_OFFS].reduce((m, x) => m | (1 << (x.charCodeAt(0) - 97)), 0);
// Verbs after a name that mark it as a person in notes ("bill called", "BRANDT AWARE").
const VERBS_AFTER = set(
  'called|calls|phoned|visited|visits|aware|updated|notified|informed|said|says|states|stated|reports|reported|agreed|agrees|consented|consents|requested|requests|wants|wanted|came|arrived|left|asked|asks|feels|felt|spoke|talked|thinks|thought|believes|is|was|will|has|had|would|and|present|at|in',
);
const WEAK_VERBS_AFTER = set('is|was|will|has|had|would|and|at|in');
// Verbs said of people, not of firms or places: a capitalised word before one is a name even
// when no dictionary knows it ("Tomislav shouted", "Orvane lives on ...").
const PERSON_VERBS = set(
  'shouted|yelled|screamed|whispered|laughed|cried|smiled|sighed|nodded|replied|lives|lived|married|spent|sang|told|texted|emailed|apologized|apologised|complained|confessed|promised|wondered|explained|insisted|joked|recalled',
);
// Reporting verbs before a name closing the clause: '..." says Vantreight.', 'said Ilse to Konrad'.
const SAY_BEFORE = set(
  'says|said|asked|asks|replied|replies|added|adds|explained|recalls|recalled|wrote|writes',
);
// Words after a doctor's title that are not surnames even when the surname list has them.
const AFTER_TITLE_NOT_NAME = set(
  'will|may|can|aware|notified|informed|called|paged|here|in|at|to|and|or|of|the|was|is|has|had|would|said|states|ordered|order|orders|made|team|on|with|for|by|re|service|office|note|notes|visit|rounds|to|if|as|also|up|out|now|today|still|who|that|this|his|her|their|out',
);
const DETERMINERS = set(
  'the|a|an|this|that|these|those|our|your|its|every|each|any|some|no|his|her|their|my',
);
const CREDENTIALS = set(
  'rn|md|np|pa|lcsw|licsw|lmft|lpc|lmhc|phd|psyd|msw|cna|lpn|rrt|crt|dpt|aprn|fnp|pmhnp|bsn|msn|cnm|crna|pharmd|rph|lcpc|lsw|bcba|edd|dds|dmd|mft|cadc|ladc|jr|sr|ii|iii|esq|facp|facs|mph|mba|do',
);
const NAME_LABELS = set(
  'name|names|starring|featuring|feat|founders|founder|cofounder|ceo|author|authors|directed|director|producer|produced|written|performed|sung|composed|hosted|host|cast|guest|speaker|presenter|contact|attendee|attendees|member|members|candidate|applicant|employee|tenant|owner|recipient|sender|signed',
);
// Speaker labels and headers that are not names.
const LABEL_WORDS = set(
  'subject|date|time|name|phone|mobile|email|fax|where|when|what|who|note|notes|re|to|from|cc|bcc|address|tel|web|title|location|plan|assessment|summary|update|question|answer|q|a|ps|p|s|o|dx|rx|tx|hx',
);
// Last word of an introduction ("my name is", "call me", "I'm"): gate before the regexes.
const INTRO_LAST = set("is|named|me|name's|am|i'm|it's");
const NAME_IS_STRONG = /\b(?:my name is|name is|name's|named|call me)\s*$/i;
const NAME_IS = /\b(?:i am|i'm|this is|it's)\s*$/i;
// Particles written apart from a surname ("o rourke", "de luca").
const SPLIT_PARTICLES = set('o|d|de|di|da|du|del|della|van|von|le|la|mc|mac');
// Labels of a phone number in a contact line ("cell# 555", "home: 555").
const PHONE_LABELS = set('cell|cel|mobile|mob|home|hm|work|wk|phone|ph|tel|pager|beeper|bpr');
const NAME_PARTICLES = set('van|de|der|den|von|da|di|du|del|della|dos|das|ter|ten|bin|ibn|al|el|la|le|af|av');
// "was called Radomir", "named him Anselm".
const CALLED_BE = set('was|is|were|be|been|being|are|am');
const NAME_QUESTION_RE = /\bname\b[^?\n]{0,20}\?\s*(?:[\p{L}]+:\s*)?$/iu;

// ---- per-word facts ----------------------------------------------------------------------------
// Everything this recognizer asks about a word's text alone (dictionary flags, stop word, which
// cue lists hold it) is one bitmask, computed once per distinct word and kept on the shared
// Word entry (tokens.ts, field `names`). The rules test bits instead of looking words up.
//   bits 0-3: F_STRONG, F_AMBIG, L_STRONG, L_AMBIG (dictionary flags, also for stop words)
//   W_STOP:   stop word (NOT_NAMES, contractions)
//   W_*:      the word is in the cue list of the same name below
const W_STOP = 1 << 4;
const W_TITLE = 1 << 5;
const W_ROLE = 1 << 6;
const W_SUFFIX = 1 << 7;
const W_TALK_VERB = 1 << 8;
const W_ROLE_NAME_VERB = 1 << 9;
const W_SHORT_ROLE = 1 << 10;
const W_FAMILY = 1 << 11;
const W_PATIENT = 1 << 12;
const W_WEAK_BEFORE = 1 << 13;
const W_GREETING = 1 << 14;
const W_COMPOUND_PART = 1 << 15;
const W_VERB_AFTER = 1 << 16;
const W_WEAK_VERB_AFTER = 1 << 17;
const W_PERSON_VERB = 1 << 18;
const W_SAY_BEFORE = 1 << 19;
const W_AFTER_TITLE_NOT_NAME = 1 << 20;
const W_DETERMINER = 1 << 21;
const W_CREDENTIAL = 1 << 22;
const W_NAME_LABEL = 1 << 23;
const W_LABEL_WORD = 1 << 24;
const W_INTRO_LAST = 1 << 25;
const W_NAME_PARTICLE = 1 << 26;
const W_CALLED_BE = 1 << 27;
const W_PHONE_LABEL = 1 << 28;
const CUE_LISTS: ReadonlyArray<readonly [Set<string>, number]> = [
  [TITLES, W_TITLE],
  [ROLES, W_ROLE],
  [SUFFIXES, W_SUFFIX],
  [TALK_VERBS, W_TALK_VERB],
  [ROLE_NAME_VERBS, W_ROLE_NAME_VERB],
  [SHORT_ROLES, W_SHORT_ROLE],
  [FAMILY, W_FAMILY],
  [PATIENT, W_PATIENT],
  [WEAK_BEFORE, W_WEAK_BEFORE],
  [GREETINGS, W_GREETING],
  [COMPOUND_PARTS, W_COMPOUND_PART],
  [VERBS_AFTER, W_VERB_AFTER],
  [WEAK_VERBS_AFTER, W_WEAK_VERB_AFTER],
  [PERSON_VERBS, W_PERSON_VERB],
  [SAY_BEFORE, W_SAY_BEFORE],
  [AFTER_TITLE_NOT_NAME, W_AFTER_TITLE_NOT_NAME],
  [DETERMINERS, W_DETERMINER],
  [CREDENTIALS, W_CREDENTIAL],
  [NAME_LABELS, W_NAME_LABEL],
  [LABEL_WORDS, W_LABEL_WORD],
  [INTRO_LAST, W_INTRO_LAST],
  [NAME_PARTICLES, W_NAME_PARTICLE],
  [CALLED_BE, W_CALLED_BE],
  [PHONE_LABELS, W_PHONE_LABEL],
];
let CUE_BITS: Map<string, number> | undefined;
// The W_* cue bits of every word of CUE_LISTS, one lookup per new word (built on first use).
function cueBits(): Map<string, number> {
  if (CUE_BITS) return CUE_BITS;
  const m = new Map<string, number>();
  for (const [list, bit] of CUE_LISTS) for (const w of list) m.set(w, (m.get(w) ?? 0) | bit);
  for (const w of STOP) m.set(w, (m.get(w) ?? 0) | W_STOP);
  CUE_BITS = m;
  return m;
}

// A second bitmask per word (Word.names2): the single words some rules ask for ("dr", "and"),
// facts of the exact token text, and the stem's length (capped at 7), so no rule reads the
// word's strings during a scan (each string read is a memory load, often a cache miss).
const X_DR = 1 << 0; // dr|drs
const X_DOCTOR_WORD = 1 << 1; // doctor
const X_DOCTOR = X_DR | X_DOCTOR_WORD;
const X_MS_MR = 1 << 2; // ms|mr
const X_COURTESY = 1 << 3; // mr|mrs|ms|miss
const X_BIL = 1 << 4;
const X_PT = 1 << 5;
const X_RT = 1 << 6;
const X_FAMILY_WORD = 1 << 7; // family|families
const X_CALLED = 1 << 8;
const X_HIM_HER = 1 << 9;
const X_NAMED = 1 << 10;
const X_WITH = 1 << 11; // with|w|to
const X_TO_AS = 1 << 12; // to|as
const X_AND = 1 << 13;
const X_AND_OR = 1 << 14; // and|or
const X_NAME = 1 << 15; // name
const X_LY = 1 << 16; // the stem ends in "ly"
const X_POSSESSIVE = 1 << 17; // the token ends in 's or ’s (any case)
const X_SURNAME_ENDING = 1 << 18; // SURNAME_ENDING matches the stem
const X_SPLIT_PARTICLE = 1 << 19; // in SPLIT_PARTICLES
const X_LABEL_ANSWER = 1 << 20; // in LABEL_ANSWERS
const X_RAW_CAPS = 1 << 21; // the token equals its upper-casing
const X_CAPS_CRED = 1 << 22; // X_RAW_CAPS, or PhD, PsyD, PharmD
const X_LOWER_LETTER = 1 << 23; // the token is one letter b-z other than i (lowerInitial)
const X_STEM_LETTER = 1 << 24; // the stem is one letter b-z other than i
const X_DIGIT_START = 1 << 25; // the token starts with a digit
const X_LEN_SHIFT = 26; // bits 26-28: the stem's length, at most 7
const X_INITIAL = 1 << 29; // the token's shape is SHAPE_INITIAL
const X_WORDS: ReadonlyArray<readonly [string, number]> = [
  ['dr', X_DR],
  ['drs', X_DR],
  ['doctor', X_DOCTOR_WORD],
  ['ms', X_MS_MR | X_COURTESY],
  ['mr', X_MS_MR | X_COURTESY],
  ['mrs', X_COURTESY],
  ['miss', X_COURTESY],
  ['bil', X_BIL],
  ['pt', X_PT],
  ['rt', X_RT],
  ['family', X_FAMILY_WORD],
  ['families', X_FAMILY_WORD],
  ['called', X_CALLED],
  ['him', X_HIM_HER],
  ['her', X_HIM_HER],
  ['named', X_NAMED],
  ['with', X_WITH],
  ['w', X_WITH],
  ['to', X_WITH | X_TO_AS],
  ['as', X_TO_AS],
  ['and', X_AND | X_AND_OR],
  ['or', X_AND_OR],
  ['name', X_NAME],
];
const X_BY_WORD = new Map<string, number>();
for (const [word, bit] of X_WORDS) X_BY_WORD.set(word, (X_BY_WORD.get(word) ?? 0) | bit);
for (const word of SPLIT_PARTICLES) X_BY_WORD.set(word, (X_BY_WORD.get(word) ?? 0) | X_SPLIT_PARTICLE);
for (const word of LABEL_ANSWERS) X_BY_WORD.set(word, (X_BY_WORD.get(word) ?? 0) | X_LABEL_ANSWER);

/** A lower-case letter b-z other than i (an initial in lower-case notes, not "a" or "i"). */
function isLetterInitial(c: number): boolean {
  return c >= 98 && c <= 122 && c !== 105;
}

/**
 * Fill word.names (the W_* bitmask of its stem, with W_STOP set when the token can never be a
 * name by itself: a stop word, not letters, or one letter that is no initial) and word.names2.
 */
function learnWord(word: Word): void {
  const s = word.stem;
  const r = word.raw;
  const sh = word.shape;
  // (cueBits() holds W_STOP for the stop list; X_BY_WORD the split particles and label answers.)
  let info = (dict().get(s) ?? 0) | (cueBits().get(s) ?? 0);
  if (
    (sh & SHAPE_LETTERS) === 0 ||
    (s.includes("'") && CONTRACTION_RE.test(s)) ||
    (s.length < 2 && (sh & SHAPE_INITIAL) === 0)
  )
    info |= W_STOP;
  let x = X_BY_WORD.get(s) ?? 0;
  if (s.endsWith('ly')) x |= X_LY;
  // (POSSESSIVE_RE without the regex: ' or ’, then s or S, at the end.)
  const rl = r.length;
  const last = r.charCodeAt(rl - 1);
  const beforeLast = rl > 1 ? r.charCodeAt(rl - 2) : 0;
  if ((last === 115 || last === 83) && (beforeLast === 39 || beforeLast === 0x2019)) x |= X_POSSESSIVE;
  if (SURNAME_ENDING.test(s)) x |= X_SURNAME_ENDING;
  const rawCaps = r === r.toUpperCase();
  if (rawCaps) x |= X_RAW_CAPS;
  if (rawCaps || r === 'PhD' || r === 'PsyD' || r === 'PharmD') x |= X_CAPS_CRED;
  if (r.length === 1 && isLetterInitial(r.charCodeAt(0))) x |= X_LOWER_LETTER;
  if (s.length === 1 && isLetterInitial(s.charCodeAt(0))) x |= X_STEM_LETTER;
  if (r.charCodeAt(0) >= 48 && r.charCodeAt(0) <= 57) x |= X_DIGIT_START;
  x |= Math.min(s.length, 7) << X_LEN_SHIFT;
  if ((sh & SHAPE_INITIAL) !== 0) x |= X_INITIAL;
  word.names2 = x;
  word.names = info;
}

// Gap kinds between token i-1 and token i.
const G_SPACE = 1; // 1-3 spaces or tabs
const G_PERIOD = 2; // "." then 0-2 spaces (after an initial)
const G_HYPHEN = 4; // "-" or "'" joining parts of one name
const G_COMMA = 8; // ", " or " & " or ": " etc. on one line
const G_NEWLINE = 16; // one line break (with spaces)
const G_BREAK = 32; // anything else: sentence punctuation, blank line, long gap

// gapKind's flag (beside the kind) that the gap holds a line break.
const GAP_LINE = 64;

function gapKind(text: string, from: number, to: number): number {
  const len = to - from;
  if (len <= 0) return G_HYPHEN;
  let spaces = 0;
  let newlines = 0;
  let periods = 0;
  let hyphens = 0;
  let other = 0;
  let strong = 0;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c === 32 || c === 9) spaces++;
    else if (c === 10 || c === 13) newlines++;
    else if (c === 46) periods++;
    else if (c === 45 || c === 39 || c === 0x2019) hyphens++;
    else if (c === 44 || c === 58 || c === 40 || c === 41 || c === 38 || c === 34 || c === 42) other++;
    else strong++;
  }
  if (newlines > 0)
    return (
      GAP_LINE |
      (strong > 0 || len > 8 || newlines > 1 || other + periods + hyphens > 0 ? G_BREAK : G_NEWLINE)
    );
  if (strong > 0 || len > 8) return G_BREAK;
  if (other === 0 && periods === 0 && hyphens === 0 && spaces <= 3) return G_SPACE;
  if (periods === 1 && other === 0 && hyphens === 0 && spaces <= 2) return G_PERIOD;
  if (hyphens === 1 && spaces === 0 && other === 0 && periods === 0) return G_HYPHEN;
  if (periods === 0 && other <= 2) return G_COMMA;
  return G_BREAK;
}

// ---- per-scan state and token tests ----------------------------------------------------------
// The tests below read the scan in progress from module state rather than being closures made
// per call: a scan is synchronous and not re-entrant, and closures cost an allocation each (and,
// under tsx/esbuild keepNames, a __name defineProperty) on every scan of every message.
let FL_BUF = new Uint8Array(256);
let STOP_BUF = new Uint8Array(256);
let GAP_BUF = new Uint8Array(256);
let LS_BUF = new Uint8Array(256);
let CONF_BUF = new Float64Array(256);
let INFO_BUF = new Int32Array(256);
let X_BUF = new Int32Array(256);
let LINES_BUF = new Int32Array(256);
let CUES_BUF = new Int32Array(256);
let FIRSTS_BUF = new Int32Array(256);
let TITLES_BUF = new Int32Array(256);
let CUE_WORDS_BUF = new Int32Array(256);
let MARKED_BUF = new Int32Array(256);
function growBuffers(n: number): void {
  let size = FL_BUF.length;
  while (size < n) size *= 2;
  FL_BUF = new Uint8Array(size);
  INFO_BUF = new Int32Array(size);
  X_BUF = new Int32Array(size);
  LINES_BUF = new Int32Array(size);
  CUES_BUF = new Int32Array(size);
  FIRSTS_BUF = new Int32Array(size);
  TITLES_BUF = new Int32Array(size);
  CUE_WORDS_BUF = new Int32Array(size);
  MARKED_BUF = new Int32Array(size);
  STOP_BUF = new Uint8Array(size);
  GAP_BUF = new Uint8Array(size);
  LS_BUF = new Uint8Array(size);
  CONF_BUF = new Float64Array(size);
  VIEWS.fill(undefined);
}
// Views of the buffers above for one token count (a view reads undefined past n, as an array
// did). Cached per count: a typed-array view is an allocation (~40 ns each, 7 per scan), and
// counts repeat from message to message.
interface Views {
  readonly fl: Uint8Array;
  readonly stop: Uint8Array;
  readonly gap: Uint8Array;
  readonly ls: Uint8Array;
  readonly info: Int32Array;
  readonly x: Int32Array;
  readonly conf: Float64Array;
}
const VIEWS_CACHED = 1024;
const VIEWS = new Array<Views | undefined>(VIEWS_CACHED).fill(undefined);
function viewsFor(n: number): Views {
  let v = n < VIEWS_CACHED ? VIEWS[n] : undefined;
  if (v === undefined) {
    if (FL_BUF.length < n) growBuffers(n);
    v = {
      fl: FL_BUF.subarray(0, n),
      stop: STOP_BUF.subarray(0, n),
      gap: GAP_BUF.subarray(0, n),
      ls: LS_BUF.subarray(0, n),
      info: INFO_BUF.subarray(0, n),
      x: X_BUF.subarray(0, n),
      conf: CONF_BUF.subarray(0, n),
    };
    if (n < VIEWS_CACHED) VIEWS[n] = v;
  }
  return v;
}
const EMPTY_U8 = new Uint8Array(0);
const EMPTY_F64 = new Float64Array(0);
let R_text = '';
let R_upper = false;
let R_n = 0;
let R_toks: Tokens | undefined;
let R_sh: readonly number[] = [];
let R_stop: Uint8Array = EMPTY_U8;
let R_gap: Uint8Array = EMPTY_U8;
let R_ls: Uint8Array = EMPTY_U8;
let R_conf: Float64Array = EMPTY_F64;
let R_info: Int32Array = new Int32Array(0);
let R_x: Int32Array = new Int32Array(0);
let R_why: (string | undefined)[] = [];
// The highest confidence marked so far: passes that start from marked tokens skip without any.
let R_max = 0;
// Reasons per token, kept across scans (only constant strings, never the text); grown with
// undefined elements so the array stays packed. Not cleared per scan: a reason is read only
// where the confidence (cleared) is above zero, and mark() sets both.
const WHY_BUF: (string | undefined)[] = [];
let R_fl: Uint8Array = EMPTY_U8;
// The tokens namesCueRules looks at, in order (R_cues[0 .. R_nCues)).
let R_cues: Int32Array = new Int32Array(0);
let R_nCues = 0;
// Tokens listed by the setup loop for the passes that start only at them, in order (each pass
// still tests its own conditions; a list holds every token the pass could start at):
//   R_firsts: a dictionary first name (info, so also one a rule may revive) or an initial;
//   R_titles: Title case (what shaped() is in mixed-case text);
//   R_cueWords: a word of CUE_WORD_INFO or CUE_WORD_X (relatives, roles, credentials, titles...).
let R_firsts: Int32Array = new Int32Array(0);
let R_nFirsts = 0;
let R_titles: Int32Array = new Int32Array(0);
let R_nTitles = 0;
let R_cueWords: Int32Array = new Int32Array(0);
let R_nCueWords = 0;
// The tokens mark() has given a confidence, in the order of their first mark (R_marked[0 ..
// R_nMarked)); each at most once (a confidence only rises).
let R_marked: Int32Array = new Int32Array(0);
let R_nMarked = 0;
const CUE_WORD_INFO = W_FAMILY | W_ROLE | W_SHORT_ROLE | W_CREDENTIAL | W_PHONE_LABEL;
const CUE_WORD_X = X_DOCTOR | X_COURTESY | X_NAME | X_STEM_LETTER;
// The tokens that start a line, in order (R_lines[0 .. R_nLines)).
let R_lines: Int32Array = new Int32Array(0);
let R_nLines = 0;

// Shaped like a name in this text: Title case in mixed text, capitals in all-caps text.
function shaped(i: number): boolean {
  const s = R_sh[i]!;
  if (R_upper) return (s & SHAPE_CAPS) !== 0;
  // All-caps words in mixed-case text are acronyms far more often than names.
  return (s & SHAPE_TITLE) !== 0;
}
/** Token i exists and its word has all of the W_* bits in `bits` (one bit in practice). */
function is(i: number, bits: number): boolean {
  return i >= 0 && i < R_n && (R_info[i]! & bits) !== 0;
}
/** The length of token i's stem, at most 7. */
function len(i: number): number {
  return R_x[i]! >>> X_LEN_SHIFT;
}
function isLower(i: number): boolean {
  return (R_sh[i]! & SHAPE_LOWER) !== 0;
}
function isInitial(i: number): boolean {
  return (R_sh[i]! & SHAPE_INITIAL) !== 0;
}
// A lower-case initial with its period in lower-case notes ("m. brockwell rrt"), not "a." or "i.".
function lowerInitial(i: number): boolean {
  if (i < 0 || i + 1 >= R_n || R_upper || R_gap[i + 1] !== G_PERIOD) return false;
  return (R_x[i]! & X_LOWER_LETTER) !== 0;
}
// (A token that is not letters only is always a stop token: W_STOP, and no rule revives one.)
function candidate(i: number): boolean {
  return R_stop[i] === 0;
}
// A colon in the gap between tokens a and b.
function colonBetween(a: number, b: number): boolean {
  const t = R_toks!;
  const e = t.start[b]!;
  for (let k = t.end[a]!; k < e; k++) if (R_text.charCodeAt(k) === 58) return true;
  return false;
}
function joined(i: number): boolean {
  return (R_gap[i]! & (G_SPACE | G_COMMA | G_PERIOD | G_HYPHEN)) !== 0;
}
function lineStart(i: number): boolean {
  return R_ls[i] === 1;
}
// The token is followed by at most a few more words on its line (short name lines).
function lineEndsWithin(i: number): boolean {
  return i + 1 >= R_n || R_ls[i + 1] === 1 || R_gap[i + 1] !== G_SPACE || !candidate(i + 1);
}
function lineEnd(i: number): boolean {
  const text = R_text;
  for (let k = R_toks!.end[i]!; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === 10 || c === 13) return true;
    if (c !== 32 && c !== 9 && c !== 46 && c !== 44) return false;
  }
  return true;
}
function mark(i: number, c: number, r: string): void {
  if (i >= 0 && i < R_n && c > R_conf[i]!) {
    if (R_conf[i] === 0) R_marked[R_nMarked++] = i;
    R_conf[i] = c;
    R_why[i] = r;
    if (c > R_max) R_max = c;
  }
}

// The W_* cue bits namesCueRules reads on the word before a candidate.
const CUES_BEFORE =
  W_TITLE |
  W_FAMILY |
  W_SHORT_ROLE |
  W_ROLE |
  W_PATIENT |
  W_GREETING |
  W_INTRO_LAST |
  W_NAME_LABEL |
  W_SAY_BEFORE |
  W_WEAK_BEFORE;

/**
 * Whether namesCueRules can take token t: a candidate, not an initial and, unless a dictionary
 * knows it, after a possible cue word or before a verb said of people (the skip in namesCueRules,
 * tested on the word before: the cue word when there is one, unless it is an initial after a
 * title). Asked by the setup loop once t's stop bit is settled.
 */
function cueCandidate(
  t: number,
  n: number,
  stop: Uint8Array,
  fl: Uint8Array,
  info: Int32Array,
  x: Int32Array,
  sh: readonly number[],
): boolean {
  if (stop[t] !== 0 || (sh[t]! & SHAPE_INITIAL) !== 0) return false;
  if (fl[t] !== 0) return true;
  return (
    (t > 0 &&
      ((info[t - 1]! & CUES_BEFORE) !== 0 ||
        (x[t - 1]! & (X_CALLED | X_HIM_HER)) !== 0 ||
        (sh[t - 1]! & SHAPE_INITIAL) !== 0)) ||
    (t + 1 < n && (info[t + 1]! & W_PERSON_VERB) !== 0)
  );
}

function namesCueRules(): void {
  const text = R_text,
    upper = R_upper,
    n = R_n,
    toks = R_toks!,
    x = R_x,
    info = R_info,
    fl = R_fl,
    gap = R_gap,
    sh = R_sh;
  // ---- cue rules ---------------------------------------------------------------------------
  // Only the tokens cueCandidate() kept (listed by the setup loop).
  for (let q = 0; q < R_nCues; q++) {
    const i = R_cues[q]!;
    const f = fl[i]!;
    const anyDict = f !== 0;
    const strongDict = (f & STRONG) !== 0;
    const shp = shaped(i);
    // Previous word on the same line, skipping one initial after a title ("Dr. L. Virtanen").
    // A period only joins after an initial or an abbreviated title ("Dr. X"), not across sentences.
    let p =
      i > 0 && joined(i) && (gap[i] !== G_PERIOD || isInitial(i - 1) || is(i - 1, W_TITLE)) ? i - 1 : -1;
    if (p > 0 && isInitial(p) && joined(p) && is(p - 1, W_TITLE)) p = p - 1;
    const px = p >= 0 ? x[p]! : 0;
    // Speed: a word no dictionary knows can only be taken by a cue word before it or a verb
    // said of people after it (every other rule below needs dictionary flags).
    if (
      f === 0 &&
      (p < 0 || (info[p]! & CUES_BEFORE) === 0) &&
      (px & (X_CALLED | X_HIM_HER)) === 0 &&
      !(i + 1 < n && (info[i + 1]! & W_PERSON_VERB) !== 0)
    )
      continue;

    // "MS" and "MR" are also mental status and mitral regurgitation in notes: in all-caps text
    // they need a dictionary name after them; no title takes a name across a colon.
    // "MS" and "MR" in mixed-case notes ("baseline MS deficits", "watch MS. Fall precautions")
    // and "ms" before a lower-case word are mental status, not a title.
    const statusAbbrev = (px & X_MS_MR) !== 0 && (upper || (px & X_RAW_CAPS) !== 0 || isLower(i));
    if (is(p, W_TITLE) && (gap[i]! & (G_SPACE | G_PERIOD)) !== 0 && (anyDict || !statusAbbrev)) {
      // After a doctor's title the word is a surname even when the health lexicon knows it
      // ("dr. mania aware"): just above the lexicon's confidence.
      const doctor = (px & X_DOCTOR) !== 0;
      mark(i, doctor ? 0.92 : shp || anyDict ? 0.9 : 0.7, 'Title before a name');
      continue;
    }
    // "Client: Fine.", "Parent: Better than": a label, not a cue; across a colon only an
    // dictionary first name follows a relative or "patient" ("Mother: Maria").
    const labelled = p >= 0 && gap[i] === G_COMMA && colonBetween(p, i);
    const firstName = labelled && (f & FIRST) !== 0 && (x[i]! & X_LABEL_ANSWER) === 0;
    if (is(p, W_FAMILY)) {
      // "her daughter's recital": after a possessive relative a lower-case word is a thing.
      if (isLower(i) && (px & X_POSSESSIVE) !== 0) continue;
      // "BIL" in all-caps notes is "bilateral" ("GRIPS EQUAL BUT BIL FEET COOL"), not a brother-in-law.
      if (upper && (px & X_BIL) !== 0) continue;
      if (labelled && !firstName) continue;
      if (anyDict && (shp || isLower(i))) mark(i, 0.85, 'Relative before a name');
      else if (shp && !upper) mark(i, 0.75, 'Relative before a capitalised word');
      continue;
    }
    // Short role abbreviations ("NP Carol", "MD Smith") are also "PA line", "RN aware": they
    // take unambiguous dictionary names only.
    // In mixed-case text a capitalised first name after the role counts too ("per NP Greta").
    if (
      is(p, W_SHORT_ROLE) &&
      (strongDict || (!upper && (f & FIRST) !== 0 && (sh[i]! & SHAPE_TITLE) !== 0 && (px & X_PT) === 0)) &&
      // "pt dev rash", "RT hand": after "pt" (patient) or "rt" (right) a name is capitalised.
      (shp || (isLower(i) && (px & (X_PT | X_RT)) === 0)) &&
      (gap[i]! & (G_SPACE | G_PERIOD)) !== 0
    ) {
      mark(i, 0.85, 'Role before a name');
      continue;
    }
    // "NP KOWALCZYK MADE AWARE", "per NP GRETA.": a role, a word, then a verb or the clause end.
    if (is(p, W_SHORT_ROLE) && (shp || isLower(i)) && (gap[i]! & G_SPACE) !== 0 && len(i) > 2) {
      const e = toks.end[i]!;
      const ch = e < text.length ? text.charCodeAt(e) : 46;
      const nv = i + 1 < n && gap[i + 1] === G_SPACE ? i + 1 : -1;
      if ((px & (X_PT | X_RT)) === 0 && (((ch === 46 || ch === 44) && anyDict) || is(nv, W_ROLE_NAME_VERB))) {
        mark(i, 0.8, 'Role before a name');
        continue;
      }
    }
    // "RT" is also "right" ("RT SCREEN", "RT eye"): a dictionary name that is no common word.
    if (is(p, W_ROLE) && ((px & X_RT) !== 0 ? strongDict && !isLower(i) : anyDict) && (shp || isLower(i))) {
      mark(i, strongDict ? 0.85 : 0.75, 'Role before a name');
      continue;
    }
    if (
      is(p, W_PATIENT) &&
      len(i) > 2 &&
      // "pt aud.", "pt dev rash": abbreviations after a lower-case word.
      !(isLower(i) && (px & X_PT) !== 0) &&
      (labelled ? firstName : strongDict || (anyDict && shp && !upper))
    ) {
      mark(i, 0.85, 'Patient before a name');
      continue;
    }
    // A greeting on its own line ("Hi,\nFollow-up from our call") only takes a dictionary name.
    if (
      (is(p, W_GREETING) || (p < 0 && is(i - 1, W_GREETING) && anyDict)) &&
      (shp || (anyDict && !isLower(i)))
    ) {
      mark(i, anyDict ? 0.9 : 0.75, 'Greeting before a name');
      continue;
    }
    const introText =
      !upper && (shp || isLower(i)) && is(p, W_INTRO_LAST)
        ? text.slice(Math.max(0, toks.start[i]! - 16), toks.start[i])
        : '';
    if (introText && (NAME_IS_STRONG.test(introText) || (shp && NAME_IS.test(introText)))) {
      // "my name is dragan kolar": case is not a cue here, take the next word too.
      mark(i, 0.85, 'Introduced by name');
      if (
        i + 1 < n &&
        candidate(i + 1) &&
        gap[i + 1] === G_SPACE &&
        (shaped(i + 1) || isLower(i + 1)) &&
        lineEndsWithin(i + 1)
      )
        mark(i + 1, 0.85, 'Introduced by name');
      continue;
    }
    // "Name: X", "directed by X", "starring X", "founders: X".
    if (!upper && shp && is(p, W_NAME_LABEL)) {
      mark(i, anyDict ? 0.85 : 0.75, 'Labelled name');
      continue;
    }
    // "KEEP DELGADO FAMILY AWARE", "the Nguyen family": a dictionary surname before "family".
    if (
      i + 1 < n &&
      (x[i + 1]! & X_FAMILY_WORD) !== 0 &&
      gap[i + 1] === G_SPACE &&
      // Unambiguous names only: "KEEP FAMILY AWARE" starts many notes.
      (f & (L_STRONG | F_STRONG)) !== 0 &&
      (shp || (upper && (sh[i]! & SHAPE_CAPS) !== 0))
    ) {
      mark(i, 0.75, 'Surname before "family"');
      continue;
    }
    // '... says Vantreight.': a capitalised word closing the clause after a reporting verb.
    if (!upper && shp && is(p, W_SAY_BEFORE) && (gap[i]! & G_SPACE) !== 0 && len(i) > 2) {
      const e = toks.end[i]!;
      const ch = e < text.length ? text.charCodeAt(e) : 46;
      // . , ! ? ; or " to/as"
      if (
        ch === 46 ||
        ch === 44 ||
        ch === 33 ||
        ch === 63 ||
        ch === 59 ||
        (i + 1 < n && (x[i + 1]! & X_TO_AS) !== 0)
      ) {
        mark(i, 0.75, 'Name after a reporting verb');
        continue;
      }
    }
    // A verb after: "bill called", "BRANDT AWARE", "Rosalind visited".
    const nx = i + 1 < n && (gap[i + 1]! & (G_SPACE | G_COMMA)) !== 0 ? i + 1 : -1;
    // "IRMA ZURAWSKI AWARE", "Lina Okonjo paged": an unambiguous first name, a word of the same
    // case no list knows, then a verb said of staff (not "is"/"and").
    if (
      (f & F_STRONG) !== 0 &&
      gap[i + 1] === G_SPACE &&
      i + 2 < n &&
      (gap[i + 2]! & G_SPACE) !== 0 &&
      candidate(i + 1) &&
      fl[i + 1] === 0 &&
      len(i + 1) > 2 &&
      (upper ? (sh[i + 1]! & SHAPE_CAPS) !== 0 && (sh[i]! & SHAPE_CAPS) !== 0 : shp && shaped(i + 1)) &&
      // ... or "and" a doctor named after them ("IRMA ZURAWSKI AND DR LOPEZ AWARE").
      ((is(i + 2, W_ROLE_NAME_VERB) && !is(i + 2, W_WEAK_VERB_AFTER)) ||
        ((x[i + 2]! & X_AND) !== 0 && i + 3 < n && (x[i + 3]! & X_DR) !== 0)) &&
      !is(p, W_DETERMINER)
    ) {
      mark(i, 0.8, 'First name and surname before a verb');
      mark(i + 1, 0.8, 'First name and surname before a verb');
    }
    // Not the second half of a slashed abbreviation ("D/CED AND", "S/P ... WAS").
    const afterSlash = toks.start[i]! > 0 && text.charCodeAt(toks.start[i]! - 1) === 47;
    if (is(nx, W_VERB_AFTER) && (shp || isLower(i)) && !is(p, W_DETERMINER) && !afterSlash) {
      const weakVerb = is(nx, W_WEAK_VERB_AFTER);
      // "is", "has", "and" follow brands and places as often as people: first names only.
      if (weakVerb ? shp && (f & F_STRONG) !== 0 : strongDict)
        mark(i, weakVerb ? 0.7 : 0.8, 'Name before a verb');
      else if (anyDict && !weakVerb && (f & FIRST) !== 0) mark(i, 0.75, 'First name before a verb');
    }
    // Sentence-initial adverbs ("Currently lives ...") are not names.
    if (
      nx >= 0 &&
      !upper &&
      shp &&
      is(nx, W_PERSON_VERB) &&
      !is(p, W_DETERMINER) &&
      len(i) > 2 &&
      (x[i]! & X_LY) === 0
    ) {
      mark(i, 0.75, 'Capitalised word before a verb said of people');
    }
    if (is(p, W_WEAK_BEFORE) && strongDict && shp && !upper) mark(i, 0.75, 'Name after a contact verb');
    // Lower-case notes: "per jennifer, labs sent", "called tamara re: results": an unambiguous
    // first name (no common word shares it).
    else if (is(p, W_WEAK_BEFORE) && isLower(i) && (f & F_STRONG) !== 0 && gap[i] === G_SPACE)
      mark(i, 0.75, 'Name after a contact verb');
    if (
      !upper &&
      shp &&
      p > 0 &&
      (((px & X_CALLED) !== 0 && is(p - 1, W_CALLED_BE)) ||
        ((px & X_HIM_HER) !== 0 && (x[p - 1]! & X_NAMED) !== 0))
    )
      mark(i, 0.8, 'Name after "called" or "named"');
    // "spoke with helen", "will consult with greta": a first name after a verb of talking + with.
    if (
      (px & X_WITH) !== 0 &&
      p > 0 &&
      is(p - 1, W_TALK_VERB) &&
      ((f & F_STRONG) !== 0 || (shp && !upper && anyDict)) &&
      (shp || isLower(i))
    )
      mark(i, 0.8, 'Name after a verb of talking');
    if (!shp || is(p, W_DETERMINER)) continue;
    // Dictionary alone. In all-caps notes every word is "capitalised", so a bare hit is too weak
    // to report on its own (kept below the default threshold; pairs and cues lift it).
    const atStart = lineStart(i) || (gap[i]! & G_BREAK) !== 0;
    if ((f & F_STRONG) !== 0) mark(i, upper ? 0.45 : atStart ? 0.65 : 0.75, 'Known first name');
    else if ((f & L_STRONG) !== 0) mark(i, upper ? 0.4 : atStart ? 0.55 : 0.65, 'Known surname');
  }
}

function namesDoctorSurname(): void {
  const upper = R_upper,
    n = R_n,
    x = R_x,
    fl = R_fl,
    stop = R_stop,
    gap = R_gap,
    sh = R_sh,
    info = R_info;
  // "Dr. Foley", "dr. green's note": after a doctor's title a surname wins over the stop list
  // (catheters, colours, common nouns), unless the word is a verb or function word.
  // (The tokens after a listed cue word; `next` skips the surname a pair took.)
  let next = 1;
  for (let q = 0; q < R_nCueWords; q++) {
    let i = R_cueWords[q]! + 1;
    if (i >= n) break;
    if (i < next || (x[i - 1]! & X_DOCTOR) === 0) continue;
    if (stop[i] === 0 || (sh[i]! & SHAPE_LETTERS) === 0 || isInitial(i) || len(i) < 3) continue;
    if ((gap[i]! & (G_SPACE | G_PERIOD)) === 0 || is(i, W_AFTER_TITLE_NOT_NAME)) continue;
    // "Dr. Art Black": a capitalised first name and surname the stop list holds, in mixed case.
    if (
      !upper &&
      (info[i]! & FIRST) !== 0 &&
      (sh[i]! & SHAPE_TITLE) !== 0 &&
      i + 1 < n &&
      gap[i + 1] === G_SPACE &&
      (sh[i + 1]! & SHAPE_TITLE) !== 0 &&
      (info[i + 1]! & (L_STRONG | L_AMBIG)) !== 0 &&
      !is(i + 1, W_AFTER_TITLE_NOT_NAME)
    ) {
      stop[i] = 0;
      fl[i] = info[i]! & 15;
      mark(i, 0.85, 'Title before a name');
      i++;
      stop[i] = 0;
      fl[i] = info[i]! & 15;
      mark(i, 0.85, 'Title before a name');
      next = i + 1;
      continue;
    }
    if ((info[i]! & (L_STRONG | L_AMBIG)) === 0) continue;
    if (upper ? (sh[i]! & SHAPE_CAPS) === 0 : !(shaped(i) || isLower(i))) continue;
    stop[i] = 0;
    fl[i] = info[i]! & 15;
    mark(i, 0.85, 'Title before a surname');
  }
}

function namesEponymAfterFirst(): void {
  const upper = R_upper,
    n = R_n,
    fl = R_fl,
    stop = R_stop,
    gap = R_gap,
    sh = R_sh,
    info = R_info;
  // "Wilma Pratt", "Gavin Foley": an eponym the stop list holds (drains, catheters) is a
  // surname right after an unambiguous, capitalised first name in mixed-case text.
  if (!upper)
    for (let q = 0; q < R_nFirsts; q++) {
      // (The tokens after a listed first name; the rare first-name test first.)
      const i = R_firsts[q]! + 1;
      if (i >= n) break;
      if ((fl[i - 1]! & F_STRONG) === 0) continue;
      if (
        stop[i] === 0 ||
        (sh[i]! & SHAPE_TITLE) === 0 ||
        gap[i] !== G_SPACE ||
        is(i, W_AFTER_TITLE_NOT_NAME)
      )
        continue;
      if ((fl[i - 1]! & F_STRONG) === 0 || (sh[i - 1]! & SHAPE_TITLE) === 0 || stop[i - 1] === 1) continue;
      if ((info[i]! & (L_STRONG | L_AMBIG)) === 0) continue;
      stop[i] = 0;
      fl[i] = info[i]! & 15;
      mark(i - 1, 0.85, 'First name and surname');
      mark(i, 0.85, 'First name and surname');
    }
}

function namesCommonWordPairs(): void {
  const n = R_n,
    fl = R_fl,
    stop = R_stop,
    gap = R_gap,
    sh = R_sh,
    info = R_info;
  // "John Smith has bipolar disorder", "call Bill Price about his refill": a first name and a
  // surname that are also common words ("john", "bill"; "smith", "price") read as a name when both
  // are capitalised mid-word-run in mixed-case text, and the pair stands alone: not inside a longer
  // run of capitalised words ("Grace Baptist Church", "Saint Rose Hunter Hall") and not after a
  // determiner ("the Will Power program").
  for (let q = 0; q < R_nFirsts; q++) {
    const i = R_firsts[q]!;
    const j = i + 1;
    if (j >= n) break;
    // (A surname the lists hold as a first name too, "Smith", "Hunter", "Price", has only first-name bits.)
    if ((info[i]! & FIRST) === 0 || (info[j]! & (FIRST | L_STRONG | L_AMBIG)) === 0) continue;
    if (R_conf[i]! > 0 || R_conf[j]! > 0) continue;
    if ((sh[i]! & SHAPE_TITLE) === 0 || (sh[j]! & SHAPE_TITLE) === 0 || gap[j] !== G_SPACE) continue;
    if (len(i) < 3 || len(j) < 3 || is(j, W_AFTER_TITLE_NOT_NAME)) continue;
    if (i > 0 && (gap[i]! & G_SPACE) !== 0 && ((sh[i - 1]! & SHAPE_TITLE) !== 0 || is(i - 1, W_DETERMINER)))
      continue;
    // After a title the doctor rules decide ("Dr. Will See you now").
    if (is(i - 1, W_TITLE) || (i > 0 && (R_x[i - 1]! & X_DOCTOR) !== 0)) continue;
    const after = j + 1 < n && (gap[j + 1]! & G_SPACE) !== 0 ? j + 1 : -1;
    if (after >= 0 && (sh[after]! & SHAPE_TITLE) !== 0) continue;
    // Said of a person: the pair ends a clause, is possessive, is followed by a verb said of
    // people ("has", "said", "called") or follows a contact or talk verb ("call", "spoke with").
    // Not before a noun: "Jackson Pratt drain", "Foley catheter".
    if (
      after >= 0 &&
      (R_x[j]! & X_POSSESSIVE) === 0 &&
      !is(after, W_PERSON_VERB | W_VERB_AFTER | W_ROLE_NAME_VERB) &&
      !is(i - 1, W_WEAK_BEFORE | W_TALK_VERB | W_SAY_BEFORE | W_GREETING)
    )
      continue;
    stop[i] = 0;
    stop[j] = 0;
    fl[i] = info[i]! & 15;
    fl[j] = info[j]! & 15;
    mark(i, 0.7, 'First name and surname');
    mark(j, 0.7, 'First name and surname');
  }
}

function namesLabelledLower(): void {
  const text = R_text,
    n = R_n,
    toks = R_toks!,
    x = R_x,
    gap = R_gap,
    ls = R_ls;
  // "name: kenji r. osada": a labelled name in lower case takes the rest of its short line.
  for (let q = 0; q < R_nCueWords; q++) {
    const i = R_cueWords[q]! + 1;
    if (i >= n) break;
    if (
      (x[i - 1]! & X_NAME) === 0 ||
      text[toks.end[i - 1]!] !== ':' ||
      !isLower(i) ||
      !candidate(i) ||
      ls[i] === 1
    )
      continue;
    let k = i;
    while (
      k + 1 < n &&
      k - i < 3 &&
      ls[k + 1] === 0 &&
      (gap[k + 1]! & (G_SPACE | G_PERIOD)) !== 0 &&
      (candidate(k + 1) || isInitial(k + 1) || (len(k + 1) === 1 && isLower(k + 1)))
    )
      k++;
    if (k < n - 1 && ls[k + 1] === 0) continue;
    for (let m = i; m <= k; m++) mark(m, 0.8, 'Labelled name');
  }
}

function namesCoordinatedAndAnswers(hasAnd: boolean): void {
  const text = R_text,
    upper = R_upper,
    n = R_n,
    toks = R_toks!,
    x = R_x,
    fl = R_fl,
    gap = R_gap;
  if (!upper) {
    // "Tarkanov and Reyes were ...", "Vuković, Bellamy and Stone": capitalised words coordinated
    // mid-sentence, one of them a dictionary name, are names together.
    // (Both loops start at a Title-case word, what shaped() is in mixed-case text.)
    for (let q = 0; hasAnd && q < R_nTitles; q++) {
      const i = R_titles[q]!;
      if (i + 2 >= n) break;
      if ((x[i + 1]! & X_AND) === 0 || gap[i + 1] !== G_SPACE || gap[i + 2] !== G_SPACE) continue;
      const a = i;
      const b = i + 2;
      if (!candidate(a) || !candidate(b) || !shaped(a) || !shaped(b) || isInitial(a) || isInitial(b))
        continue;
      // Evidence: an unambiguous dictionary name ("Honor and Patience" are words too).
      if ((fl[a]! & STRONG) === 0 && (fl[b]! & STRONG) === 0) continue;
      // At a sentence start any word is capitalised ("Sales and Marketing"): the second word
      // must then be a dictionary name.
      if ((lineStart(a) || (gap[a]! & G_BREAK) !== 0) && (fl[b]! & STRONG) === 0) continue;
      if (is(a - 1, W_DETERMINER)) continue;
      mark(a, 0.75, 'Names joined by "and"');
      mark(b, 0.75, 'Names joined by "and"');
    }
    // "What's your name? Hallgrímsson", "name on the card? User: Ana Cortés".
    // Cheap gates first: a "?" in the text, then a "?" or ":" just before the token.
    const hasQuestion = text.includes('?');
    for (let q = 0; q < R_nTitles && hasQuestion; q++) {
      const i = R_titles[q]!;
      if (i < 1) continue;
      if (!candidate(i) || !shaped(i)) continue;
      let b = toks.start[i]! - 1;
      while (b > 0 && (text.charCodeAt(b) === 32 || text.charCodeAt(b) === 9)) b--;
      const bc = text.charCodeAt(b);
      if (bc !== 63 && bc !== 58) continue;
      const before = text.slice(Math.max(0, toks.start[i]! - 30), toks.start[i]);
      if (!NAME_QUESTION_RE.test(before) || text[toks.end[i]!] === ':') continue;
      let k = i;
      while (
        k + 1 < n &&
        k - i < 2 &&
        gap[k + 1] === G_SPACE &&
        candidate(k + 1) &&
        (shaped(k + 1) || isLower(k + 1))
      )
        k++;
      for (let m = i; m <= k; m++) mark(m, 0.8, 'Answer to a question about a name');
    }
  }
}

function namesBeforeRelation(): void {
  const text = R_text,
    toks = R_toks!,
    fl = R_fl,
    gap = R_gap;
  // "Walt Krzeminski (son)": words right before a parenthesised relation are a relative's name.
  for (let q = 0; q < R_nCueWords; q++) {
    const i = R_cueWords[q]!;
    if (
      !is(i, W_FAMILY) ||
      toks.start[i]! < 2 ||
      text[toks.start[i]! - 1] !== '(' ||
      text[toks.end[i]!] !== ')'
    )
      continue;
    let k = i - 1;
    if (k < 0 || !/^\s*\($/.test(text.slice(toks.end[k], toks.start[i]))) continue;
    let taken = 0;
    // A lower-case word counts when a dictionary knows it as a name ("the proxy (son)" is a role).
    while (
      k >= 0 &&
      taken < 3 &&
      candidate(k) &&
      (shaped(k) || (isLower(k) && (fl[k]! & STRONG) !== 0) || isInitial(k))
    ) {
      mark(k, 0.8, 'Name before a relation in parentheses');
      taken++;
      if (lineStart(k) || (gap[k]! & (G_SPACE | G_PERIOD | G_HYPHEN)) === 0) break;
      k--;
    }
  }
}

function namesLowerInitials(): void {
  const text = R_text,
    upper = R_upper,
    n = R_n,
    toks = R_toks!,
    x = R_x,
    fl = R_fl,
    gap = R_gap,
    conf = R_conf;
  // ---- pairs and initials --------------------------------------------------------------------
  // Lower-case notes: "(t. ferris and k. o'leary)", "m. brockwell rrt": a lower-case initial then a
  // surname no common word shares, or one already taken.
  if (!upper)
    for (let q = 0; q < R_nCueWords; q++) {
      const i = R_cueWords[q]!;
      if (i + 1 >= n) break;
      const j = i + 1;
      // A letter, not "a" or "i".
      if (gap[j] !== G_PERIOD || (x[i]! & X_STEM_LETTER) === 0 || !isLower(i) || !isLower(j)) continue;
      if ((fl[j]! & L_STRONG) === 0 && conf[j]! === 0) continue;
      const s0 = toks.start[i]!;
      const bc = s0 > 0 ? text.charCodeAt(s0 - 1) : 32;
      if (bc !== 32 && bc !== 40 && bc !== 10 && bc !== 9) continue;
      if (/[A-Z]/.test(text.slice(Math.max(0, s0 - 60), s0))) continue;
      mark(i, 0.75, 'Initial before a name');
      mark(j, 0.75, 'Initial before a name');
    }
}

function namesPairs(): void {
  const upper = R_upper,
    n = R_n,
    fl = R_fl,
    gap = R_gap;
  for (let q = 0; q < R_nFirsts; q++) {
    // (Each rule below starts from an initial or a first name: the tokens listed.)
    const i = R_firsts[q]!;
    if (i + 1 >= n) break;
    if ((fl[i]! & FIRST) === 0 && !isInitial(i)) continue;
    if (!candidate(i)) continue;
    const j = i + 1;
    if (!candidate(j)) continue;
    const g = gap[j]!;
    if (g === G_PERIOD) {
      if (isInitial(i) && !isInitial(j)) initialThenName(i, j);
      continue;
    }
    if (g !== G_SPACE) continue;
    const a = fl[i]!;
    // Both rules below need a first name first.
    if ((a & FIRST) === 0) continue;
    const b = fl[j]!;
    const sa = shaped(i);
    const sb = shaped(j) || (isInitial(j) && !upper);
    if (!sa || !sb) continue;
    if ((b !== 0 || isInitial(j)) && ((a & F_STRONG) !== 0 || (b & L_STRONG) !== 0)) {
      mark(i, 0.9, 'First name and surname');
      mark(j, 0.9, 'First name and surname');
    } else if ((a & F_STRONG) !== 0 && !upper && len(j) > 2) {
      mark(i, 0.8, 'First name before a capitalised word');
      mark(j, 0.8, 'First name before a capitalised word');
    }
  }
}

// "W. TARRANT", "M. Brockwell": initial i, its period, then a name-shaped word j.
function initialThenName(i: number, j: number): void {
  const text = R_text,
    upper = R_upper,
    toks = R_toks!,
    fl = R_fl,
    gap = R_gap,
    sh = R_sh,
    conf = R_conf;
  // Not "N/V. Zofran", "I&O. NEXT": the initial stands alone, not after a slash, "&" or digit.
  let bi = toks.start[i]! - 1;
  // (Across spaces too: "I & O. Diuresis", "L > R. Peak".)
  while (bi > 0 && text.charCodeAt(bi) === 32 && text.charCodeAt(bi - 1) !== 32) bi--;
  const beforeInitial = bi >= 0 ? text.charCodeAt(bi) : 32;
  if (
    beforeInitial !== 47 &&
    beforeInitial !== 38 &&
    // "L>R. Peak" compares sides; an arrow ("-> J. Chang") may lead to a name.
    !(
      (beforeInitial === 62 || beforeInitial === 60 || beforeInitial === 61) &&
      bi > 0 &&
      /[\p{L}\p{N} ]/u.test(text[bi - 1]!)
    ) &&
    !(beforeInitial >= 48 && beforeInitial <= 57) &&
    (shaped(j) || (upper && (sh[j]! & SHAPE_CAPS) !== 0))
  ) {
    // In all-caps notes an unknown word needs a cue before the initial ("TO MEET R. KOWALCZYK").
    if (
      !upper ||
      fl[j] !== 0 ||
      conf[j]! > 0 ||
      (i > 0 && gap[i] === G_SPACE && is(i - 1, W_TALK_VERB | W_WEAK_BEFORE))
    ) {
      mark(i, 0.8, 'Initial before a name');
      mark(j, 0.8, 'Initial before a name');
    }
  }
}

function namesSpeakerLabels(): void {
  const text = R_text,
    upper = R_upper,
    n = R_n,
    toks = R_toks!,
    fl = R_fl,
    gap = R_gap;
  // Speaker labels at a line start: "Marisol: I'm Victor's niece".
  if (!upper) {
    // A dialogue (two or more speakers, one of them a dictionary name) makes the other speakers'
    // one-word labels names too ("Vidar: ...\nNicole: ..."); roles and relatives stay labels.
    let labels = 0;
    let known = 0;
    for (let pass = 0; pass < 2; pass++)
      for (let q = 0; q < R_nLines; q++) {
        const i = R_lines[q]!;
        if (!candidate(i) || !shaped(i) || is(i, W_LABEL_WORD)) continue;
        let k = i;
        if (k + 1 < n && gap[k + 1] === G_SPACE && shaped(k + 1) && candidate(k + 1)) k++;
        if (text[toks.end[k]!] !== ':') continue;
        if (pass === 0) {
          labels++;
          if (fl[i] !== 0) known++;
          continue;
        }
        if (is(i, W_ROLE | W_PATIENT | W_FAMILY)) continue;
        const dialogue = k === i && labels >= 2 && known >= 1;
        if (fl[i] === 0 && !dialogue) continue;
        for (let m = i; m <= k; m++) mark(m, 0.8, 'Speaker label');
      }
  }
}

function namesLowerFullNames(): void {
  const n = R_n,
    fl = R_fl,
    gap = R_gap;
  // Lower-case first name and surname ("patricia desrosiers"): one of them unambiguous, the other
  // a name too ("martin carey", "mary theresa", "stella maris").
  for (let q = 0; q < R_nFirsts; q++) {
    // (Both cases need a first name first: the tokens listed.)
    const i = R_firsts[q]!;
    if (i + 1 >= n) break;
    if ((fl[i]! & FIRST) === 0) continue;
    if (!isLower(i) || !isLower(i + 1) || gap[i + 1] !== G_SPACE || !candidate(i) || !candidate(i + 1))
      continue;
    const a = fl[i]!;
    const b = fl[i + 1]!;
    if (((a & F_STRONG) !== 0 && (b & STRONG) !== 0) || ((a & FIRST) !== 0 && (b & L_STRONG) !== 0)) {
      mark(i, 0.75, 'First name and surname');
      mark(i + 1, 0.75, 'First name and surname');
    }
  }
}

function namesCapitalisedRuns(): void {
  const upper = R_upper,
    n = R_n,
    x = R_x,
    fl = R_fl,
    gap = R_gap;
  // Runs of two or three capitalised words in prose: a name when one of them is an unambiguous
  // dictionary name or has a surname ending ("-dóttir", "-ović", "-sson"), and none is a stop word.
  if (!upper) {
    // (Runs start at a Title-case word, what shaped() is here: the tokens listed; a run taken
    // resumes the walk after it.)
    let next = 0;
    for (let q = 0; q < R_nTitles; q++) {
      const i = R_titles[q]!;
      if (i + 1 >= n) break;
      if (i < next || !shaped(i) || !candidate(i)) continue;
      let k = i;
      // Middle initials join the run ("Csilla K Varkonyi", "Tom I. Brandt").
      while (k + 1 < n && k - i < 3) {
        const nx = k + 1;
        if (gap[nx] === G_SPACE && shaped(nx) && candidate(nx)) k = nx;
        else if (gap[nx] === G_SPACE && is(nx, W_NAME_PARTICLE) && isLower(nx)) {
          // "Liesje van der Berkel", "Ana da Silva": particles between capitalised parts.
          let q = nx;
          while (
            q + 1 < n &&
            q - nx < 2 &&
            is(q + 1, W_NAME_PARTICLE) &&
            isLower(q + 1) &&
            gap[q + 1] === G_SPACE
          )
            q++;
          if (q + 1 < n && gap[q + 1] === G_SPACE && shaped(q + 1) && candidate(q + 1)) k = q + 1;
          else break;
        } else if (
          gap[nx] === G_SPACE &&
          isInitial(nx) &&
          nx + 1 < n &&
          (gap[nx + 1] === G_SPACE || gap[nx + 1] === G_PERIOD) &&
          shaped(nx + 1) &&
          candidate(nx + 1)
        )
          k = nx + 1;
        else break;
      }
      if (k === i) continue;
      next = k + 1;
      if (is(i - 1, W_DETERMINER) && (gap[i]! & G_SPACE) !== 0) continue;
      let evidence = false;
      for (let m = i; m <= k; m++)
        if ((fl[m]! & STRONG) !== 0 || (x[m]! & X_SURNAME_ENDING) !== 0) evidence = true;
      if (evidence) for (let m = i; m <= k; m++) mark(m, 0.75, 'Capitalised words with a known name');
    }
  }
}

// The text between tokens k and k + 1 is a comma and at most one space (/^,\s?$/, unsliced).
function commaSep(k: number): boolean {
  const text = R_text;
  const a = R_toks!.end[k]!;
  const b = R_toks!.start[k + 1]!;
  if (b - a < 1 || b - a > 2 || text.charCodeAt(a) !== 44) return false;
  return b - a === 1 || isJsSpace(text.charCodeAt(a + 1));
}

function namesFirstNameLists(): void {
  const n = R_n,
    x = R_x,
    fl = R_fl,
    gap = R_gap;
  // Lists of first names ("marit, tobias, petra and owen"): two or more unambiguous first
  // names joined by commas or "and" make the other plain words in the list names too.
  // The items are the tokens lo..last, then `extra` (the item after "and"/"or") when there is
  // one: no array per list.
  // (A list starts at a first name: the tokens listed; a list taken resumes the walk after it.)
  let next = 0;
  for (let q = 0; q < R_nFirsts; q++) {
    const i = R_firsts[q]!;
    if (i < next || (fl[i]! & F_STRONG) === 0 || !candidate(i)) continue;
    let lo = i;
    // Items before the first known name belong to the list too ("Ysolde, Hannah, Martin and ...").
    while (lo > 0 && i - lo + 1 < 12) {
      if (gap[lo] !== G_COMMA || !commaSep(lo - 1) || !candidate(lo - 1)) break;
      lo--;
    }
    let count = i - lo + 1;
    let k = i;
    let extra = -1;
    while (k + 1 < n && count < 12) {
      const g = gap[k + 1]!;
      if (g === G_COMMA && commaSep(k) && candidate(k + 1)) {
        k++;
        count++;
      } else if (
        g === G_SPACE &&
        (x[k + 1]! & X_AND_OR) !== 0 &&
        k + 2 < n &&
        candidate(k + 2) &&
        (gap[k + 2]! & G_SPACE) !== 0
      ) {
        k += 2;
        extra = k;
        count++;
        break;
      } else if (
        g === G_COMMA &&
        commaSep(k) &&
        (x[k + 1]! & X_AND_OR) !== 0 &&
        k + 2 < n &&
        candidate(k + 2)
      ) {
        k += 2;
        extra = k;
        count++;
        break;
      } else break;
    }
    const last = extra >= 0 ? extra - 2 : k;
    if (count >= 3) {
      let firsts = 0;
      for (let m = lo; m <= last; m++) if ((fl[m]! & F_STRONG) !== 0) firsts++;
      if (extra >= 0 && (fl[extra]! & F_STRONG) !== 0) firsts++;
      if (firsts >= 2) {
        const lower = isLower(i);
        for (let m = lo; m <= last; m++) if (isLower(m) === lower) mark(m, 0.75, 'List of first names');
        if (extra >= 0 && isLower(extra) === lower) mark(extra, 0.75, 'List of first names');
      }
    }
    next = k + 1;
  }
}

function namesCommaFirstName(): void {
  const text = R_text,
    n = R_n,
    toks = R_toks!,
    gap = R_gap,
    sh = R_sh,
    info = R_info,
    conf = R_conf;
  // "Son, Ed, phoned back", "WIFE, AL, AT BEDSIDE": a first name set off by commas right after a
  // relative (also a first name the stop list holds, such as "Ed" or "Al") or a role.
  // (The tokens after a listed cue word.)
  for (let q = 0; q < R_nCueWords; q++) {
    const i = R_cueWords[q]! + 1;
    if (i + 1 >= n) break;
    if (gap[i] !== G_COMMA || !is(i - 1, W_FAMILY | W_ROLE | W_SHORT_ROLE) || conf[i]! >= 0.8) continue;
    // After a role ("covering np, ingrid, who ...") an unambiguous first name, in any case.
    const role = !is(i - 1, W_FAMILY);
    if (
      role
        ? (info[i]! & F_STRONG) === 0 || !(shaped(i) || isLower(i))
        : (info[i]! & FIRST) === 0 || !shaped(i)
    )
      continue;
    if ((sh[i]! & SHAPE_LETTERS) === 0 || isInitial(i)) continue;
    if (text.slice(toks.end[i - 1], toks.start[i]) !== ', ' || text.charCodeAt(toks.end[i]!) !== 44) continue;
    if ((R_x[i - 1]! & X_POSSESSIVE) !== 0) continue;
    mark(
      i,
      0.8,
      role ? 'First name set off by commas after a role' : 'First name set off by commas after a relative',
    );
  }
}

function namesDoctorParticle(): void {
  const n = R_n,
    x = R_x,
    gap = R_gap,
    sh = R_sh;
  // "Dr. o malley", "dr de santis": a doctor's surname written with its particle apart.
  for (let q = 0; q < R_nCueWords; q++) {
    const i = R_cueWords[q]! + 1;
    if (i + 1 >= n) break;
    if ((x[i - 1]! & X_DOCTOR) === 0) continue;
    if (!isLower(i) || (x[i]! & X_SPLIT_PARTICLE) === 0 || (gap[i]! & (G_SPACE | G_PERIOD)) === 0) continue;
    const j = i + 1;
    if (gap[j] !== G_SPACE || (sh[j]! & SHAPE_LETTERS) === 0 || len(j) < 3 || is(j, W_AFTER_TITLE_NOT_NAME))
      continue;
    if (!(isLower(j) || shaped(j))) continue;
    mark(i, 0.85, 'Title before a name');
    mark(j, 0.85, 'Title before a name');
  }
}

function namesCourtesyInitial(): void {
  const text = R_text,
    n = R_n,
    toks = R_toks!,
    x = R_x,
    gap = R_gap,
    conf = R_conf;
  // "Mr. K stayed", "mr k. is", "MS T. CARE": a patient's initial after a courtesy title. In
  // all-caps notes ("MS" is also mental status) the initial keeps its period.
  for (let q = 0; q < R_nCueWords; q++) {
    const i = R_cueWords[q]! + 1;
    if (i >= n) break;
    if ((x[i - 1]! & X_COURTESY) === 0) continue;
    if (!isInitial(i) || conf[i]! >= 0.7) continue;
    if ((gap[i]! & (G_SPACE | G_PERIOD)) === 0 || lineStart(i)) continue;
    const e = toks.end[i]!;
    const ch = e < text.length ? text.charCodeAt(e) : 46;
    const capsTitle = (x[i - 1]! & X_RAW_CAPS) !== 0;
    if (capsTitle ? ch !== 46 : !(ch === 46 || ch === 44 || (ch === 32 && i + 1 < n && isLower(i + 1))))
      continue;
    mark(i, 0.8, 'Title before an initial');
  }
}

function namesPhoneContact(): void {
  const text = R_text,
    upper = R_upper,
    n = R_n,
    toks = R_toks!,
    fl = R_fl,
    gap = R_gap,
    info = R_info;
  // "Jana Okafor cell# 555-...", "Lucia Brandt home: 555 ...": words heading a phone number on
  // their line, before its label, are a contact's name.
  for (let q = 0; q < R_nCueWords; q++) {
    const i = R_cueWords[q]!;
    if (i + 1 >= n) break;
    if (i < 1 || (info[i]! & W_PHONE_LABEL) === 0 || gap[i] !== G_SPACE) continue;
    const after = text.slice(toks.end[i], toks.start[i + 1]);
    if (!/^[ \t]*[#:.]?[ \t]*\(?$/.test(after) || (R_x[i + 1]! & X_DIGIT_START) === 0) continue;
    let k = i - 1;
    const run: number[] = [];
    while (k >= 0 && run.length < 3 && candidate(k) && shaped(k) && !isInitial(k)) {
      if (is(k, W_FAMILY | W_ROLE | W_PATIENT | W_TITLE | W_LABEL_WORD)) break;
      run.push(k);
      if (lineStart(k) || gap[k] !== G_SPACE) break;
      k--;
    }
    if (run.length === 0) continue;
    const first = run[run.length - 1]!;
    // The run opens its line, a sentence or a clause ("devoted. Jana Okafor cell# ...").
    if (!lineStart(first) && (gap[first]! & (G_BREAK | G_COMMA | G_NEWLINE | G_PERIOD)) === 0) continue;
    let dictName = false;
    for (const m of run) if ((fl[m]! & STRONG) !== 0) dictName = true;
    // Unknown words need two of them and a second phone label on the line ("cell# ... home# ..."):
    // "Front Desk phone: ..." is a place in the office.
    if (!dictName) {
      if (run.length < 2) continue;
      let labels = 0;
      for (let q = i; q < n && q - i < 12 && (q === i || lineStart(q) === false); q++)
        if ((info[q]! & W_PHONE_LABEL) !== 0) labels++;
      if (labels < 2) continue;
    }
    if (upper && (fl[first]! & FIRST) === 0) continue;
    for (const m of run) mark(m, 0.8, 'Name before a phone label');
  }
}

function namesClosingSignature(): void {
  const text = R_text,
    n = R_n,
    toks = R_toks!,
    fl = R_fl,
    gap = R_gap,
    conf = R_conf;
  // A first name closing the text after a sentence ("... INSULIN RUNNING. ROSALIND"): a signature.
  {
    let i = n - 1;
    if (
      i > 0 &&
      candidate(i) &&
      isInitial(i) === false &&
      (fl[i]! & F_STRONG) === 0 &&
      (fl[i - 1]! & F_STRONG) !== 0
    )
      i--;
    const e = toks.end[n - 1]!;
    if (
      i > 0 &&
      !lineStart(i) &&
      (fl[i]! & F_STRONG) !== 0 &&
      candidate(i) &&
      shaped(i) &&
      conf[i]! < 0.7 &&
      /^[ \t]*[.!][ \t]+$/.test(text.slice(toks.end[i - 1], toks.start[i])) &&
      /^[\s.]*$/.test(text.slice(e)) &&
      (i === n - 1 || (gap[n - 1] === G_SPACE && candidate(n - 1) && shaped(n - 1)))
    )
      for (let m = i; m < n; m++) mark(m, 0.7, 'Name closing the message');
  }
}

function namesCredentials(): void {
  const text = R_text,
    upper = R_upper,
    toks = R_toks!,
    fl = R_fl,
    stop = R_stop,
    gap = R_gap,
    sh = R_sh;
  // ---- credentials and signatures ------------------------------------------------------------
  for (let q = 0; q < R_nCueWords; q++) {
    const i = R_cueWords[q]!;
    if (i < 1 || !is(i, W_CREDENTIAL)) continue;
    const capsCred = (R_x[i]! & X_CAPS_CRED) !== 0;
    // "MD'S AWARE" is a team, not a signature.
    if ((R_x[i]! & X_POSSESSIVE) !== 0) continue;
    // "Emily Hartwell, RN" anywhere; "m. brockwell rrt" only at a line end.
    // "Emily Hartwell, RN" (comma) or a credential closing its line; "PA LINE" is not one.
    const atEnd = lineEnd(i);
    if (!capsCred && !atEnd) continue;
    if (!(gap[i] === G_COMMA && text[toks.end[i - 1]!] === ',') && !((gap[i]! & G_SPACE) !== 0 && atEnd))
      continue;
    let j = i - 1;
    let taken = 0;
    let reachedLineStart = false;
    const run: number[] = [];
    while (j >= 0 && taken < 5) {
      if ((sh[j]! & SHAPE_LETTERS) === 0 || (stop[j] === 1 && !isInitial(j) && !lowerInitial(j))) break;
      run.push(j);
      taken++;
      if (lineStart(j)) {
        reachedLineStart = true;
        break;
      }
      if ((gap[j]! & (G_SPACE | G_PERIOD | G_HYPHEN)) === 0) break;
      // "RESTING NOW. M. BROCKWELL RRT": a period joins only after an initial or a title.
      if (gap[j] === G_PERIOD && !isInitial(j - 1) && !lowerInitial(j - 1) && !is(j - 1, W_TITLE)) break;
      j--;
    }
    // "WITH HEMIPARESIS, MD PAGED": in all-caps notes a word no dictionary knows, before a
    // credential the line goes on after, is a clinical word more often than a surname.
    const capsMidLine = upper && !atEnd;
    // "ON 3 LITERS NP", "4 L NC": a quantity and its unit before "NP" (nasal prongs), not a name.
    const left = run.length > 0 ? run[run.length - 1]! : -1;
    if (left > 0 && !reachedLineStart && gap[left] === G_SPACE && (R_x[left - 1]! & X_DIGIT_START) !== 0)
      continue;
    for (const k of run) {
      if (reachedLineStart || fl[k] !== 0 || isInitial(k) || lowerInitial(k) || (shaped(k) && !capsMidLine))
        mark(k, reachedLineStart ? 0.9 : 0.8, 'Name before a credential');
    }
  }
}

function namesSignOff(): void {
  const text = R_text,
    n = R_n,
    toks = R_toks!,
    fl = R_fl,
    stop = R_stop,
    gap = R_gap,
    sh = R_sh,
    conf = R_conf;
  // A short line after a sign-off ("Best,\nJordan Lee"), or a lone name closing the text.
  for (let q = 0; q < R_nLines; q++) {
    const i = R_lines[q]!;
    if (!candidate(i)) continue;
    let k = i;
    // (Five words are enough to know the line is too long.)
    while (
      k + 1 < n &&
      k - i < 4 &&
      !lineStart(k + 1) &&
      (gap[k + 1]! & (G_SPACE | G_PERIOD | G_HYPHEN)) !== 0
    )
      k++;
    const words = k - i + 1;
    if (words > 4) continue;
    // The previous line: a sign-off?
    const prevEnd = i > 0 ? toks.end[i - 1]! : 0;
    let s = i - 1;
    while (s > 0 && !lineStart(s)) s--;
    // Speed: a line with more letters than the longest sign-off is none; counted without
    // building the lower-cased line (a non-ASCII character may lower-case to a letter).
    // Also: an ASCII line whose first letter starts no sign-off is none (not built either).
    let letters = 0;
    let nonAscii = false;
    let first = 0;
    for (
      let c = i > 0 ? toks.start[Math.max(0, s)]! : 0;
      c < prevEnd && letters <= SIGN_OFF_MAX_LETTERS;
      c++
    ) {
      const raw = text.charCodeAt(c);
      const ch = raw | 32;
      if (raw >= 128) nonAscii = true;
      if ((ch >= 97 && ch <= 122) || ch >= 128) {
        letters++;
        if (first === 0 && ((raw >= 97 && raw <= 122) || (raw >= 65 && raw <= 90))) first = ch;
      }
    }
    const maybeSignOff = nonAscii || (first !== 0 && (SIGN_OFF_FIRSTS & (1 << (first - 97))) !== 0);
    const prevLine =
      i > 0 && letters <= SIGN_OFF_MAX_LETTERS && maybeSignOff
        ? text
            .slice(toks.start[Math.max(0, s)], prevEnd)
            .toLowerCase()
            .replace(/[^a-z ]/g, '')
            .trim()
        : '';
    const afterSignOff = i > 0 && SIGN_OFFS.has(prevLine);
    const closing = k === n - 1;
    if (!afterSignOff && !closing) continue;
    // A closing line is only letters (no numbers or clinical words) with an unambiguous first name.
    let hasName = false;
    let clean = true;
    for (let m = i; m <= k; m++) {
      if ((fl[m]! & F_STRONG) !== 0 || conf[m]! >= 0.7) hasName = true;
      if ((sh[m]! & SHAPE_LETTERS) === 0 || (stop[m] === 1 && !isInitial(m))) clean = false;
    }
    if (!afterSignOff && (!hasName || !clean)) continue;
    for (let m = i; m <= k; m++)
      if (candidate(m) && (shaped(m) || isInitial(m) || fl[m] !== 0))
        mark(
          m,
          afterSignOff ? 0.85 : 0.7,
          afterSignOff ? 'Name after a sign-off' : 'Name closing the message',
        );
  }
}

// Coordination: name i, a link word, then `other` ("Dusty, Norris and Wade", "FERRANTE AND BRANDT").
function coordinated(i: number, link: number, other: number): void {
  const conf = R_conf;
  if (conf[other]! >= 0.7 || !candidate(other)) return;
  // (Tokens are letters and digits: "&" is never one.)
  if ((R_x[link]! & X_AND_OR) === 0) return;
  if (
    (R_fl[other] !== 0 && (shaped(other) || (isLower(other) && isLower(i)))) ||
    (shaped(other) && (!R_upper || conf[i]! >= 0.85))
  )
    mark(other, Math.min(conf[i]!, 0.8), 'Name listed with another name');
}

function namesExtend(): void {
  const text = R_text,
    upper = R_upper,
    n = R_n,
    toks = R_toks!,
    x = R_x,
    fl = R_fl,
    gap = R_gap,
    sh = R_sh,
    conf = R_conf,
    why = R_why;
  // ---- extend, coordinate, propagate --------------------------------------------------------------
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < n; i++) {
      if (conf[i]! < 0.7) continue;
      // Right: a name-shaped word, an initial, or a hyphenated part.
      const j = i + 1;
      if (j < n && candidate(j) && conf[j]! < 0.7) {
        const g = gap[j]!;
        const ok =
          g === G_HYPHEN ||
          (g === G_SPACE && is(j, W_SUFFIX) && (sh[j]! & (SHAPE_CAPS | SHAPE_TITLE)) !== 0) ||
          // A period continues a name only after an initial ("W. Tarrant"), never across a sentence end.
          ((g === G_SPACE || (g === G_PERIOD && isInitial(i))) &&
            (isInitial(j) ||
              (shaped(j) && (!upper || fl[j] !== 0 || conf[i]! >= 0.85)) ||
              ((sh[j]! & SHAPE_CAPS) !== 0 && (sh[i]! & SHAPE_CAPS) !== 0 && conf[i]! >= 0.85) ||
              // "Patricia HOLLINGER": a surname in capitals after a Title-case first name.
              (!upper &&
                (sh[j]! & SHAPE_CAPS) !== 0 &&
                (sh[i]! & SHAPE_TITLE) !== 0 &&
                (fl[i]! & FIRST) !== 0 &&
                ((fl[j]! & (L_STRONG | L_AMBIG)) !== 0 ||
                  // Unknown to the dictionary: a strongly cued first name ("Niece, Patricia
                  // HOLLINGER") and a word that does not open a run of capitals (a heading).
                  (conf[i]! >= 0.8 &&
                    len(j) >= 4 &&
                    !(j + 1 < n && gap[j + 1] === G_SPACE && (sh[j + 1]! & SHAPE_CAPS) !== 0)))) ||
              (isLower(j) && isLower(i) && fl[j] !== 0 && (fl[j]! & STRONG) !== 0)));
        if (ok) mark(j, Math.min(conf[i]!, 0.85), why[i] ?? 'Name continues');
      }
      // Left: a first name right before a surname; in mixed-case text any capitalised word or
      // initial right before a name ("Teofil Banaszak", "Akiko T. Moriyama").
      const h = i - 1;
      if (h >= 0 && candidate(h) && conf[h]! < 0.7) {
        const g = gap[i]!;
        const okLeft =
          !is(h - 1, W_DETERMINER) &&
          (((g & G_SPACE) !== 0 && (fl[h]! & FIRST) !== 0 && (shaped(h) || (isLower(h) && isLower(i)))) ||
            (!upper && (g & (G_SPACE | G_PERIOD)) !== 0 && (isInitial(h) || (g === G_SPACE && shaped(h)))));
        if (okLeft) mark(h, Math.min(conf[i]!, 0.8), why[i] ?? 'Name continues');
      }
      if (i + 2 < n) coordinated(i, i + 1, i + 2);
      if (i - 2 >= 0) coordinated(i, i - 1, i - 2);
      if (i + 1 < n && (gap[i + 1]! & G_COMMA) !== 0 && text[toks.end[i]!] === ',') {
        const o = i + 1;
        // A single capitalised word that goes on the list ("Delacourt, Fisher and Lane") is a name
        // too in mixed-case prose, whatever the dictionary says.
        const listGoesOn =
          !upper &&
          shaped(o) &&
          o + 1 < n &&
          ((x[o + 1]! & X_AND) !== 0 || (text[toks.end[o]!] === ',' && (gap[o + 1]! & G_COMMA) !== 0));
        if (
          conf[o]! < 0.7 &&
          candidate(o) &&
          (((fl[o]! & FIRST) !== 0 && (shaped(o) || (isLower(o) && isLower(i)))) || listGoesOn)
        )
          mark(o, Math.min(conf[i]!, 0.8), 'Name listed with another name');
      }
    }
  }
}

function namesGluedInitials(): void {
  const text = R_text,
    n = R_n,
    toks = R_toks!,
    conf = R_conf,
    why = R_why;
  // "K.M. Wrenfield", "R.J. QUILLAN": an initial glued by its period to a name's initial (also a
  // letter the stop list holds, as "K").
  for (let i = n - 1; i > 0; i--) {
    if (conf[i]! < 0.7 || !isInitial(i) || !isInitial(i - 1) || conf[i - 1]! >= 0.7) continue;
    if (toks.start[i]! - toks.end[i - 1]! !== 1 || text.charCodeAt(toks.end[i - 1]!) !== 46) continue;
    mark(i - 1, conf[i]!, why[i] ?? 'Initial before a name');
  }
}

function namesPropagate(): void {
  const upper = R_upper,
    n = R_n,
    fl = R_fl,
    sh = R_sh,
    conf = R_conf;
  const words = R_toks!.word;
  // Seeds: strong findings that are dictionary names, or capitalised words in mixed-case text
  // (in all-caps notes a cue alone is not enough to spread a word to the whole note).
  // Their stems go to a small reused array (a few per text; compared one by one), or to a
  // reused Set past SEEDS_MAX.
  // (Seeds are among the tokens marked, in any order: only which stems they hold matters.)
  let nSeeds = 0;
  // Bit len(i) of each seed: a token whose stem equals a seed's has its len().
  let seedLens = 0;
  for (let q = 0; q < R_nMarked; q++) {
    const i = R_marked[q]!;
    if (conf[i]! >= 0.8 && !isInitial(i) && len(i) > 2 && (fl[i] !== 0 || !upper)) {
      const stem = words[i]!.stem;
      seedLens |= 1 << len(i);
      if (nSeeds < SEEDS_MAX) SEEDS[nSeeds] = stem;
      else {
        if (nSeeds === SEEDS_MAX) for (let k = 0; k < SEEDS_MAX; k++) SEED_SET.add(SEEDS[k]!);
        SEED_SET.add(stem);
      }
      nSeeds++;
    }
  }
  if (nSeeds === 0) return;
  for (let i = 0; i < n; i++) {
    // (A stem equal to a seed's is as long: more than two letters, a bit of seedLens.)
    if (conf[i]! >= 0.8 || !candidate(i) || (seedLens & (1 << len(i))) === 0) continue;
    if (!(shaped(i) || (sh[i]! & SHAPE_CAPS) !== 0 || (isLower(i) && fl[i] !== 0))) continue;
    const stem = words[i]!.stem;
    let seen = false;
    if (nSeeds > SEEDS_MAX) seen = SEED_SET.has(stem);
    else for (let k = 0; k < nSeeds && !seen; k++) seen = SEEDS[k] === stem;
    if (seen) mark(i, 0.8, 'Same name as found elsewhere in the text');
  }
  // Drop the stems (kept only until the next scan otherwise).
  SEEDS.fill('', 0, Math.min(nSeeds, SEEDS_MAX));
  if (nSeeds > SEEDS_MAX) SEED_SET.clear();
}
const SEEDS_MAX = 8;
const SEEDS: string[] = new Array<string>(SEEDS_MAX).fill('');
const SEED_SET = new Set<string>();

function namesMerge(out: Candidate[]): void {
  const text = R_text,
    n = R_n,
    toks = R_toks!,
    gap = R_gap,
    conf = R_conf,
    why = R_why;
  // ---- merge adjacent name tokens into findings ----------------------------------------------------
  const minC = 0.01;
  let i = 0;
  while (i < n) {
    if (conf[i]! < minC) {
      i++;
      continue;
    }
    let j = i;
    let c = conf[i]!;
    while (
      j + 1 < n &&
      conf[j + 1]! >= minC &&
      ((gap[j + 1]! & (G_SPACE | G_HYPHEN)) !== 0 || (gap[j + 1] === G_PERIOD && isInitial(j)))
    ) {
      j++;
      c = Math.max(c, conf[j]!);
    }
    let end = toks.end[j]!;
    // An initial keeps its period ("S.").
    if (text[end] === '.' && isInitial(j)) end++;
    out.push({
      type: 'NAME',
      start: toks.start[i]!,
      end,
      confidence: Math.round(c * 100) / 100,
      reason: why[i] ?? why[j] ?? 'Person name',
    });
    i = j + 1;
  }
}
export function recognizeNames(ctx: ScanContext, toks: Tokens, out: Candidate[]): void {
  if (!ctx.wants('NAME')) return;
  const { text, upper } = ctx;
  const n = toks.count;
  if (n === 0) return;

  // ---- per-token facts, once --------------------------------------------------------------
  // Buffers kept across scans; the loop below writes every element of fl, stop, gap, ls, info
  // and x.
  const v = viewsFor(n);
  const fl = v.fl;
  const stop = v.stop;
  const gap = v.gap; // gap before token i
  const ls = v.ls; // token starts a line
  const sh = toks.shape;
  const info = v.info;
  const x = v.x;
  const lines = LINES_BUF;
  let nLines = 0;
  const cues = CUES_BUF;
  let nCues = 0;
  const firsts = FIRSTS_BUF;
  let nFirsts = 0;
  const titles = TITLES_BUF;
  let nTitles = 0;
  const cueWords = CUE_WORDS_BUF;
  let nCueWords = 0;
  // (Locals: the loop calls learnWord and gapKind, after which toks' fields would be reloaded.)
  const words = toks.word;
  const starts = toks.start;
  const ends = toks.end;
  // Which W_* and X_* bits some token has: passes whose cue words are absent are skipped.
  let anyInfo = 0;
  let anyX = 0;
  // The shapes of the dictionary first names (a lower-case one for namesLowerFullNames).
  let firstShapes = 0;
  // A comma after a relative or a role (namesCommaFirstName), a period after a one-letter word
  // other than "a" or "i" (namesLowerInitials).
  let commaAfterCue = false;
  let periodAfterLetter = false;
  for (let i = 0; i < n; i++) {
    const word = words[i]!;
    if (word.names < 0) learnWord(word);
    const wi = word.names;
    const wx = word.names2;
    info[i] = wi;
    x[i] = wx;
    anyInfo |= wi;
    anyX |= wx;
    const s = sh[i]!;
    if ((wi & FIRST) !== 0 || (s & SHAPE_INITIAL) !== 0) {
      firsts[nFirsts++] = i;
      if ((wi & FIRST) !== 0) firstShapes |= s;
    }
    if ((s & SHAPE_TITLE) !== 0) titles[nTitles++] = i;
    if ((wi & CUE_WORD_INFO) !== 0 || (wx & CUE_WORD_X) !== 0) cueWords[nCueWords++] = i;
    const from = i === 0 ? 0 : ends[i - 1]!;
    const to = starts[i]!;
    // Fast path: the common single space between words.
    if (i > 0 && to - from === 1 && text.charCodeAt(from) === 32) {
      gap[i] = G_SPACE;
      ls[i] = 0;
    } else if (i > 0) {
      const g = gapKind(text, from, to);
      gap[i] = g & ~GAP_LINE;
      ls[i] = g & GAP_LINE ? 1 : 0;
      if (ls[i] === 1) lines[nLines++] = i;
      if (gap[i] === G_COMMA && (info[i - 1]! & (W_FAMILY | W_ROLE | W_SHORT_ROLE)) !== 0)
        commaAfterCue = true;
      if (gap[i] === G_PERIOD && (x[i - 1]! & X_STEM_LETTER) !== 0) periodAfterLetter = true;
    } else {
      // The first token starts a line unless something other than blanks follows the last line
      // break before it.
      gap[i] = G_BREAK;
      ls[i] = 1;
      for (let k = from; k < to; k++) {
        const c = text.charCodeAt(k);
        if (c === 10 || c === 13) ls[i] = 1;
        else if (c !== 32 && c !== 9) ls[i] = 0;
      }
      if (ls[i] === 1) lines[nLines++] = i;
    }
    if ((wi & W_STOP) !== 0) {
      stop[i] = 1;
      fl[i] = 0;
    } else {
      stop[i] = 0;
      fl[i] = wi & 15;
    }
    if (i === 0) continue;
    // Hyphenated compounds of common words ("Follow-up", "Check-in", "FOLLOW-UP", "Well-being"):
    // a part joined to a lower-case common word, or to a particle such as "up"/"in", is not a name.
    // A lower-case part counts only when it is a common word: "Kivi-aho" is a surname.
    if (
      gap[i] === G_HYPHEN &&
      text.charCodeAt(to - 1) === 45 &&
      ((!upper && (sh[i]! & SHAPE_LOWER) !== 0 && stop[i] === 1) ||
        (!upper && (sh[i - 1]! & SHAPE_LOWER) !== 0 && stop[i - 1] === 1) ||
        (info[i]! & W_COMPOUND_PART) !== 0 ||
        (info[i - 1]! & W_COMPOUND_PART) !== 0)
    ) {
      stop[i] = 1;
      stop[i - 1] = 1;
      fl[i] = 0;
      fl[i - 1] = 0;
    }
    // Token i - 1 is settled now (only this step and the one before write its stop bit).
    if (cueCandidate(i - 1, n, stop, fl, info, x, sh)) cues[nCues++] = i - 1;
  }
  if (cueCandidate(n - 1, n, stop, fl, info, x, sh)) cues[nCues++] = n - 1;
  const conf = v.conf.fill(0);
  while (WHY_BUF.length < n) WHY_BUF.push(undefined);
  const why = WHY_BUF;
  R_max = 0;
  R_text = text;
  R_upper = upper;
  R_n = n;
  R_toks = toks;
  R_sh = sh;
  R_stop = stop;
  R_gap = gap;
  R_ls = ls;
  R_conf = conf;
  R_info = info;
  R_why = why;
  R_x = x;
  R_fl = fl;
  R_lines = lines;
  R_nLines = nLines;
  R_cues = cues;
  R_nCues = nCues;
  R_firsts = firsts;
  R_nFirsts = nFirsts;
  R_titles = titles;
  R_nTitles = nTitles;
  R_cueWords = cueWords;
  R_nCueWords = nCueWords;
  R_marked = MARKED_BUF;
  R_nMarked = 0;
  namesCueRules();
  if ((anyX & X_DOCTOR) !== 0) namesDoctorSurname();
  if (!upper && (anyInfo & F_STRONG) !== 0) namesEponymAfterFirst();
  if (!upper && nTitles > 1) namesCommonWordPairs();
  if ((anyX & X_NAME) !== 0) namesLabelledLower();
  // (Both rules start at a Title-case word.)
  if (!upper && nTitles > 0 && ((anyX & X_AND) !== 0 || text.includes('?')))
    namesCoordinatedAndAnswers((anyX & X_AND) !== 0);
  if ((anyInfo & W_FAMILY) !== 0) namesBeforeRelation();
  if (!upper && periodAfterLetter) namesLowerInitials();
  // (Pairs need a first name or an initial; lower-case full names a lower-case first name;
  // capitalised runs two Title-case words and an unambiguous name or a surname ending; speaker
  // labels a colon.)
  if ((anyInfo & FIRST) !== 0 || (anyX & X_INITIAL) !== 0) namesPairs();
  if (!upper && nLines > 0 && text.includes(':')) namesSpeakerLabels();
  if (!upper && (firstShapes & SHAPE_LOWER) !== 0) namesLowerFullNames();
  if (!upper && nTitles > 1 && ((anyInfo & STRONG) !== 0 || (anyX & X_SURNAME_ENDING) !== 0))
    namesCapitalisedRuns();
  if ((anyInfo & F_STRONG) !== 0) namesFirstNameLists();
  if (commaAfterCue) namesCommaFirstName();
  if ((anyX & X_DOCTOR) !== 0) namesDoctorParticle();
  if ((anyX & X_COURTESY) !== 0) namesCourtesyInitial();
  if ((anyInfo & W_PHONE_LABEL) !== 0) namesPhoneContact();
  namesClosingSignature();
  if ((anyInfo & W_CREDENTIAL) !== 0) namesCredentials();
  namesSignOff();
  if (R_max >= 0.7) {
    namesExtend();
    namesGluedInitials();
  }
  if (R_max >= 0.8) namesPropagate();
  if (R_max > 0) namesMerge(out);
  // Drop the references to this message's text so module state does not keep it alive.
  R_text = '';
  R_toks = undefined;
  R_sh = [];
}
