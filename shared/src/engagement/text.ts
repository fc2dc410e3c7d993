// What a patient's message is about and how it sounds, by transparent keyword rules: every label
// names the words that produced it. Crisis language comes from the shared PHI detector's CRISIS
// findings (graded first person / negated / third person / historical), passed in as `scanCrisis` so
// this module stays pure and testable; `analyzeReply` in ./reply.ts binds the real detector.
import type { CrisisGrade } from '../api/events.ts';
import type { INQUIRY_TYPES } from '../api/engagement.ts';
import type { Finding } from '../phi/types.ts';

export type InquiryType = (typeof INQUIRY_TYPES)[number];

/** Whole-word (or word-prefix where marked with *) keywords per inquiry type, checked in this order. */
export const INQUIRY_RULES: ReadonlyArray<{
  type: Exclude<InquiryType, 'crisis' | 'other'>;
  words: readonly string[];
}> = [
  {
    type: 'scheduling',
    words: [
      'appointment*',
      'reschedul*',
      'schedul*',
      'cancel*',
      'session*',
      'available',
      'availability',
      'calendar',
      'tomorrow',
      'next week',
      'monday',
      'tuesday',
      'wednesday',
      'thursday',
      'friday',
      'book*',
      'move our',
      'time slot',
      'running late',
      'telehealth link',
      'zoom',
    ],
  },
  {
    type: 'medication',
    words: [
      'medication*',
      'meds',
      'med',
      'prescription*',
      'refill*',
      'dose',
      'dosage',
      'pharmacy',
      'pill',
      'pills',
      'side effect*',
      'sertraline',
      'zoloft',
      'prozac',
      'fluoxetine',
      'lexapro',
      'escitalopram',
      'wellbutrin',
      'bupropion',
      'xanax',
      'lithium',
      'adderall',
      'trazodone',
      'seroquel',
      'psychiatrist',
    ],
  },
  {
    type: 'symptoms',
    words: [
      'anxious',
      'anxiety',
      'panic*',
      'depress*',
      "can't sleep",
      'cannot sleep',
      'insomnia',
      'nightmare*',
      'flashback*',
      'worse',
      'symptom*',
      'mood',
      'crying',
      'overwhelmed',
      'stressed',
      'exhausted',
      'hopeless',
      'numb',
      'irritable',
      'appetite',
      'racing thoughts',
      'feeling down',
      'low energy',
    ],
  },
  {
    type: 'homework',
    words: [
      'homework',
      'worksheet*',
      'journal*',
      'thought record*',
      'exercise*',
      'assignment*',
      'practice',
      'practiced',
      'breathing',
      'mindfulness',
      'meditat*',
      'log',
      'diary',
      'cbt',
      'skills',
      'reading you gave',
      'the handout',
    ],
  },
  {
    type: 'billing',
    words: [
      'bill',
      'billing',
      'invoice*',
      'payment*',
      'pay',
      'paid',
      'charge',
      'charges',
      'charged',
      'copay',
      'co-pay',
      'insurance',
      'insurer',
      'deductible',
      'claim*',
      'superbill',
      'receipt*',
      'refund*',
      'out of network',
      'hsa',
      'fsa',
    ],
  },
  {
    type: 'administrative',
    words: [
      'form',
      'forms',
      'paperwork',
      'records',
      'letter',
      'release of information',
      'roi',
      'consent',
      'portal',
      'password',
      'address change',
      'update my',
      'fmla',
      'disability',
      'note for work',
      'school note',
      'intake',
    ],
  },
];

