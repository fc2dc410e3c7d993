// Health content: diagnoses (mental health first), medications with doses, treatments, ICD-10-CM
// codes and CPT codes in context. Lexicon phrases are matched over the shared token stream, so one
// pass serves thousands of entries without a giant regex.
import {
  before,
  digitCount,
  eachMatchAtWords,
  GATE_LETTER_DIGIT,
  type Candidate,
  type ScanContext,
  pushMatch,
} from '../candidate.ts';
import {
  MEDICAL_DIAGNOSES,
  MEDICATIONS,
  MENTAL_HEALTH_DIAGNOSES,
  TREATMENTS,
} from '../dictionaries/health.ts';
import { SHAPE_LETTERS, wordGate, type Tokens, type Word } from '../tokens.ts';
import type { HealthType } from '../types.ts';

interface Phrase {
  words: string[];
  type: HealthType;
  confidence: number;
  reason: string;
  /** Short acronym that is also an English word or common abbreviation: case must match. */
  upperOnly: boolean;
}

const PHRASE_SPLIT = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:'[\p{L}]+)?/gu;
// Everyday words that also name conditions: reported below the default threshold unless the
// sentence ties them to a person ("my anxiety", "diagnosed with insomnia").
const WEAK = new Set(
  'anxiety|panic|grief|bereavement|burnout|chronic stress|insomnia|nightmares|addiction|relapse|relapsed|mania|paranoia|delusions|dissociation|pregnant|pregnancy|surgery|disability|disabled|dose|dosage|prescription|prescribed|refill|taper|titrate|therapist|psychiatrist|psychologist|counseling|counselling|history of|hx of|diagnosed with|diagnosis of|dx of|suffers from|suffering from|positive for|tested positive|cancer|tumor|tumour|stroke|seizure|seizures|covid|concussion|arthritis|migraine|migraines|chemo|surgery|rehab|rehabilitation|inpatient|transplant|dialysis|prep|mat|aa meetings|twelve-step|12-step|diabetic|autistic|alcoholic|psychotic|anorexic|bulimic|in recovery from|mood disorder|mental illness|stress disorder|ocpd'.split(
    '|',
  ),
);
// Acronyms that are also ordinary words or very common abbreviations.
const CASE_SENSITIVE = new Set(
  'add|act|bed|odd|did|ms|mat|prep|als|aids|cad|php|iop|erp|ect|tms|asd|gad|sud|aud|oud|tb|std|sti|ibs|pvd|tia|cva|dvt|ckd|chf|copd|htn|mri|cbc|eeg|ekg|ecg|ntg|ipt|vns|ifs|bdd|did|ace|pcos|gerd|hiv|hpv|hbv|hcv|trd|npd|aspd|bpd|ptsd|ocd|adhd|mdd|dmdd|pmdd|tbi|uti|mrsa|ssri|snri|maoi'.split(
    '|',
  ),
);

function buildIndex(): Map<string, Phrase[]> {
  const idx = new Map<string, Phrase[]>();
  const add = (list: string, type: HealthType, confidence: number, reason: string): void => {
    for (const entry of list.split('|')) {
      const words = entry.match(PHRASE_SPLIT);
      if (!words || words.length === 0) continue;
      const weak = WEAK.has(entry);
      const p: Phrase = {
        words,
        type,
        confidence: weak ? 0.4 : confidence,
        reason,
        upperOnly: words.length === 1 && CASE_SENSITIVE.has(entry),
      };
      const key = words[0];
      const arr = idx.get(key);
      if (arr) arr.push(p);
      else idx.set(key, [p]);
    }
  };
  add(MENTAL_HEALTH_DIAGNOSES, 'DIAGNOSIS', 0.9, 'Mental-health diagnosis term');
  add(MEDICAL_DIAGNOSES, 'DIAGNOSIS', 0.85, 'Medical diagnosis term');
  add(MEDICATIONS, 'MEDICATION', 0.9, 'Medication name');
  add(TREATMENTS, 'TREATMENT', 0.8, 'Treatment or clinical service');
  // Longest phrases first so "bipolar ii disorder" wins over "bipolar".
  for (const arr of idx.values()) arr.sort((a, b) => b.words.length - a.words.length);
  return idx;
}

const INDEX = buildIndex();

