// The derived fields of a patient's reply, computed once when it arrives (the server stores these on
// the `replied` event; the body itself stays in the encrypted archive). Crisis language comes from
// the shared PHI detector's CRISIS findings with their grade.
import type { EngagementEvent } from '../api/events.ts';
import { scan } from '../phi/index.ts';
import { classifyInquiry, toneScore, type InquiryResult } from './text.ts';

const GRADE_ORDER = ['first_person', 'historical', 'third_person', 'negated'] as const;

export interface ReplyAnalysis {
  inquiry: InquiryResult;
  /** Fields to set on the `replied` event. */
  fields: Pick<EngagementEvent, 'inquiry' | 'tone' | 'crisis'>;
}

export function analyzeReply(text: string): ReplyAnalysis {
  const inquiry = classifyInquiry(text, (t) => scan(t, { types: ['CRISIS'], minConfidence: 0.3 }));
  const tone = toneScore(text).score;
  // The most serious grade is the one stored; the others stay visible in `inquiry.crisis`.
  const worst = [...inquiry.crisis].sort(
    (a, b) => GRADE_ORDER.indexOf(a.grade) - GRADE_ORDER.indexOf(b.grade),
  )[0];
  return {
    inquiry,
    fields: {
      inquiry: inquiry.type,
      tone,
      ...(worst ? { crisis: { sentence: worst.sentence, grade: worst.grade } } : {}),
    },
  };
}