function compile(words: readonly string[]): RegExp {
  const parts = words.map((w) => {
    const star = w.endsWith('*');
    const core = (star ? w.slice(0, -1) : w).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');
    return star ? `${core}[\\p{L}'-]*` : core;
  });
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${parts.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
}

const COMPILED = INQUIRY_RULES.map((r) => ({ type: r.type, re: compile(r.words) }));

export interface CrisisHit {
  sentence: string;
  grade: CrisisGrade;
  confidence: number;
}

export interface InquiryResult {
  /** The main type: crisis (first-person) wins; otherwise the type with the most keyword hits. */
  type: InquiryType;
  /** Every type that matched, with the words that matched (lowercased), most hits first. */
  matches: { type: InquiryType; words: string[] }[];
  /** CRISIS findings, graded; a non-first-person grade is reported, never dropped. */
  crisis: CrisisHit[];
  reasons: string[];
}

/** Text to CRISIS findings: the shared detector's `scan(text, { types: ['CRISIS'] })`. */
export type CrisisScanner = (text: string) => readonly Finding[];

/** The sentence around [start, end) (bounded by . ! ? or a line break), trimmed and at most 300 chars. */
export function sentenceAround(text: string, start: number, end: number): string {
  let a = start;
  while (a > 0 && !/[.!?\n]/.test(text[a - 1] as string)) a--;
  let b = end;
  while (b < text.length && !/[.!?\n]/.test(text[b] as string)) b++;
  if (b < text.length) b++;
  return text.slice(a, b).trim().slice(0, 300);
}

export function classifyInquiry(text: string, scanCrisis?: CrisisScanner): InquiryResult {
  const matches: { type: InquiryType; words: string[] }[] = [];
  for (const { type, re } of COMPILED) {
    const found = new Set<string>();
    for (const m of text.matchAll(re)) found.add(m[0].toLowerCase().replace(/\s+/g, ' '));
    if (found.size > 0) matches.push({ type, words: [...found] });
  }
  matches.sort((x, y) => y.words.length - x.words.length);
  const crisis: CrisisHit[] = [];
  if (scanCrisis) {
    for (const f of scanCrisis(text)) {
      if (f.type !== 'CRISIS') continue;
      crisis.push({
        sentence: sentenceAround(text, f.start, f.end),
        grade: f.grade ?? 'first_person',
        confidence: f.confidence,
      });
    }
  }
  const reasons: string[] = [];
  let type: InquiryType = matches[0]?.type ?? 'other';
  if (crisis.some((c) => c.grade === 'first_person')) {
    type = 'crisis';
    reasons.push('Crisis language in the first person (detector CRISIS finding).');
  } else if (crisis.length > 0) {
    reasons.push(
      `Crisis language graded ${[...new Set(crisis.map((c) => c.grade))].join(', ')}: reported for review, not ranked as urgent.`,
    );
  }
  for (const m of matches) reasons.push(`${m.type}: ${m.words.map((w) => `"${w}"`).join(', ')}`);
  if (matches.length === 0 && type !== 'crisis') reasons.push('No rule matched.');
  if (crisis.length > 0 && type === 'crisis') matches.unshift({ type: 'crisis', words: [] });
  return { type, matches, crisis, reasons };
}

// Negative-affect lexicon: a small, transparent list in the spirit of LIWC's negative emotion
// category (anxiety, anger, sadness). Counted per 100 words; a trend signal, never a diagnosis.
export const NEGATIVE_AFFECT_WORDS: readonly string[] = [
  'sad',
  'sadness',
  'unhappy',
  'miserable',
  'depressed',
  'down',
  'low',
  'hopeless',
  'helpless',
  'worthless',
  'empty',
  'lonely',
  'alone',
  'cry',
  'crying',
  'cried',
  'tears',
  'hurt',
  'hurting',
  'pain',
  'awful',
  'terrible',
  'horrible',
  'worse',
  'worst',
  'bad',
  'anxious',
  'anxiety',
  'worried',
  'worry',
  'worrying',
  'scared',
  'afraid',
  'fear',
  'panic',
  'nervous',
  'overwhelmed',
  'stressed',
  'stress',
  'exhausted',
  'tired',
  'angry',
  'anger',
  'furious',
  'mad',
  'frustrated',
  'annoyed',
  'hate',
  'guilty',
  'guilt',
  'ashamed',
  'shame',
  'numb',
  'lost',
  'struggling',
  'struggle',
  'failing',
  'failure',
  'cannot',
  "can't",
  'never',
  'nothing',
  'pointless',
  'tired',
];
const NEG = new Set(NEGATIVE_AFFECT_WORDS);

export interface ToneResult {
  /** Negative-affect words per 100 words (0..100). */
  score: number;
  words: number;
  hits: string[];
}

export function toneScore(text: string): ToneResult {
  const tokens = text.toLowerCase().match(/[\p{L}']+/gu) ?? [];
  const hits: string[] = [];
  for (const t of tokens) if (NEG.has(t)) hits.push(t);
  const score =
    tokens.length === 0 ? 0 : Math.min(100, Math.round((hits.length / tokens.length) * 1000) / 10);
  return { score, words: tokens.length, hits: [...new Set(hits)] };
}