// One-typo matches of long single-word drug and diagnosis names (LONG: the words of 7 letters or
// more, in INDEX order). FUZZY.get(x) of a symmetric-delete index would be the first LONG word
// that drops one letter to become x; fuzzyGet finds the same word among the LONG words of that
// length sharing x's first two letters (a letter dropped past the second) or its last two (one
// of the first two dropped; the words have 7 letters or more). Built on first use, and ~1,000
// small arrays instead of ~5,000 deletion strings, so a fresh process (Apps Script) pays little.
const LONG: Phrase[] = [];
// LONG positions by length and first two letters (key()): FIRST_AT the first, NEXT_FIRST[j] the
// next after j (-1: none), in LONG order; LAST_AT and NEXT_LAST likewise by the last two letters.
// (Chains in typed arrays: no array per key to allocate in a fresh process.)
const FIRST_AT = new Map<number, number>();
const LAST_AT = new Map<number, number>();
let NEXT_FIRST = new Int32Array(0);
let NEXT_LAST = new Int32Array(0);
// A typo rarely touches both ends of a word: a candidate must share its first two or last three
// letters with some lexicon word, which skips almost every ordinary token cheaply. (As numbers:
// head2() and tail3() of the words.)
const FUZZY_HEADS = new Set<number>();
const FUZZY_TAILS = new Set<number>();
let fuzzyReady = false;

function fuzzySetup(): void {
  fuzzyReady = true;
  for (const arr of INDEX_LISTS) {
    for (const p of arr) {
      const w = p.words[0]!;
      if (p.words.length !== 1 || p.type === 'TREATMENT' || w.length < 7) continue;
      LONG.push(p);
    }
  }
  NEXT_FIRST = new Int32Array(LONG.length);
  NEXT_LAST = new Int32Array(LONG.length);
  for (let j = LONG.length - 1; j >= 0; j--) {
    const w = LONG[j]!.words[0]!;
    const f = key(w.length, w, 0);
    NEXT_FIRST[j] = FIRST_AT.get(f) ?? -1;
    FIRST_AT.set(f, j);
    const l = key(w.length, w, w.length - 2);
    NEXT_LAST[j] = LAST_AT.get(l) ?? -1;
    LAST_AT.set(l, j);
    FUZZY_HEADS.add(head2(w));
    FUZZY_TAILS.add(tail3(w));
  }
}

/** The first two characters of s (7 or more) as a number. */
function head2(s: string): number {
  return s.charCodeAt(0) * 65536 + s.charCodeAt(1);
}

/** The last three characters of s (7 or more) as a number. */
function tail3(s: string): number {
  const n = s.length;
  return s.charCodeAt(n - 3) * 4294967296 + s.charCodeAt(n - 2) * 65536 + s.charCodeAt(n - 1);
}

/** A number for a length and the two characters of s at `at`. */
function key(n: number, s: string, at: number): number {
  return n * 4294967296 + s.charCodeAt(at) * 65536 + s.charCodeAt(at + 1);
}

/** True when dropping one letter of w gives x. */
function dropsTo(w: string, x: string): boolean {
  if (w.length !== x.length + 1) return false;
  let i = 0;
  while (i < x.length && x.charCodeAt(i) === w.charCodeAt(i)) i++;
  for (let k = i; k < x.length; k++) if (x.charCodeAt(k) !== w.charCodeAt(k + 1)) return false;
  return true;
}

/** The first LONG word (in INDEX order) that drops one letter to become x. */
function fuzzyGet(x: string): Phrase | undefined {
  if (x.length < 2) return undefined;
  const n = x.length + 1;
  let a = FIRST_AT.get(key(n, x, 0)) ?? -1;
  let b = LAST_AT.get(key(n, x, x.length - 2)) ?? -1;
  // Both chains are in LONG order: walk them merged and take the first word that fits.
  while (a >= 0 || b >= 0) {
    let j: number;
    if (b < 0 || (a >= 0 && a <= b)) {
      j = a;
      if (b === a) b = NEXT_LAST[b]!;
      a = NEXT_FIRST[a]!;
    } else {
      j = b;
      b = NEXT_LAST[b]!;
    }
    if (dropsTo(LONG[j]!.words[0]!, x)) return LONG[j];
  }
  return undefined;
}

// Vocabulary repeats across messages: remember recent answers (bounded, so memory stays flat).
const FUZZY_CACHE = new Map<string, Phrase | null>();

function fuzzyLookup(tok: string): Phrase | undefined {
  if (tok.length < 7 || tok.length > 20) return undefined;
  if (!fuzzyReady) fuzzySetup();
  if (!FUZZY_HEADS.has(head2(tok)) && !FUZZY_TAILS.has(tail3(tok))) return undefined;
  const cached = FUZZY_CACHE.get(tok);
  if (cached !== undefined) return cached ?? undefined;
  const found = fuzzyCompute(tok);
  if (FUZZY_CACHE.size >= 20000) FUZZY_CACHE.clear();
  FUZZY_CACHE.set(tok, found ?? null);
  return found;
}

