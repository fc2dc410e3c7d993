// Places smaller than a state: hospitals and facilities, cities from a dictionary, and
// capitalised words after location cues ("transferred to X", "lives in X").
import type { Candidate, ScanContext } from '../candidate.ts';
import { decodeFrontCoded } from '../dictionaries/decode.ts';
import { CITIES } from '../dictionaries/names.ts';
import { NOT_NAMES } from '../dictionaries/not-names.ts';
import type { Tokens } from '../tokens.ts';

let CITY_SET: Set<string> | undefined;
let CITY_FIRST: Map<string, string[][]> | undefined;
function cities(): Map<string, string[][]> {
  if (CITY_FIRST) return CITY_FIRST;
  CITY_SET = decodeFrontCoded(CITIES);
  const m = new Map<string, string[][]>();
  for (const c of CITY_SET) {
    const words = c.match(/[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:'[\p{L}]+)?/gu);
    if (!words) continue;
    const arr = m.get(words[0]);
    if (arr) arr.push(words);
    else m.set(words[0], [words]);
  }
  for (const arr of m.values()) arr.sort((a, b) => b.length - a.length);
  CITY_FIRST = m;
  return m;
}

const STOP = new Set(NOT_NAMES.split('|'));
const FACILITY = new Set('hospital|hosp|hospitals|hospiatal|clinic|infirmary|sanatorium|memorial|hospice|pavilion'.split('|'));
// Facility words that need a second word: "Medical Center", "Nursing Home", "Health Center".
const FACILITY_PAIRS = new Set(['medical center', 'medical centre', 'nursing home', 'health center', 'health centre', 'rehab center', 'regional hospital', 'regional medical', 'care center', 'treatment center', 'behavioral health', 'mental health']);
const LOC_CUE = new Set('in|at|from|to|near|lives|living|moved|visiting|hometown|transferred|transfer|trans'.split('|'));
const CAP_RE = /^[\p{Lu}][\p{L}\p{M}'’.-]*$/u;

export function recognizePlaces(ctx: ScanContext, toks: Tokens, out: Candidate[]): void {
  if (!ctx.wants('ADDRESS')) return;
  const { text } = ctx;
  const n = toks.count;
  const idx = cities();
  for (let i = 0; i < n; i++) {
    const raw = toks.raw[i]!;
    if (!CAP_RE.test(raw)) continue;
    // Facility: up to 3 capitalised words before "Hospital", "Medical Center", ...
    const w = toks.lower[i]!;
    const pair = i + 1 < n ? `${w} ${toks.lower[i + 1]!}` : '';
    if ((FACILITY.has(w) || FACILITY_PAIRS.has(pair)) && i > 0) {
      let j = i - 1;
      let first = -1;
      while (j >= 0 && i - j <= 3 && CAP_RE.test(toks.raw[j]!) && !STOP.has(toks.lower[j]!) && /^\s{1,2}$|^\.\s$/.test(text.slice(toks.end[j], toks.start[j + 1]))) {
        first = j;
        j--;
      }
      if (first >= 0) {
        out.push({ type: 'ADDRESS', start: toks.start[first]!, end: toks.end[i]!, confidence: 0.8, reason: 'Named hospital or facility' });
        continue;
      }
    }
    // Saint names of hospitals and towns ("St. Agnes").
    if ((w === 'st' || w === 'saint') && i + 1 < n && CAP_RE.test(toks.raw[i + 1]!) && !STOP.has(toks.lower[i + 1]!)) {
      const gap = text.slice(toks.end[i], toks.start[i + 1]);
      if (/^\.?\s$/.test(gap) && !/^\d/.test(text.slice(Math.max(0, toks.start[i]! - 8), toks.start[i]).trim().slice(-1))) {
        out.push({ type: 'ADDRESS', start: toks.start[i]!, end: toks.end[i + 1]!, confidence: 0.7, reason: 'Saint name of a place or hospital' });
        i++;
        continue;
      }
    }
    // Dictionary cities, longest match; a single word that is also a common word needs a cue.
    const cands = idx.get(w);
    if (!cands) continue;
    for (const words of cands) {
      const m = words.length;
      if (i + m > n) continue;
      let ok = true;
      for (let k = 1; k < m && ok; k++) if (toks.lower[i + k] !== words[k] || !CAP_RE.test(toks.raw[i + k]!)) ok = false;
      if (!ok) continue;
      if (m === 1 && STOP.has(w)) break;
      const prev = i > 0 ? toks.lower[i - 1]! : '';
      const cue = LOC_CUE.has(prev);
      const conf = m > 1 ? 0.8 : cue ? 0.75 : ctx.upper ? 0 : 0.6;
      if (conf === 0) break;
      out.push({ type: 'ADDRESS', start: toks.start[i]!, end: toks.end[i + m - 1]!, confidence: conf, reason: 'City or town' });
      i += m - 1;
      break;
    }
  }
}
