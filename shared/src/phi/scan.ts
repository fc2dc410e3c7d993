// scan(): run every recognizer over the text, resolve overlaps, apply the caller's options.
// Runs on every send in the browser, Apps Script V8 and Node: no host APIs, regexes compiled once
// at module load, per-call allocation proportional to the number of candidates.
import type { Candidate, ScanContext } from './candidate.ts';
import { eachMatch } from './candidate.ts';
import { recognizeAgeAddress } from './recognizers/age-address.ts';
import { recognizeAges } from './recognizers/ages.ts';
import { recognizeContactBlockNames } from './recognizers/blocks.ts';
import { recognizeContact } from './recognizers/contact.ts';
import { recognizeCrisis } from './recognizers/crisis.ts';
import { recognizeDates } from './recognizers/dates.ts';
import { recognizeCodes, recognizeHealthLexicon } from './recognizers/health.ts';
import { recognizeIds } from './recognizers/ids.ts';
import { recognizeNameCues } from './recognizers/name-cues.ts';
import { recognizeNames } from './recognizers/names.ts';
import { recognizePlaceCues } from './recognizers/place-cues.ts';
import { recognizePlaces } from './recognizers/places.ts';
import { tokenize } from './tokens.ts';
import type { Finding, PhiType, ScanOptions } from './types.ts';

const DEFAULT_MIN_CONFIDENCE = 0.5;
// Texts above this size are scanned in full but this bounds pathological inputs' cost per char.
const MAX_SCAN_CHARS = 5_000_000;

// When two candidates overlap, the more specific recognizer wins at equal confidence.
const PRIORITY: Record<PhiType, number> = {
  SSN: 9,
  EMAIL: 9,
  URL: 8,
  IP: 9,
  ACCOUNT: 8,
  LICENSE: 8,
  VEHICLE: 8,
  DEVICE: 7,
  MRN: 8,
  HEALTH_PLAN_ID: 8,
  PHONE: 7,
  FAX: 7,
  ZIP: 6,
  DATE: 6,
  AGE_OVER_89: 7,
  AGE: 6,
  ADDRESS: 6,
  NAME: 5,
  OTHER_ID: 4,
  CRISIS: 9,
  ICD10: 7,
  CPT: 7,
  MEDICATION: 6,
  DIAGNOSIS: 6,
  TREATMENT: 4,
};

const customKeywordCache = new Map<string, RegExp | null>();
const customPatternCache = new Map<string, RegExp | null>();

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function keywordRegex(words: readonly string[]): RegExp | null {
  const key = words.join('\u0000');
  let re = customKeywordCache.get(key);
  if (re !== undefined) return re;
  const parts = words
    .map((w) => w.trim())
    .filter((w) => w.length > 0)
    .map(escapeRe);
  re = parts.length
    ? new RegExp(`(?<![\\p{L}\\p{N}_])(?:${parts.join('|')})(?![\\p{L}\\p{N}_])`, 'giu')
    : null;
  if (customKeywordCache.size > 64) customKeywordCache.clear();
  customKeywordCache.set(key, re);
  return re;
}

function patternRegex(src: string): RegExp | null {
  let re = customPatternCache.get(src);
  if (re !== undefined) return re;
  try {
    re = new RegExp(src, 'giu');
  } catch {
    // An admin's invalid regex must not break sending: it is skipped (the policy editor validates).
    re = null;
  }
  if (customPatternCache.size > 256) customPatternCache.clear();
  customPatternCache.set(src, re);
  return re;
}

