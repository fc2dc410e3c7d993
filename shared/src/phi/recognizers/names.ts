// Person names: dictionaries (first names, surnames; ambiguous ones need context) plus context
// cues (titles, relatives, greetings, credentials, "patient"), with document-level propagation:
// a name found with a strong cue is also a name where it appears again without one.
import type { Candidate, ScanContext } from '../candidate.ts';
import { decodeFrontCoded } from '../dictionaries/decode.ts';
import { FIRST_NAMES, FIRST_NAMES_AMBIGUOUS, SURNAMES, SURNAMES_AMBIGUOUS } from '../dictionaries/names.ts';
import { NOT_NAMES } from '../dictionaries/not-names.ts';
import { SHAPE_CAPS, SHAPE_LETTERS, SHAPE_LOWER, SHAPE_TITLE, stem, type Tokens } from '../tokens.ts';

const F_STRONG = 1;
const F_AMBIG = 2;
const L_STRONG = 4;
const L_AMBIG = 8;

let DICT: Map<string, number> | undefined;
// Built on first use, not at import, so bundles that never scan pay nothing.
function dict(): Map<string, number> {
  if (DICT) return DICT;
  const d = new Map<string, number>();
  const put = (s: string, f: number): void => {
    for (const w of decodeFrontCoded(s)) d.set(w, (d.get(w) ?? 0) | f);
  };
  put(FIRST_NAMES, F_STRONG);
  put(FIRST_NAMES_AMBIGUOUS, F_AMBIG);
  put(SURNAMES, L_STRONG);
  put(SURNAMES_AMBIGUOUS, L_AMBIG);
  DICT = d;
  return d;
}

const STOP = new Set(NOT_NAMES.split('|'));
const TITLES = new Set(
  'dr|doctor|mr|mrs|ms|miss|mx|prof|professor|nurse|rn|np|lpn|rev|reverend|fr|judge|officer|det|detective|sgt|capt|captain|coach|attending|dra|herr|frau|mme|mlle|monsieur|madame|señor|señora|sr|sra|signor|signora|dott|sir|dame|lady|lord|mister|md|pa|lcsw|lmft|lpc|phd|psyd|therapist|counselor|counsellor|psychiatrist|psychologist|dds|dmd|rrt|cnm|crna|aprn|pharmd|rph'.split('|'),
);
const RELATIONS = new Set(
  'wife|husband|son|sons|daughter|daughters|mother|mom|mum|mommy|mama|father|dad|daddy|papa|sister|sisters|brother|brothers|friend|friends|partner|boyfriend|girlfriend|bf|gf|fiance|fiancé|fiancee|fiancée|spouse|aunt|auntie|uncle|niece|nephew|grandson|granddaughter|grandmother|grandfather|grandma|grandpa|granny|nana|cousin|patient|pt|client|child|kid|baby|infant|sibling|stepson|stepdaughter|stepmother|stepfather|stepmom|stepdad|roommate|neighbor|neighbour|guardian|caregiver|family|families|inlaw|ex|sil|dil|bil|hcp|proxy|visitor|visitors|grandchildren|grandkids|boss|coworker|colleague|teacher|student|named|called|nickname|aka'.split('|'),
);
const DETERMINERS = new Set('the|a|an|this|that|these|those|our|your|its|every|each|any|some|no'.split('|'));
const GREETINGS = new Set('dear|hi|hello|hey|thanks|thank|regards|sincerely|cheers|best|love|from|cc|attn|attention|signed|yours'.split('|'));
const CREDENTIALS = new Set(
  'rn|md|np|pa|lcsw|licsw|lmft|lpc|lmhc|phd|psyd|msw|cna|lpn|rrt|dpt|aprn|fnp|pmhnp|bsn|msn|cnm|crna|pharmd|rph|lcpc|lsw|licsw|bcba|edd|dds|dmd|mft|cadc|ladc|jr|sr|ii|iii|esq'.split('|'),
);

const CONTRACTION_RE = /'(?:m|d|ll|ve|re|t)$|n't$/;
const UPPER_RE = /^[\p{Lu}]/u;

function prevWordIndex(toks: Tokens, i: number, text: string): number {
  // The previous token, if only spaces, punctuation like ":-,.'()" separate them (same line).
  if (i === 0) return -1;
  const gap = text.slice(toks.end[i - 1]!, toks.start[i]!);
  if (gap.length > 6 || /\n\s*\n/.test(gap) || /[;!?]/.test(gap)) return -1;
  return i - 1;
}