function fuzzyCompute(tok: string): Phrase | undefined {
  const direct = fuzzyGet(tok);
  if (direct && direct.words[0]!.length === tok.length + 1) return direct;
  for (let i = 0; i < tok.length; i++) {
    const d = tok.slice(0, i) + tok.slice(i + 1);
    const p = fuzzyGet(d) ?? INDEX.get(d)?.find((x) => x.words.length === 1 && x.type !== 'TREATMENT');
    if (p) return p;
  }
  return undefined;
}

const GAP_OK = /^[\s\-/]*$/;
const DOSE_AFTER =
  /^\s*\d+(?:\.\d+)?\s*(?:mg|mcg|µg|g|ml|units?|iu|mg\/ml|mg\/kg|%|tabs?|tablets?|caps?|capsules?)\b(?:\s*(?:qd|bid|tid|qid|qhs|qam|qpm|prn|daily|twice daily|at bedtime|po|iv|im|sc|sq|er|xr|xl|sr|la|q\d+h))*/i;
const PERSONAL_CUE =
  /\b(?:my|his|her|their|your|our|i have|i've|i am|i'm|she has|he has|they have|diagnosed with|dx|dx of|history of|hx of|treated for|treatment for|struggling with|suffers from|suffering from|on|taking|takes|started|prescribed|patient|pt|client)\s+(?:\w+\s+)?$/i;

// Per-word facts, computed once per distinct word and kept on its Word (tokens.ts, field
// `health`): most words are in neither the index nor the near-spelling lookup, and then cost
// one bit test.
const H_INDEX = 1; // INDEX has phrases starting with the word
const H_FUZZY = 2; // a near spelling of a lexicon word (fuzzyLookup), tried only when no phrase matches
// The bits above these two: the word's position in INDEX_LISTS (its INDEX entry, no Map lookup).
const H_LIST_SHIFT = 2;
const INDEX_LISTS = [...INDEX.values()];
const INDEX_POS = new Map([...INDEX.keys()].map((k, i) => [k, i]));
function healthInfo(word: Word): number {
  const tok = word.lower;
  const pos = INDEX_POS.get(tok);
  let b = pos !== undefined ? H_INDEX | (pos << H_LIST_SHIFT) : 0;
  if (
    tok.length >= 7 &&
    (word.shape & SHAPE_LETTERS) !== 0 &&
    !tok.includes("'") &&
    fuzzyLookup(tok) !== undefined
  )
    b |= H_FUZZY;
  return b;
}

export function recognizeHealthLexicon(ctx: ScanContext, toks: Tokens, out: Candidate[]): void {
  const wantAny = ctx.wants('DIAGNOSIS') || ctx.wants('MEDICATION') || ctx.wants('TREATMENT');
  if (!wantAny) return;
  const { text } = ctx;
  for (let i = 0; i < toks.count; i++) {
    const word = toks.word[i]!;
    let hb = word.health;
    if (hb < 0) word.health = hb = healthInfo(word);
    if (hb === 0) continue;
    const tok = toks.lower[i]!;
    let hit: Phrase | undefined;
    let lastTok = i;
    const cands = (hb & H_INDEX) !== 0 ? INDEX_LISTS[hb >> H_LIST_SHIFT] : undefined;
    if (cands) {
      for (const p of cands) {
        const n = p.words.length;
        if (i + n > toks.count) continue;
        let ok = true;
        for (let k = 1; k < n && ok; k++) {
          if (toks.lower[i + k] !== p.words[k]) ok = false;
          else if (!GAP_OK.test(text.slice(toks.end[i + k - 1], toks.start[i + k]))) ok = false;
        }
        if (!ok) continue;
        if (p.upperOnly && !ctx.upper && toks.raw[i] !== toks.raw[i]!.toUpperCase()) continue;
        if (
          p.upperOnly &&
          ctx.upper &&
          (tok === 'add' ||
            tok === 'act' ||
            tok === 'bed' ||
            tok === 'odd' ||
            tok === 'did' ||
            tok === 'mat' ||
            tok === 'prep' ||
            tok === 'ms' ||
            tok === 'ace')
        )
          continue;
        hit = p;
        lastTok = i + n - 1;
        break;
      }
    }
    let fuzzy = false;
    if (!hit && (hb & H_FUZZY) !== 0) {
      hit = fuzzyLookup(tok);
      fuzzy = hit !== undefined;
    }
    if (!hit || !ctx.wants(hit.type)) continue;
    const start = toks.start[i]!;
    let end = toks.end[lastTok]!;
    let confidence = fuzzy ? Math.min(hit.confidence, 0.7) : hit.confidence;
    let reason = fuzzy ? `${hit.reason} (near spelling)` : hit.reason;
    if (hit.type === 'MEDICATION') {
      const d = DOSE_AFTER.exec(text.slice(end, end + 48));
      if (d) {
        end += d[0].length;
        confidence = Math.max(confidence, 0.95);
        reason = 'Medication name with dose';
      }
    }
    if (confidence < 0.5 && PERSONAL_CUE.test(before(text, start, 40))) {
      confidence = 0.75;
      reason = `${reason} tied to a person`;
    }
    out.push({ type: hit.type, start, end, confidence, reason });
    i = lastTok;
  }
}