/** Scan text for PHI. Never throws on any string input; findings are sorted and non-overlapping. */
export function scan(input: string, options: ScanOptions = {}): Finding[] {
  if (typeof input !== 'string' || input.length === 0) return [];
  const text = input.length > MAX_SCAN_CHARS ? input.slice(0, MAX_SCAN_CHARS) : input;
  if (INVISIBLE.test(text)) return scanVisible(text, options);
  const typeSet = options.types ? new Set<PhiType>(options.types) : null;
  const wants = typeSet ? (t: PhiType): boolean => typeSet.has(t) : (): boolean => true;
  // One tokenization serves the dictionary recognizers and the word-set gates of the others.
  const toks = tokenize(text);
  const ctx: ScanContext = { text, upper: toks.upper, wants, toks, lower: undefined };
  const out: Candidate[] = [];

  recognizeContact(ctx, out);
  recognizeIds(ctx, out);
  recognizeDates(ctx, out);
  recognizeAgeAddress(ctx, out);
  recognizeAges(ctx, out);
  recognizePlaceCues(ctx, out);
  recognizeCodes(ctx, out);
  recognizeCrisis(ctx, out);
  const needTokens =
    wants('NAME') || wants('ADDRESS') || wants('DIAGNOSIS') || wants('MEDICATION') || wants('TREATMENT');
  if (needTokens) {
    recognizeNames(ctx, toks, out);
    recognizePlaces(ctx, toks, out);
    recognizeHealthLexicon(ctx, toks, out);
    recognizeContactBlockNames(ctx, out);
    recognizeNameCues(ctx, toks, out);
  }
  if (wants('ZIP')) postalCodesAfterPlaces(text, out);
  if (options.customKeywords && options.customKeywords.length > 0 && wants('DIAGNOSIS')) {
    const re = keywordRegex(options.customKeywords);
    if (re) {
      eachMatch(re, text, (m) => {
        out.push({
          type: 'DIAGNOSIS',
          start: m.index,
          end: m.index + m[0].length,
          confidence: 0.9,
          reason: 'Practice keyword',
        });
      });
    }
  }
  if (options.customPatterns && wants('OTHER_ID')) {
    for (const src of options.customPatterns) {
      const re = patternRegex(src);
      if (!re) continue;
      let count = 0;
      eachMatch(re, text, (m) => {
        // Bound the work a catastrophic custom pattern can cause per scan.
        if (++count > 1000) return;
        out.push({
          type: 'OTHER_ID',
          start: m.index,
          end: m.index + m[0].length,
          confidence: 0.9,
          reason: 'Practice pattern',
        });
      });
    }
  }

  const minConf = options.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  const allowed = allowRanges(text, options.allowList);
  const kept = resolve(
    out.filter((c) => c.confidence >= minConf && c.end > c.start && wants(c.type) && !insideAny(allowed, c)),
    text,
  );
  return kept.map((c) => {
    const f: Finding = {
      type: c.type,
      start: c.start,
      end: c.end,
      text: text.slice(c.start, c.end),
      confidence: c.confidence,
      reason: c.reason,
    };
    if (c.grade) f.grade = c.grade;
    if (c.type === 'DATE' && BIRTH_BEFORE.test(text.slice(Math.max(0, c.start - 24), c.start)))
      f.birth = true;
    return f;
  });
}

// Characters that render as nothing: a soft hyphen, zero-width spaces and joiners, word joiners,
// bidirectional marks, a byte-order mark. Typed, pasted or inserted inside a word ("depres\u00ADsion",
// "Zo\u200Bloft", "Zo&shy;loft" in HTML), they hide it from every recognizer while the reader sees
// the word, so the text is scanned as it reads, without them. Rare: one native test per scan.
const INVISIBLE = /[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\uFEFF]/;
const INVISIBLE_ALL = /[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\uFEFF]/g;

function isInvisible(c: number): boolean {
  return (
    c === 0xad ||
    c === 0x180e ||
    (c >= 0x200b && c <= 0x200f) ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2060 && c <= 0x2064) ||
    c === 0xfeff
  );
}

/** scan() of the text without its invisible characters, with offsets into the text as given. */
function scanVisible(text: string, options: ScanOptions): Finding[] {
  // at[k]: the offset in `text` of the k-th visible character.
  const at: number[] = [];
  for (let k = 0; k < text.length; k++) if (!isInvisible(text.charCodeAt(k))) at.push(k);
  const visible = text.replace(INVISIBLE_ALL, '');
  return scan(visible, options).map((f) => {
    const start = at[f.start]!;
    const end = at[f.end - 1]! + 1;
    return { ...f, start, end, text: text.slice(start, end) };
  });
}

