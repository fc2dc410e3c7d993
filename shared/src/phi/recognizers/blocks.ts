// A contact block's heading line: the short line naming a person above their address, phone or
// e-mail ("Jane Q. Doe\n12 Elm Street\nSpringfield, IL 62704", a forwarded vCard, a referral's
// patient line). The structure is the cue, so the name need not be in a dictionary; the line still
// needs some evidence of being a person's name (an unambiguous dictionary name, a middle initial,
// letters outside ASCII as in most non-English names) and no word of the not-names list.
import { isJsSpace, type Candidate, type ScanContext } from '../candidate.ts';
import { NOT_NAMES } from '../dictionaries/not-names.ts';
import { isStrongNameWord } from './names.ts';

const STOP = new Set(NOT_NAMES.split('|'));
const PARTICLES = new Set(
  'van|von|de|der|den|da|di|du|del|della|dos|das|ten|ter|le|la|bin|ibn|al|af'.split('|'),
);
const WORD_RE = /^[\p{L}][\p{L}\p{M}'’-]*\.?$/u;
// Words of organisations and job titles that a heading line may hold instead of a name.
const NOT_PERSON = new Set(
  'inc|llc|ltd|corp|co|company|partners|associates|group|services|solutions|consulting|foundation|university|college|institute|center|centre|clinic|hospital|practice|office|department|dept|team|street|road|avenue|lane|drive|box|suite|apt|unit|floor|personal|info|information|contact|phone|mobile|email|address|website|web|fax'.split(
    '|',
  ),
);
const LINES_UP = 6;

/**
 * Whether a heading line reads as a person's name; returns [start, end] within the text or null.
 * `aEnd`: end of the anchor below (the block searched for a repeated line ends 200 characters after it).
 */
function nameLine(text: string, ls: number, le: number, aEnd: number): [number, number] | null {
  let s = ls;
  let e = le;
  // (/[\s>?*•·-]/ and /[\s,]/ on one character, by its code.)
  while (s < e && isLeadMark(text.charCodeAt(s))) s++;
  while (e > s && (isJsSpace(text.charCodeAt(e - 1)) || text.charCodeAt(e - 1) === 44)) e--;
  if (e - s < 4 || e - s > 48) return null;
  // Speed: an ASCII character other than a letter, "'", "-", "." or a blank (a digit, "@", ":")
  // is in some word, which WORD_RE then refuses: no name, known without splitting the line. The
  // words are one more than the runs of blanks (none at either end): two to five.
  let blankRuns = 0;
  for (let k = s; k < e; k++) {
    const c = text.charCodeAt(k);
    if (c === 32 || c === 9) {
      const b = text.charCodeAt(k - 1);
      if (b !== 32 && b !== 9) blankRuns++;
      continue;
    }
    if (c >= 128 || c === 39 || c === 45 || c === 46) continue;
    if ((c | 32) < 97 || (c | 32) > 122) return null;
  }
  if (blankRuns < 1 || blankRuns > 4) return null;
  const words = text.slice(s, e).split(/[ \t]+/);
  if (words.length < 2 || words.length > 5) return null;
  let main = 0;
  let initials = 0;
  let evidence = false;
  let lowerCase = 0;
  for (const w of words) {
    if (!WORD_RE.test(w)) return null;
    const bare = w.replace(/\.$/, '');
    const l = bare.toLowerCase();
    if (bare.length === 1) {
      initials++;
      continue;
    }
    if (w.endsWith('.')) return null;
    if (PARTICLES.has(l) && bare === l) continue;
    if (STOP.has(l) || NOT_PERSON.has(l)) return null;
    main++;
    if (bare === l) lowerCase++;
    if (isStrongNameWord(l) || /[^\x20-\x7e]/.test(bare)) evidence = true;
  }
  if (main < 2 || main > 4 || initials > 1) return null;
  // One case for the whole line: "Jane Doe", "JANE DOE" or "jane doe", not "Jane went".
  if (lowerCase !== 0 && lowerCase !== main) return null;
  if (initials === 1) evidence = true;
  return evidence || repeated(text, s, e, ls, aEnd) ? [s, e] : null;
}

/** What a heading line's marks may be: /[\s>?*•·-]/ on one character. */
function isLeadMark(c: number): boolean {
  return isJsSpace(c) || c === 62 || c === 63 || c === 42 || c === 0x2022 || c === 0xb7 || c === 45;
}

export function recognizeContactBlockNames(ctx: ScanContext, out: Candidate[]): void {
  if (!ctx.wants('NAME')) return;
  const { text } = ctx;
  if (text.indexOf('\n') < 0) return;
  const n = out.length;
  // Anchors by the start of their line, in order of first appearance, with the furthest end seen
  // there: the walk up from a line does not depend on the anchor except through `repeated`, whose
  // block only grows with the anchor's end, so one walk per line (with the furthest end) finds
  // every name the walks of its anchors would (an anchor right after one on the same line was
  // already skipped: it adds nothing to the walk).
  const lineStarts: number[] = [];
  const lineEnds: number[] = [];
  let lastLine = -1;
  for (let k = 0; k < n; k++) {
    const a = out[k]!;
    const anchor =
      (a.type === 'ADDRESS' && a.confidence >= 0.7) ||
      a.type === 'PHONE' ||
      a.type === 'EMAIL' ||
      a.type === 'FAX';
    if (!anchor) continue;
    const ls = text.lastIndexOf('\n', a.start - 1) + 1;
    if (ls === 0 || ls === lastLine) continue;
    lastLine = ls;
    const g = lineStarts.indexOf(ls);
    if (g < 0) {
      lineStarts.push(ls);
      lineEnds.push(a.end);
    } else if (a.end > lineEnds[g]!) lineEnds[g] = a.end;
  }
  for (let g = 0; g < lineStarts.length; g++) {
    let ls = lineStarts[g]!;
    const aEnd = lineEnds[g]!;
    for (let up = 0; up < LINES_UP && ls > 0; up++) {
      const le = ls - 1 > 0 && text[ls - 2] === '\r' ? ls - 2 : ls - 1;
      const ps = text.lastIndexOf('\n', le - 1) + 1;
      // Lines of prose above end the block.
      if (le - ps > 60) break;
      const r = nameLine(text, ps, le, aEnd);
      if (r && !overlapsPlace(out, n, r[0], r[1]))
        out.push({
          type: 'NAME',
          start: r[0],
          end: r[1],
          confidence: 0.8,
          reason: 'Name heading a contact block',
        });
      ls = ps;
    }
  }
}

/** The heading line text.slice(s, e) occurs twice in its block (from 400 characters above its line to 200 after the anchor). */
function repeated(text: string, s: number, e: number, ps: number, aEnd: number): boolean {
  const line = text.slice(s, e);
  const from = text.lastIndexOf('\n', Math.max(0, ps - 400));
  const block = text.slice(from < 0 ? 0 : from, Math.min(text.length, aEnd + 200));
  const at = block.indexOf(line);
  return at >= 0 && block.indexOf(line, at + line.length) >= 0;
}

function overlapsPlace(out: Candidate[], n: number, s: number, e: number): boolean {
  for (let k = 0; k < n; k++) {
    const c = out[k]!;
    if (c.type === 'ADDRESS' && c.confidence >= 0.7 && c.start < e && s < c.end) return true;
  }
  return false;
}