// ICD-10-CM: letter (not U except U07/U09), two digits or digit+letter, optional dot and 1-4 chars.
// The F chapter (mental and behavioural) comes first and is trusted without a cue.
const ICD_RE = /\b([A-TV-Z])(\d)([0-9A-Z])(?:\.([0-9A-Z]{1,4}))?\b/g;
const ICD_CUE =
  /\b(?:icd(?:-?10)?(?:-cm)?|dx|diagnosis|diagnoses|code|codes|billing|billed|claim)\b[^\n]{0,30}$/i;
// CPT: psychiatric and psychotherapy codes and office E/M codes, reported in a billing context.
const CPT_RE =
  /(?<![\w.-])(9079[12]|9083[2-9]|9084[05-7]|9084[69]|9085[3]|90863|90870|90880|90882|90885|90887|90889|90899|90785|9920[2-5]|9921[1-5]|9949[2-4]|96127|96130|96131|96132|96133|96136|96137|96138|96139|96156|96158|96159|96164|96165|96167|96168|98966|98967|98968|99441|99442|99443|H0031|H0032|H2011|H2019|H0004|H0005|H2017)(?:-?(?:95|GT|HJ|HE|25|59|93))?(?![\w.-])/g;
// Speed: ICD codes start with a letter and a digit (GATE_LETTER_DIGIT), CPT codes with "9" or
// "H" and four digits; eachMatchAtWords tries the patterns only at such words.
const CPT_GATE = wordGate((w) => /^[9h]\d{4}/.test(w));
const CPT_CUE =
  /\b(?:cpt|code|codes|billing|billed|bill|claim|procedure|superbill|session|psychotherapy|visit|e\/m|modifier|hcpcs)\b[^\n]{0,40}$/i;

export function recognizeCodes(ctx: ScanContext, out: Candidate[]): void {
  const { text } = ctx;
  // ICD-10 codes hold a digit, CPT codes four.
  const digits = digitCount(ctx);
  if (digits === 0) return;
  if (ctx.wants('ICD10')) {
    eachMatchAtWords(ctx, GATE_LETTER_DIGIT, ICD_RE, (m) => {
      const letter = m[1]!;
      const hasDot = m[4] !== undefined;
      const cue = ICD_CUE.test(before(text, m.index, 40));
      // F-codes are the practice's bread and butter; any other chapter needs a dot or a cue,
      // since shapes like "A12" or "B52" are also seats, flights and bombers.
      let confidence: number;
      if (letter === 'F') confidence = cue || hasDot ? 0.95 : 0.7;
      else if (cue) confidence = hasDot ? 0.9 : 0.75;
      else if (hasDot && /[A-Z]\d\d\.\d/.test(m[0])) confidence = 0.6;
      else return;
      // Letter-digit-letter forms exist (C7A, M1A) but are rare; need a cue.
      if (/[A-Z]/.test(m[3]!) && !cue) return;
      out.push({
        type: 'ICD10',
        start: m.index,
        end: m.index + m[0].length,
        confidence,
        reason: letter === 'F' ? 'ICD-10 mental-health code' : 'ICD-10 code',
      });
    });
  }
  if (digits >= 4 && ctx.wants('CPT')) {
    eachMatchAtWords(ctx, CPT_GATE, CPT_RE, (m) => {
      if (!CPT_CUE.test(before(text, m.index, 50))) return;
      pushMatch(out, m, 'CPT', 0.85, 'Psychotherapy or visit procedure code');
    });
  }
}
