import { headerValues, readHeaders } from './marker.ts';

// Auto-replies (out-of-office, vacation responders) that come to a delivery's return path (VERP):
// RFC 3834 section 3.3 asks responders to answer the envelope sender (our bounce+…@ address), so a
// patient's vacation notice lands where bounces do. It is no failure: a mailbox only answers mail
// it took in. Only header fields are read, never the body or the Subject (which quotes ours, or
// says why the patient is away).
//
// Which fields say "auto-reply":
// - Auto-Submitted: auto-replied (RFC 3834 3.1.7), the standard one (Gmail's vacation responder,
//   Sieve vacation, most servers);
// - X-Autoreply, X-Autorespond (any value but "no"), and Precedence or X-Precedence: auto_reply,
//   which older responders and hosted mail systems set instead;
// - Microsoft: X-MS-Exchange-Inbox-Rules-Loop only together with Auto-Submitted: auto-generated.
//   Exchange puts that loop counter on everything a mailbox's rules touch (forwards and redirects
//   too), so alone it says nothing; with auto-generated it is a message a rule composed in
//   response (an automatic reply or a rule's "reply with a template").
// Not: X-Auto-Response-Suppress (a request not to auto-reply, set on ordinary mail) or Precedence:
// bulk / junk (mailing lists).
//
// Bounces carry some of these too: sendmail and Exim mark their bounces Auto-Submitted:
// auto-replied, and Postfix its DSNs. An RFC 3464 report is read before this (bounces.ts), and a
// message with a bounce's marks (From MAILER-DAEMON or postmaster, Exim's X-Failed-Recipients) is
// never taken for an auto-reply: a free-text bounce stays a report of unknown status.

const BOUNCE_SENDER = /(?:^|[<\s"])(?:mailer-daemon|postmaster)@/i;

/** Whether the message in `raw` (headers only) is an automatic reply and not a bounce. */
export function isAutoReply(raw: Buffer): boolean {
  const h = readHeaders(raw, 64 * 1024);
  const one = (name: string) => headerValues(h, name).map((v) => v.trim().toLowerCase());
  if (one('x-failed-recipients').length > 0) return false;
  if (one('from').some((f) => BOUNCE_SENDER.test(f) || /^mailer-daemon\b/.test(f))) return false;
  // RFC 3834: the keyword, then optional parameters (`auto-replied; owner-email=…`) or a comment.
  const autoSubmitted = one('auto-submitted').map((v) => /^[a-z-]+/.exec(v)?.[0] ?? '');
  if (autoSubmitted.includes('auto-replied')) return true;
  if ([...one('x-autoreply'), ...one('x-autorespond')].some((v) => v !== 'no' && v !== 'false')) return true;
  if ([...one('precedence'), ...one('x-precedence')].includes('auto_reply')) return true;
  return autoSubmitted.includes('auto-generated') && one('x-ms-exchange-inbox-rules-loop').length > 0;
}
