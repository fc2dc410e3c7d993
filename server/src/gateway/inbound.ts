import { scan, type Finding } from '@attune/shared/phi';
import type { Envelope, GatewayBackend, InboundReply } from './backend.ts';
import { fromAddress, replyText, type MailView } from './extract.ts';
import type { SmtpReply } from './smtp-reply.ts';

// Inbound: a patient answering a notice by plain email, to reply+<token>@<reply domain>.

const GRADE_ORDER = ['first_person', 'historical', 'third_person', 'negated'] as const;

/** The sentence around a finding: from the previous sentence end to the next. */
export function sentenceAround(text: string, f: Pick<Finding, 'start' | 'end'>): string {
  let s = f.start;
  while (s > 0 && !/[.!?\n]/.test(text[s - 1]!)) s--;
  let e = f.end;
  while (e < text.length && !/[.!?\n]/.test(text[e]!)) e++;
  if (e < text.length && /[.!?]/.test(text[e]!)) e++;
  return text.slice(s, e).trim().slice(0, 2000);
}

/** The most serious crisis finding: first-person beats historical, third-person and negated. */
export function crisisOf(text: string): InboundReply['crisis'] {
  const findings = scan(text, { types: ['CRISIS'] }).filter((f) => f.type === 'CRISIS');
  if (findings.length === 0) return null;
  const rank = (f: Finding): number => GRADE_ORDER.indexOf(f.grade ?? 'first_person');
  const worst = [...findings].sort((a, b) => rank(a) - rank(b) || b.confidence - a.confidence)[0]!;
  return { sentence: sentenceAround(text, worst), grade: worst.grade ?? 'first_person' };
}

export async function handleReplies(
  backend: GatewayBackend,
  tokens: readonly string[],
  envelope: Envelope,
  raw: Buffer,
  mail: MailView,
  log: (e: Record<string, unknown>) => void,
): Promise<SmtpReply> {
  const text = replyText(mail);
  const crisis = crisisOf(text);
  const from = fromAddress(mail) ?? envelope.from.toLowerCase();
  let accepted = 0;
  let overLimit = 0;
  for (const token of tokens) {
    const r = await backend.acceptReply({
      token,
      from,
      subject: mail.subject,
      text,
      html: mail.html,
      receivedAt: new Date(),
      raw,
      crisis,
    });
    if (r.ok) {
      accepted++;
      log({
        event: 'gateway.reply',
        replyId: r.replyId,
        messageId: r.messageId,
        latencyMs: r.latencyMs,
        crisis: crisis?.grade ?? null,
      });
    } else {
      if (r.reason === 'too_many') overLimit++;
      log({ event: 'gateway.reply_refused', reason: r.reason });
    }
  }
  // Over the link's daily reply limit: a temporary refusal, so the sender's server tries again
  // later and the reply still arrives once the day's window has moved on.
  if (accepted === 0 && overLimit > 0)
    return { code: 452, message: '4.7.1 Too many replies to this message today; try again later' };
  // Tokens were checked at RCPT time; one can still expire or be revoked in between.
  if (accepted === 0) return { code: 550, message: '5.1.1 Unknown or expired reply address' };
  return { code: 250, message: '2.0.0 Reply received' };
}
