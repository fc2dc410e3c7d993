// Names after a phrase that is said of people: the agent of a clinical act ("referred by Lena
// Haugland", "seen by Tomasz Wrona", "directed by ..."), and the person met or talked to ("follow up
// with Zdravka Petrikova", "spoke with Odile Brandt"). The phrase is the cue, so the name need not be
// in a dictionary; services and departments ("seen by Cardiology", "follow up with Social Work")
// and acronyms ("PCP") are not names.
import { pushTokens, type Candidate, type ScanContext } from '../candidate.ts';
import { NOT_NAMES } from '../dictionaries/not-names.ts';
import {
  SHAPE_CAPS,
  SHAPE_INITIAL,
  SHAPE_LETTERS,
  SHAPE_LOWER,
  SHAPE_TITLE,
  type Tokens,
  wordFlag,
} from '../tokens.ts';
import { isFirstNameWord, isNameWord } from './names.ts';

const STOP = new Set(NOT_NAMES.split('|'));
// Verbs whose "by" introduces the person who did it.
const AGENT_VERBS = new Set(
  'referred|seen|evaluated|assessed|examined|interviewed|supervised|signed|authored|written|directed|reviewed|performed|prescribed|treated|accompanied|visited|escorted|counseled|counselled|tested|diagnosed|recommended|ordered|co-signed|cosigned|sung|composed|painted|founded|hosted'.split(
    '|',
  ),
);
// Verbs (or the end of a phrase verb) whose "with" introduces the person met or talked to.
const WITH_VERBS = new Set(
  'up|spoke|speak|speaking|talk|talked|talking|meet|met|meeting|made|contact|discussed|consult|consulted|consulting|touch|base|in|checked|conferred|confer|spoken|chatted|chat|connected|connect|session|appointment|appt|visit|f/u'.split(
    '|',
  ),
);
// Services, departments and teams that follow the same phrases.
const SERVICES = new Set(
  'cardiology|cardiac|transplant|psychiatry|psychology|neurology|oncology|medicine|pediatrics|paediatrics|radiology|dermatology|endocrinology|nephrology|urology|gastroenterology|gi|pulmonary|pulmonology|rheumatology|orthopedics|ortho|surgery|anesthesia|icu|er|ed|pcp|primary|care|social|work|case|management|team|staff|nursing|pharmacy|hospice|therapy|therapist|counseling|counselling|intake|billing|insurance|admissions|security|legal|hr|it|support|services|service|department|dept|clinic|office|group|family|friends|patient|client|provider|doctor|nurse|physician|psychiatrist|psychologist|counselor|counsellor|school|work|court|probation|police|dcf|cps|dss|dhs|medicaid|medicare|aetna|cigna|humana|kaiser|optum|anthem|tricare|the|a|an|my|your|his|her|their|our|them|him|me|us|you|everyone|someone|anyone'.split(
    '|',
  ),
);

const SERVICE_AFTER = new Set(
  'surgeon|surgeons|surgery|team|service|services|fellow|resident|residents|attending|nurse|nurses|staff|department|dept|clinic|consult|consults|group|unit|program|programme|office|center|centre|hospital'.split(
    '|',
  ),
);

function good(toks: Tokens, k: number, lowerText: boolean): boolean {
  const sh = toks.shape[k]!;
  const l = toks.lower[k]!;
  // A middle initial, in lower-case mail too ("amelia r quist").
  if (l.length === 1) return (sh & SHAPE_LETTERS) !== 0 && (lowerText || (sh & SHAPE_INITIAL) !== 0);
  if ((sh & SHAPE_LETTERS) === 0 || STOP.has(l) || SERVICES.has(l)) return false;
  if ((sh & SHAPE_CAPS) !== 0) return false;
  if (lowerText) return (sh & (SHAPE_LOWER | SHAPE_INITIAL)) !== 0 || (sh & SHAPE_TITLE) !== 0;
  return (sh & (SHAPE_TITLE | SHAPE_INITIAL)) !== 0;
}

// Credentials written after a colleague's name in notes, in capitals ("per Teodor VARGA NP",
// "Hale-Whitcombe MD performed ...").
const CAPS_CREDENTIALS = new Set(
  'MD|NP|RN|PA|DO|LPN|LCSW|LICSW|MSW|PhD|PsyD|RRT|CRNA|APRN|FNP|PMHNP|LMFT|LPC|LMHC|DPT|PharmD'.split('|'),
);
// The credentials lower-cased, as a word flag (tokens.ts): a cheap test before the exact one.
const F_CAPS_CREDENTIAL = wordFlag([...CAPS_CREDENTIALS].map((c) => c.toLowerCase()));
// What may come before such a name: a cue word; and after the credential: a verb of what was done.
const BEFORE_CREDENTIALED = new Set(
  'per|by|with|from|to|and|called|paged|notified|informed|aware|dr|spoke|contacted|via|cc'.split('|'),
);
const AFTER_CREDENTIAL = new Set(
  'performed|plans|planned|placed|aware|ordered|orders|notified|informed|called|paged|updated|states|stated|said|says|wants|wanted|agreed|recommends|recommended|saw|examined|evaluated|here|in|at|to|will|was|is|made|came|visited|consulted|d/c|dc|started|discontinued|changed|increased|decreased|reviewed|spoke|talked'.split(
    '|',
  ),
);

// "by" and "with", the words of the phrases below: a text with neither skips the phrase loop, and
// the loop reads the flag on the shared Word rather than comparing strings at every token.
const F_BY_WITH = wordFlag(['by', 'with']);

