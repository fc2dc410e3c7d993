// Suicidal ideation, self-harm and harm-to-others language, graded so the policy can tell a patient
// in danger now from a denial ("I'm not suicidal"), a report about someone else, or history.
import { eachMatchAtWords, literals, lowerText, type Candidate, type ScanContext } from '../candidate.ts';
import { wordGate } from '../tokens.ts';
import type { Finding } from '../types.ts';

// "su" alone matched almost every note (sugar, suction, pressure): the suicide spellings the
// pattern accepts all contain one of these.
const CRISIS_STEMS = [
  'suic',
  'suis',
  'sucid',
  'sucd',
  'susid',
  'suicd',
  'sucsid',
  'suie',
  'suced',
  'self',
  'kill',
  'hurt',
  'harm',
  'cut',
  'burn',
  'hang',
  'shoot',
  'drown',
  'starv',
  'poison',
  'life',
  'die',
  'dead',
  'live',
  'wake',
  'disappear',
  'end it',
  'overdos',
  "od'",
  'odd',
  'homicid',
  'stab',
  '988',
  'crisis',
  'safety',
  'wish',
  'better off',
  'injur',
  'mutilat',
];
const CRISIS_LITERALS = literals(CRISIS_STEMS);
const SELF = '(?:myself|my ?self|herself|himself|themselves|themself|yourself|ourselves)';
const CRISIS_RE = new RegExp(
  [
    // Misspellings seen in patient mail: sucidal, suicidel, suiside, suicdal, suisidal.
    `\\bsu(?:i|ie)?[cs]{1,2}[ie]?d(?:e|al|ality|ally|le|ial|el|il)\\b(?:\\s+(?:ideation|ideations|thoughts?|feelings?|attempts?|plans?|intent|gestures?|note|risk))?`,
    `\\bsuicide\\b(?:\\s+(?:attempts?|plans?|notes?|watch|risk))?`,
    `\\b(?:attempted|attempting|attempt(?:s|ed)? at|thoughts of|thinking about|thinking of|considering|contemplating)\\s+suicide\\b`,
    `\\b(?:kill(?:ing|ed)?|hurt(?:ing)?|harm(?:ing|ed)?|cut(?:ting)?|burn(?:ing|ed)?|hang(?:ing|ed)?|shoot(?:ing)?|drown(?:ing)?|starv(?:e|ing)|poison(?:ing|ed)?)\\s+${SELF}\\b`,
    `\\b(?:end|ending|take|taking|took)\\s+(?:my|her|his|their|your)\\s+(?:own\\s+)?life\\b`,
    `\\b(?:want(?:s|ed)?|wanna|wanting|going|planning|plan(?:s|ned)?|ready|trying|tried)\\s+(?:to\\s+)?(?:die|be dead|disappear forever|not wake up|end it(?: all)?)\\b`,
    `\\bwish(?:ed|es)?\\s+(?:i|she|he|they)\\s+(?:was|were|had)\\s+(?:dead|never been born)\\b`,
    `\\bbetter off dead\\b|\\bbetter off without me\\b|\\bno reason to live\\b|\\bnothing to live for\\b|\\b(?:don'?t|do not|doesn'?t|does not|didn'?t|did not)\\s+want to (?:live|be alive|be here anymore|wake up)\\b`,
    `\\bself[- ]?harm(?:ing|ed)?\\b|\\bself[- ]?injur(?:y|ies|ious|ing)\\b|\\bself[- ]?mutilat(?:ion|ing)\\b|\\bcutting\\b(?=\\s+(?:again|behaviou?rs?|on (?:my|her|his) (?:arms?|legs?|wrists?|thighs?)))`,
    `\\b(?:overdos(?:e|ed|ing)|od'?d)\\b(?:\\s+on\\s+\\w+)?`,
    `\\bhomicidal(?:\\s+(?:ideation|thoughts?|intent))?\\b|\\b(?:kill|hurt|shoot|stab)\\s+(?:him|her|them|someone|somebody|people|my (?:husband|wife|partner|boss|father|mother|dad|mom))\\b`,
    `\\bsafety plan\\b|\\b988\\b(?=[^\\n]{0,20}\\b(?:call|text|lifeline|crisis)\\b)|\\bcrisis (?:line|hotline|text line)\\b`,
  ].join('|'),
  'gi',
);
// Speed: the first letters/digits of every CRISIS_RE match (a whole word, or "su..."/"self...");
// eachMatchAtWords tries the pattern only at such words. Keep in step with the pattern.
const CRISIS_FIRST = new Set(
  'attempted|attempting|attempt|attempts|thoughts|thinking|considering|contemplating|kill|killing|killed|hurt|hurting|harm|harming|harmed|cut|cutting|burn|burning|burned|hang|hanging|hanged|shoot|shooting|drown|drowning|starve|starving|poison|poisoning|poisoned|end|ending|take|taking|took|want|wants|wanted|wanna|wanting|going|planning|plan|plans|planned|ready|trying|tried|wish|wished|wishes|better|no|nothing|don|dont|do|doesn|doesnt|does|didn|didnt|did|overdose|overdosed|overdosing|od|odd|homicidal|stab|safety|988|crisis'.split(
    '|',
  ),
);
const CRISIS_GATE = wordGate((w) => w.startsWith('su') || w.startsWith('self') || CRISIS_FIRST.has(w));
// Suicidal ideation abbreviations in clinical shorthand; case-sensitive.
const SI_RE = /\b(?:SI|HI|SIB|NSSI)\b(?:\s*(?:w\/|with|\/)\s*(?:plan|intent))?/g;
const SI_GATE = wordGate((w) => w === 'si' || w === 'hi' || w === 'sib' || w === 'nssi');