// Right before a date, what makes it a date of birth: "DOB:", "D.O.B.", "date of birth", "born on".
const BIRTH_BEFORE =
  /(?:\bd\.?\s?o\.?\s?b\b\.?|\bdate\s+of\s+birth|\bbirth\s?(?:date|day)|\bborn(?:\s+on)?)\s*(?:[:#=-]\s*|(?:is|was|of)\s+)?$/i;

// "Holmvik 4821", "Odense C 5210", "Porto, 4000-123": a 4-5 digit code right after a place.
const POSTAL_AFTER_RE = /^,?[ \t]+(\d{4,5}(?:-\d{3,4})?)(?![\w.,:/-]|[.,]\d)/;

function postalCodesAfterPlaces(text: string, out: Candidate[]): void {
  const n = out.length;
  for (let k = 0; k < n; k++) {
    const c = out[k]!;
    if (c.type !== 'ADDRESS' || c.confidence < 0.6) continue;
    const m = POSTAL_AFTER_RE.exec(text.slice(c.end, c.end + 16));
    if (!m) continue;
    const start = c.end + m[0].length - m[1]!.length;
    out.push({
      type: 'ZIP',
      start,
      end: start + m[1]!.length,
      confidence: 0.7,
      reason: 'Postal code after a place',
    });
  }
}

function allowRanges(text: string, allow: readonly string[] | undefined): number[] {
  const ranges: number[] = [];
  if (!allow || allow.length === 0) return ranges;
  const lower = text.toLowerCase();
  for (const a of allow) {
    const needle = a.trim().toLowerCase();
    if (needle.length < 2) continue;
    let from = 0;
    for (;;) {
      const at = lower.indexOf(needle, from);
      if (at < 0) break;
      ranges.push(at, at + needle.length);
      from = at + 1;
    }
  }
  return ranges;
}

function insideAny(ranges: number[], c: Candidate): boolean {
  for (let i = 0; i < ranges.length; i += 2)
    if (c.start >= ranges[i]! && c.end <= ranges[i + 1]!) return true;
  return false;
}

let KEY_CONF = new Float64Array(64);
let KEY_PRIO = new Int32Array(64);
let KEY_LEN = new Int32Array(64);
let KEY_START = new Int32Array(64);
/** Best first: confidence, then type priority, then length, then position. */
function byScore(a: number, b: number): number {
  return (
    KEY_CONF[b]! - KEY_CONF[a]! ||
    KEY_PRIO[b]! - KEY_PRIO[a]! ||
    KEY_LEN[b]! - KEY_LEN[a]! ||
    KEY_START[a]! - KEY_START[b]! ||
    a - b
  );
}

/** Greedy by score: best candidates first, drop any that overlap an accepted one. */
function resolve(cands: Candidate[], text: string): Candidate[] {
  const n = cands.length;
  if (n <= 1) return cands;
  // Sort keys read once into typed arrays; the index order stands in for the sort's stability.
  if (KEY_CONF.length < n) {
    let size = KEY_CONF.length;
    while (size < n) size *= 2;
    KEY_CONF = new Float64Array(size);
    KEY_PRIO = new Int32Array(size);
    KEY_LEN = new Int32Array(size);
    KEY_START = new Int32Array(size);
  }
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const c = cands[i]!;
    KEY_CONF[i] = c.confidence;
    KEY_PRIO[i] = PRIORITY[c.type];
    KEY_LEN[i] = c.end - c.start;
    KEY_START[i] = c.start;
    order[i] = i;
  }
  order.sort(byScore);
  const accepted: Candidate[] = [];
  for (let k = 0; k < n; k++) {
    const c = cands[order[k]!]!;
    if (place(accepted, c)) continue;
    // A multi-word name or place that loses a word to a better finding ("Okonkwo. Milrinone" vs
    // the drug) keeps its words that do not overlap, cut at word boundaries.
    if (c.type !== 'NAME' && c.type !== 'ADDRESS') continue;
    const piece = largestFreePiece(c, accepted, text);
    // A lone lower-case word left of a place ("... 129 street") names nothing.
    if (piece && (c.type !== 'ADDRESS' || /[\p{Lu}\p{N}]/u.test(text.slice(piece.start, piece.end))))
      place(accepted, piece);
  }
  return accepted;
}

/** Insert c into accepted (sorted by start) unless it overlaps a neighbour; true when placed. */
function place(accepted: Candidate[], c: Candidate): boolean {
  // Binary search for the neighbour.
  let lo = 0;
  let hi = accepted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (accepted[mid]!.start < c.start) lo = mid + 1;
    else hi = mid;
  }
  const prev = accepted[lo - 1];
  const next = accepted[lo];
  if ((prev && prev.end > c.start) || (next && next.start < c.end)) return false;
  accepted.splice(lo, 0, c);
  return true;
}

function largestFreePiece(c: Candidate, accepted: Candidate[], text: string): Candidate | null {
  let bestStart = -1;
  let bestEnd = -1;
  let s = c.start;
  // accepted is sorted and non-overlapping (ends in order too): the ones overlapping c are a run,
  // already in order of start; c's end closes the last piece.
  let lo = 0;
  let hi = accepted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (accepted[mid]!.end <= c.start) lo = mid + 1;
    else hi = mid;
  }
  for (let k = lo; ;) {
    while (k < accepted.length && accepted[k]!.start < c.end && c.start >= accepted[k]!.end) k++;
    const blocked = k < accepted.length && accepted[k]!.start < c.end;
    const a = blocked ? accepted[k]!.start : c.end;
    const b = blocked ? accepted[k++]!.end : c.end;
    let e = Math.min(a, c.end);
    let st = s;
    // Trim to whole words: drop partial words and surrounding spaces/punctuation.
    while (st < e && !isWordChar(text, st)) st++;
    while (e > st && !isWordChar(text, e - 1)) e--;
    if (st > c.start && isWordChar(text, st - 1)) while (st < e && isWordChar(text, st)) st++;
    if (e < c.end && isWordChar(text, e)) while (e > st && isWordChar(text, e - 1)) e--;
    while (st < e && !isWordChar(text, st)) st++;
    while (e > st && !isWordChar(text, e - 1)) e--;
    if (e - st >= 2 && (bestStart < 0 || e - st > bestEnd - bestStart)) {
      bestStart = st;
      bestEnd = e;
    }
    s = Math.max(s, b);
    if (!blocked) break;
  }
  return bestStart >= 0 ? { ...c, start: bestStart, end: bestEnd } : null;
}

const WORD_CHAR_RE = /[\p{L}\p{N}]/u;
/** /[\p{L}\p{N}]/u on the one UTF-16 unit text[i] (false past the end), ASCII without the regex. */
function isWordChar(text: string, i: number): boolean {
  if (i < 0 || i >= text.length) return false;
  const c = text.charCodeAt(i);
  if (c < 128) return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
  return WORD_CHAR_RE.test(text[i]!);
}