function sentenceInitial(text: string, start: number): boolean {
  for (let k = start - 1; k >= 0; k--) {
    const c = text[k]!;
    if (c === ' ' || c === '\t' || c === '"' || c === "'" || c === '(' || c === '*' || c === '-') continue;
    return c === '.' || c === '!' || c === '?' || c === '\n' || c === ':' || c === '>';
  }
  return true;
}

export function recognizeNames(ctx: ScanContext, toks: Tokens, out: Candidate[]): void {
  if (!ctx.wants('NAME')) return;
  const { text } = ctx;
  const d = dict();
  const n = toks.count;
  const conf = new Float32Array(n);
  const why: (string | undefined)[] = new Array<string | undefined>(n);
  const set = (i: number, c: number, r: string): void => {
    if (c > conf[i]!) {
      conf[i] = c;
      why[i] = r;
    }
  };

  // Per-token facts computed once.
  const words: string[] = new Array<string>(n);
  const flagsArr = new Uint8Array(n);
  const stopArr = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const w = stem(toks.lower[i]!);
    words[i] = w;
    if ((toks.shape[i]! & SHAPE_LETTERS) === 0) continue;
    flagsArr[i] = d.get(w) ?? 0;
    stopArr[i] = STOP.has(w) || CONTRACTION_RE.test(w) ? 1 : 0;
  }
  const kind = (i: number): { cap: boolean; caps: boolean; lower: boolean; word: string; flags: number; stop: boolean; letters: boolean } => {
    const sh = toks.shape[i]!;
    return {
      cap: (sh & SHAPE_TITLE) !== 0,
      caps: (sh & SHAPE_CAPS) !== 0,
      lower: (sh & SHAPE_LOWER) !== 0,
      word: words[i]!,
      flags: flagsArr[i]!,
      stop: stopArr[i] === 1,
      letters: (sh & SHAPE_LETTERS) !== 0,
    };
  };

  for (let i = 0; i < n; i++) {
    const k = kind(i);
    if (!k.letters || k.stop || k.word.length < 2) continue;
    const dictAny = k.flags !== 0;
    const dictStrong = (k.flags & (F_STRONG | L_STRONG)) !== 0;
    // Shaped like a name in this text: Title case in mixed text, capitals in all-caps text.
    const shaped = ctx.upper ? k.caps : k.cap || (k.caps && dictStrong);
    const p = prevWordIndex(toks, i, text);
    const pw = p >= 0 ? stem(toks.lower[p]!) : '';
    const p2 = p > 0 ? prevWordIndex(toks, p, text) : -1;
    const pw2 = p2 >= 0 ? stem(toks.lower[p2]!) : '';

    if (TITLES.has(pw) && !CREDENTIALS.has(pw) && (shaped || k.lower || k.cap)) {
      if (shaped || dictAny) set(i, 0.9, 'Title before a name');
      else set(i, 0.7, 'Title before a word');
      continue;
    }
    if (pw === 'md' || pw === 'np') {
      if (shaped && dictStrong) set(i, 0.85, 'Clinician role before a name');
      continue;
    }
    if (RELATIONS.has(pw) || (RELATIONS.has(pw2) && !STOP.has(pw))) {
      if (dictStrong && (shaped || k.lower)) set(i, 0.85, 'Relative or patient before a name');
      else if (dictAny && shaped && !ctx.upper) set(i, 0.8, 'Relative or patient before a name');
      else if (shaped && !ctx.upper) set(i, 0.75, 'Relative or patient before a capitalised word');
      continue;
    }
    if (GREETINGS.has(pw) && (shaped || (k.caps && dictAny)) && (dictAny || !ctx.upper)) {
      set(i, dictAny ? 0.9 : 0.75, 'Greeting or sign-off before a name');
      continue;
    }
    if (!shaped) continue;
    // "the Marriott", "a Ford": a determiner before a capitalised word marks a thing, not a person.
    if (DETERMINERS.has(pw)) continue;
    const initialPos = sentenceInitial(text, toks.start[i]!);
    // In all-caps notes every word is "capitalised": a bare dictionary hit is too weak alone
    // (reported only with a cue, a pair or a credential; kept below the default threshold).
    if ((k.flags & F_STRONG) !== 0) set(i, ctx.upper ? 0.45 : initialPos ? 0.65 : 0.75, 'Known first name');
    else if ((k.flags & L_STRONG) !== 0) set(i, ctx.upper ? 0.4 : initialPos ? 0.5 : 0.65, 'Known surname');
  }

  // Pairs: a first name (even an ambiguous one) next to a capitalised surname is strong.
  for (let i = 0; i + 1 < n; i++) {
    const a = kind(i);
    const b = kind(i + 1);
    if (a.stop || b.stop || !a.letters || !b.letters) continue;
    const gap = text.slice(toks.end[i]!, toks.start[i + 1]!);
    if (gap !== ' ' && gap !== '  ') continue;
    const shapedA = ctx.upper ? a.caps : a.cap;
    const shapedB = ctx.upper ? b.caps : b.cap;
    if (!shapedA || !shapedB) continue;
    const aFirst = (a.flags & (F_STRONG | F_AMBIG)) !== 0;
    const bLast = (b.flags & (L_STRONG | L_AMBIG | F_STRONG)) !== 0;
    if (aFirst && bLast && ((a.flags & F_STRONG) !== 0 || (b.flags & L_STRONG) !== 0)) {
      set(i, 0.9, 'First name and surname');
      set(i + 1, 0.9, 'First name and surname');
    } else if ((a.flags & F_STRONG) !== 0 && !ctx.upper && b.word.length > 2) {
      set(i, 0.8, 'First name before a capitalised word');
      set(i + 1, 0.8, 'First name before a capitalised word');
    }
  }

  // Credentials after a name ("Emily Parker, RN"): the capitalised words before are a name.
  for (let i = 1; i < n; i++) {
    const c = toks.lower[i]!.replace(/\./g, '');
    const r = toks.raw[i]!;
    if (!CREDENTIALS.has(c) || !(r === r.toUpperCase() || r === 'PhD' || r === 'PsyD' || r === 'PharmD')) continue;
    const gap = text.slice(toks.end[i - 1]!, toks.start[i]!);
    if (!/^\s*,\s*$/.test(gap)) continue;
    for (let j = i - 1, taken = 0; j >= 0 && taken < 4; j--, taken++) {
      const k = kind(j);
      if (!k.letters || k.stop || !(k.cap || k.caps)) break;
      if (ctx.upper && k.flags === 0 && toks.raw[j]!.length > 1) break;
      set(j, 0.9, 'Name before a credential');
      const g = text.slice(toks.end[j - 1] ?? 0, toks.start[j]!);
      if (j === 0 || !/^\s+$|^\.\s+$/.test(g)) break;
    }
  }

  // Extend: a capitalised word or initial right after a name is part of it.
  for (let i = 0; i + 1 < n; i++) {
    if (conf[i]! < 0.7) continue;
    const gap = text.slice(toks.end[i]!, toks.start[i + 1]!);
    if (!/^(?:\.?\s{1,2}|-)$/.test(gap)) continue;
    const b = kind(i + 1);
    if (b.stop || !b.letters) continue;
    const isInitial = toks.raw[i + 1]!.length === 1 && UPPER_RE.test(toks.raw[i + 1]!);
    const shapedB = ctx.upper ? b.caps || isInitial : b.cap || isInitial;
    // In all-caps text only a dictionary word, an initial, or a word after a strong cue continues it.
    if (shapedB && (b.flags !== 0 || isInitial || !ctx.upper || conf[i]! >= 0.85)) set(i + 1, Math.min(conf[i]!, 0.85), why[i] ?? 'Name continues');
  }

  // Propagate names found with a strong cue to their other mentions in the document.
  const strong = new Set<string>();
  for (let i = 0; i < n; i++) if (conf[i]! >= 0.85) strong.add(stem(toks.lower[i]!));
  if (strong.size > 0) {
    for (let i = 0; i < n; i++) {
      if (conf[i]! >= 0.8) continue;
      const w = stem(toks.lower[i]!);
      if (!strong.has(w) || STOP.has(w)) continue;
      const k = kind(i);
      if (k.cap || k.caps || (k.lower && d.has(w))) set(i, 0.8, 'Same name as found elsewhere in the text');
    }
  }

  // Merge adjacent name tokens into one finding.
  let i = 0;
  while (i < n) {
    if (conf[i]! <= 0) {
      i++;
      continue;
    }
    let j = i;
    let c = conf[i]!;
    while (j + 1 < n && conf[j + 1]! > 0 && /^(?:\.?\s{1,2}|-|\.)$/.test(text.slice(toks.end[j]!, toks.start[j + 1]!))) {
      j++;
      c = Math.max(c, conf[j]!);
    }
    let end = toks.end[j]!;
    // A lone initial keeps its period ("S.").
    if (text[end] === '.' && toks.raw[j]!.length === 1) end++;
    out.push({ type: 'NAME', start: toks.start[i]!, end, confidence: Math.round(c * 100) / 100, reason: why[i] ?? why[j] ?? 'Person name' });
    i = j + 1;
  }
}