const NEGATION =
  /\b(?:no|not|denies|denied|deny|denying|never|without|nor|none|negative for|neg for|no longer|isn't|wasn't|aren't|don't|doesn't|didn't|haven't|hasn't|n't|absence of|free of|rules? out|r\/o)\b[^.;!?\n]{0,40}$/i;
const HISTORICAL =
  /\b(?:years? ago|months ago|long ago|when i was|as a (?:teen|teenager|child|kid)|in (?:high school|college|middle school)|used to|in the past|past history|history of|hx of|h\/o|previous(?:ly)?|prior|last year|back in|once|in (?:19|20)\d{2}|at age \d+|childhood|former(?:ly)?|remote)\b/i;
const THIRD_SELF = /\b(?:herself|himself|themselves|themself|her|his|their)\b/i;
// Who the clause is about: the subject word nearest before the phrase wins, so "my friend said
// she wanted to die" is about the friend and "she asked if I wanted to die" is about the writer.
// "my" alone decides nothing: "my friend" names someone else, "my life" does not.
const SUBJECT_RE =
  /\b(?:(i|i'm|im|i've|ive|i'd|i'll|me|myself)|(he|she|they|him|them|he's|she's|they're|someone|somebody|friend|friends|sister|brother|mother|mom|mum|father|dad|son|daughter|husband|wife|partner|boyfriend|girlfriend|cousin|aunt|uncle|grandmother|grandfather|grandma|grandpa|roommate|classmate|coworker|colleague|neighbor|neighbour|niece|nephew|child|kid|teen|student))\b/gi;
// Campaign and awareness wording around "suicide": about the topic, not a person's ideation.
const AWARENESS_AFTER =
  /^[\s-]*(?:prevention|awareness|hotline|lifeline|helpline|crisis line|rates?\b|statistics|research|training|month|week|day\b|walk|survivors?|loss|bereavement|postvention|gatekeeper|resources?)/i;
const AWARENESS_BEFORE =
  /\b(?:national|world|international|global|preventing|prevent|prevention of|awareness of|topic of|stigma of|stigma around|rates of|training on|webinar on|workshop on|resources? (?:on|for|about))\s*$/i;
// "If you or someone you know is struggling, call 988": a resource offered to anyone.
const GENERIC_RESOURCE =
  /\b(?:if you|you or someone|someone you know|anyone|available 24|24\/7|call or text|text or call|free(?:,| and) confidential|reach out)\b/i;
const RESOURCE_MATCH = /^(?:988|safety plan|crisis (?:line|hotline|text line))$/i;

function nearestSubject(pre: string): 'first' | 'third' | null {
  let last: 'first' | 'third' | null = null;
  SUBJECT_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = SUBJECT_RE.exec(pre)) !== null) last = m[1] ? 'first' : 'third';
  return last;
}

/** The grade of a match, or null when the words are about the topic rather than a person. */
function grade(text: string, start: number, end: number, match: string): Finding['grade'] | null {
  // The clause: from the previous sentence break to the next one.
  let s = start;
  const limit = Math.max(0, start - 120);
  while (s > limit && !/[.!?\n;]/.test(text[s - 1]!)) s--;
  let e = end;
  const elimit = Math.min(text.length, end + 60);
  while (e < elimit && !/[.!?\n;]/.test(text[e]!)) e++;
  const pre = text.slice(s, start);
  const post = text.slice(end, e);
  if (
    /^sui/i.test(match) &&
    match.indexOf(' ') < 0 &&
    (AWARENESS_AFTER.test(post) || AWARENESS_BEFORE.test(pre))
  )
    return null;
  if (RESOURCE_MATCH.test(match) && (GENERIC_RESOURCE.test(pre) || GENERIC_RESOURCE.test(post))) return null;
  if (NEGATION.test(pre)) return 'negated';
  if (HISTORICAL.test(pre) || HISTORICAL.test(post)) return 'historical';
  if (THIRD_SELF.test(match)) return 'third_person';
  if (nearestSubject(pre) === 'third') return 'third_person';
  return 'first_person';
}

const CONFIDENCE: Record<NonNullable<Finding['grade']>, number> = {
  first_person: 0.95,
  historical: 0.8,
  third_person: 0.75,
  negated: 0.6,
};

/** Whether the text being scanned holds a crisis stem (1 or 0); -1 until asked. */
let stemsFound = -1;

export function recognizeCrisis(ctx: ScanContext, out: Candidate[]): void {
  if (!ctx.wants('CRISIS')) return;
  const { text } = ctx;
  // Every crisis phrase contains one of these stems; a match counts only when one occurs in the
  // text. Speed: the stems test runs once the gated pattern has found a match (few texts have one).
  stemsFound = -1;
  eachMatchAtWords(ctx, CRISIS_GATE, CRISIS_RE, (m) => {
    if (stemsFound < 0) stemsFound = CRISIS_LITERALS.test(lowerText(ctx)) ? 1 : 0;
    if (stemsFound === 0) return;
    pushCrisis(text, out, m.index, m.index + m[0].length, 'Suicide, self-harm or harm-to-others language');
  });
  if (!ctx.upper) {
    eachMatchAtWords(ctx, SI_GATE, SI_RE, (m) => {
      pushCrisis(
        text,
        out,
        m.index,
        m.index + m[0].length,
        'Clinical abbreviation for suicidal or homicidal ideation',
      );
    });
  }
}

// Module level, not a closure per scan.
function pushCrisis(text: string, out: Candidate[], start: number, end: number, reason: string): void {
  const g = grade(text, start, end, text.slice(start, end));
  if (g === null) return;
  out.push({
    type: 'CRISIS',
    start,
    end,
    confidence: CONFIDENCE[g ?? 'first_person'],
    reason: `${reason} (${g?.replace('_', ' ') ?? ''})`,
    grade: g,
  });
}