function credentialedNames(ctx: ScanContext, toks: Tokens, out: Candidate[]): void {
  if ((toks.wordFlags & F_CAPS_CREDENTIAL) === 0) return;
  const { text } = ctx;
  const n = toks.count;
  for (let c = 1; c < n; c++) {
    if ((toks.word[c]!.flags & F_CAPS_CREDENTIAL) === 0 || !CAPS_CREDENTIALS.has(toks.raw[c]!)) continue;
    // "MD'S", "RN:" and "PA line" are not credentials after a name.
    const ce = toks.end[c]!;
    if (text[ce] === "'" || text[ce] === '’' || text[ce] === ':') continue;
    let k = c - 1;
    let first = -1;
    while (k >= 0 && c - k <= 3) {
      const sh = toks.shape[k]!;
      const l = toks.lower[k]!;
      if ((sh & SHAPE_LETTERS) === 0 || l.length < 2 || STOP.has(l) || SERVICES.has(l)) break;
      if ((sh & (SHAPE_TITLE | SHAPE_CAPS)) === 0) break;
      const g = text.slice(toks.end[k], toks.start[k + 1]);
      if (!/^(?: |-)$/.test(g)) break;
      first = k;
      if (k === 0) break;
      const g2 = text.slice(toks.end[k - 1], toks.start[k]);
      if (g2 !== ' ' && g2 !== '-') break;
      k--;
    }
    if (first < 0) continue;
    const prev = first > 0 ? toks.lower[first - 1]! : '';
    const next = c + 1 < n ? toks.lower[c + 1]! : '';
    const cued =
      BEFORE_CREDENTIALED.has(prev) && /^[ \t]+$/.test(text.slice(toks.end[first - 1], toks.start[first]));
    const acted = AFTER_CREDENTIAL.has(next) && /^[ \t]+$/.test(text.slice(ce, toks.start[c + 1]));
    if (!cued && !acted) continue;
    // All-caps notes: every word is in capitals, so the cue before, two words or more and a
    // first name leading them ("PER DARNELL OKWUOSA NP"; not "TO FLOOR RN").
    if (ctx.upper && (!cued || c - first < 2 || !isFirstNameWord(toks.lower[first]!))) continue;
    pushTokens(out, toks, first, c - 1, 'NAME', 0.8, 'Name before a credential');
  }
}

export function recognizeNameCues(ctx: ScanContext, toks: Tokens, out: Candidate[]): void {
  if (!ctx.wants('NAME')) return;
  credentialedNames(ctx, toks, out);
  if (ctx.upper || (toks.wordFlags & F_BY_WITH) === 0) return;
  const { text } = ctx;
  const n = toks.count;
  const tokWords = toks.word;
  for (let i = 1; i + 1 < n; i++) {
    if ((tokWords[i]!.flags & F_BY_WITH) === 0) continue;
    const l = toks.lower[i]!;
    const v = toks.lower[i - 1]!;
    if (l === 'by' ? !AGENT_VERBS.has(v) : !WITH_VERBS.has(v)) continue;
    // Same line, single spaces: "seen by\nX" is a heading, not a phrase.
    if (!/^[ \t]{1,2}$/.test(text.slice(toks.end[i - 1], toks.start[i]))) continue;
    const j = i + 1;
    if (!/^[ \t]{1,2}$/.test(text.slice(toks.end[i], toks.start[j]))) continue;
    // Lower-case mail: lower-case names count when one of them is a dictionary name.
    const lowerText = (toks.shape[j]! & SHAPE_LOWER) !== 0;
    if (lowerText && /\p{Lu}/u.test(text.slice(Math.max(0, toks.start[j]! - 120), toks.start[j]))) continue;
    let k = j;
    let words = 0;
    let initials = 0;
    let dict = false;
    while (k < n && words + initials < 4 && good(toks, k, lowerText)) {
      if ((toks.shape[k]! & SHAPE_INITIAL) !== 0 || toks.raw[k]!.length === 1) {
        if (k === j) break;
        initials++;
      } else words++;
      if (isNameWord(toks.lower[k]!)) dict = true;
      const g = k + 1 < n ? text.slice(toks.end[k], toks.start[k + 1]) : '';
      if (!/^(?:[ \t]|\.[ \t]|-)$/.test(g)) {
        k++;
        break;
      }
      // A period ends the name unless it closes an initial.
      if (g.startsWith('.') && toks.raw[k]!.length !== 1) {
        k++;
        break;
      }
      k++;
    }
    let last = k - 1;
    // Never end on an initial ("with Anna B." keeps "Anna B." only when a word follows the initial).
    while (last >= j && toks.raw[last]!.length === 1 && last > j && (toks.shape[last]! & SHAPE_INITIAL) === 0)
      last--;
    if (words === 0 || last < j) continue;
    // "seen by Cardiac Transplant surgeon", "by Acute Pain service": a service named before its role.
    if (last + 1 < n && SERVICE_AFTER.has(toks.lower[last + 1]!)) continue;
    if (lowerText && !dict) continue;
    // One Title-case word after "with" alone is as often a place or a product ("met with Apple"):
    // it needs a dictionary name or a second word.
    if (words === 1 && !dict && initials === 0) continue;
    let end = toks.end[last]!;
    if (text[end] === '.' && toks.raw[last]!.length === 1) end++;
    out.push({
      type: 'NAME',
      start: toks.start[j]!,
      end,
      // A whole run outranks a dictionary hit on one of its words, so the finding is the full name.
      confidence: last > j ? 0.82 : 0.75,
      reason:
        l === 'by' ? 'Name after "referred by", "seen by"' : 'Name after "follow up with", "spoke with"',
    });
    i = last;
  }
}
