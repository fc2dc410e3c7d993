// scanMessage: the detector applied to a whole email, field by field.
//
// Every finding's start/end index the string its field names, so a caller can highlight it:
//   subject            → input.subject
//   body               → input.html when given (the original HTML string; see html-text.ts), else input.body
//   to / cc            → recipientFieldText(input.to / input.cc): the addresses joined with "\n"
//   attachment:<i>     → attachmentFieldText(input.attachments[i]): the file name, "\n", the extracted text
// and `finding.text === fieldText.slice(start, end)` always holds.
//
// When both html and body are given, html is scanned: it is what the recipient's client renders, and a
// multipart/alternative plain part is derived from it. The gateway passes the plain part as `body` only
// when there is no HTML part.

import { scan } from './scan.ts';
import { htmlToText, mapToHtml, type HtmlText } from './html-text.ts';
import {
  HEALTH_TYPES,
  IDENTIFIER_TYPES,
  PHI_TYPES,
  type FieldFindings,
  type Finding,
  type MessageAttachmentInput,
  type MessageField,
  type MessageInput,
  type MessageScan,
  type PhiType,
  type ScanOptions,
} from './types.ts';

export interface MessageScanOptions extends ScanOptions {
  /**
   * Drop findings inside the body's signature block (after a "-- " line, or after a sign-off such as
   * "Best regards," near the end): the clinician's own name, credentials and the practice's phone are not
   * a patient's PHI. Crisis language is never dropped. Quoted replies below the signature are still scanned.
   */
  exemptSignature?: boolean;
}

const IDENTIFIER_SET: ReadonlySet<PhiType> = new Set(IDENTIFIER_TYPES);
const HEALTH_SET: ReadonlySet<PhiType> = new Set(HEALTH_TYPES);
// A recipient is necessarily an address: that it is one says nothing about a patient. What can
// identify one is a name (or a number) inside it, so the address's own EMAIL/URL findings are dropped.
const RECIPIENT_DROP: ReadonlySet<PhiType> = new Set(['EMAIL', 'URL']);

/** The string that `to`/`cc` findings index: the addresses joined with "\n". */
export function recipientFieldText(list: readonly unknown[]): string {
  return list.filter((a): a is string => typeof a === 'string').join('\n');
}

/** The string that `attachment:<i>` findings index: the file name, a newline, then the extracted text. */
export function attachmentFieldText(att: MessageAttachmentInput): string {
  const name = typeof att.name === 'string' ? att.name : '';
  const text = typeof att.text === 'string' ? att.text : '';
  return text ? `${name}\n${text}` : name;
}

export function scanMessage(input: MessageInput, options: MessageScanOptions = {}): MessageScan {
  const { exemptSignature = false, ...scanOptions } = options;
  const fields: FieldFindings[] = [];
  const msg: Partial<Record<keyof MessageInput, unknown>> = isObject(input) ? input : {};

  if (typeof msg.subject === 'string' && msg.subject) {
    push(fields, 'subject', scan(msg.subject, scanOptions));
  }

  if (typeof msg.html === 'string' && msg.html) {
    push(fields, 'body', scanHtml(msg.html, scanOptions, exemptSignature));
  } else if (typeof msg.body === 'string' && msg.body) {
    push(fields, 'body', scanPlain(msg.body, scanOptions, exemptSignature));
  }

  for (const field of ['to', 'cc'] as const) {
    const list = msg[field];
    if (Array.isArray(list) && list.length > 0) push(fields, field, scanRecipients(list, scanOptions));
  }

  if (Array.isArray(msg.attachments)) {
    msg.attachments.forEach((att: unknown, i) => {
      if (isObject(att))
        push(
          fields,
          `attachment:${i}`,
          scanAttachment(att as unknown as MessageAttachmentInput, scanOptions),
        );
    });
  }

  return summarize(fields);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function push(fields: FieldFindings[], field: MessageField, findings: Finding[]): void {
  if (findings.length > 0) fields.push({ field, findings });
}

function summarize(fields: FieldFindings[]): MessageScan {
  const seen = new Set<PhiType>();
  let hasCrisis = false;
  for (const f of fields) {
    for (const finding of f.findings) {
      seen.add(finding.type);
      // "I'm not suicidal" is health content, not a crisis.
      if (finding.type === 'CRISIS' && finding.grade !== 'negated') hasCrisis = true;
    }
  }
  const types = PHI_TYPES.filter((t) => seen.has(t));
  return {
    fields,
    types,
    hasIdentifier: types.some((t) => IDENTIFIER_SET.has(t)),
    hasHealth: types.some((t) => HEALTH_SET.has(t)),
    hasCrisis,
  };
}

function scanPlain(text: string, options: ScanOptions, exemptSignature: boolean): Finding[] {
  const findings = scan(text, options);
  return exemptSignature ? dropSignature(text, findings) : findings;
}

function scanHtml(html: string, options: ScanOptions, exemptSignature: boolean): Finding[] {
  const ht = htmlToText(html);
  let found = scan(ht.text, options);
  if (exemptSignature) {
    found = dropRange(found, signatureRange(ht.text));
    found = dropRange(found, markedSignatureRange(ht));
  }
  const out: Finding[] = [];
  let prevEnd = 0;
  for (const f of found) {
    const r = mapToHtml(ht, f.start, f.end, html.length);
    // Two text units can share one source range (an entity that decodes to a surrogate pair); keep the
    // mapped findings non-overlapping, as scan's are.
    const start = Math.max(r.start, prevEnd);
    if (start >= r.end) continue;
    out.push({ ...f, start, end: r.end, text: html.slice(start, r.end) });
    prevEnd = r.end;
  }
  return out;
}

// Scans a string through a same-length rewrite of it, so offsets found in the rewrite index the original.
function scanRewritten(
  original: string,
  rewritten: string,
  options: ScanOptions,
  drop?: ReadonlySet<PhiType>,
): Finding[] {
  const out: Finding[] = [];
  for (const f of scan(rewritten, options)) {
    if (drop?.has(f.type)) continue;
    out.push({ ...f, text: original.slice(f.start, f.end) });
  }
  return out;
}

function scanRecipients(list: readonly unknown[], options: ScanOptions): Finding[] {
  const entries = list.filter((a): a is string => typeof a === 'string');
  const original = entries.join('\n');
  const rewritten = entries.map(rewriteRecipient).join('\n');
  return scanRewritten(original, rewritten, options, RECIPIENT_DROP);
}

// "Jane Doe" <jane.doe42@example.com>  →   Jane Doe   Jane Doe                 (same length)
// The display name is kept; the local part's words are split and capitalised so the name recognizers
// see "Jane Doe"; the domain is blanked (it names a mail provider or a practice, not a person).
export function rewriteRecipient(entry: string): string {
  const lt = entry.lastIndexOf('<');
  const gt = entry.indexOf('>', lt + 1);
  if (lt >= 0 && gt > lt) {
    return (
      entry.slice(0, lt).replace(/"/g, ' ') +
      ' ' +
      rewriteAddress(entry.slice(lt + 1, gt)) +
      ' ' +
      entry.slice(gt + 1).replace(/[^\s]/g, ' ')
    );
  }
  return entry.includes('@') ? rewriteAddress(entry) : entry.replace(/"/g, ' ');
}

function rewriteAddress(addr: string): string {
  const at = addr.lastIndexOf('@');
  const local = at >= 0 ? addr.slice(0, at) : addr;
  const domain = at >= 0 ? addr.slice(at) : '';
  const words = local
    .replace(/[^\p{L}]/gu, ' ')
    .replace(/\p{L}+/gu, (w) => (w === w.toLowerCase() ? w.charAt(0).toUpperCase() + w.slice(1) : w));
  // toUpperCase can change length for a few letters (ß → SS); fall back to the letters as written then.
  const safe = words.length === local.length ? words : local.replace(/[^\p{L}]/gu, ' ');
  return safe + ' '.repeat(domain.length);
}

function scanAttachment(att: MessageAttachmentInput, options: ScanOptions): Finding[] {
  const original = attachmentFieldText(att);
  // "Jane_Doe_intake.pdf": underscores separate words in file names.
  const name = typeof att.name === 'string' ? att.name : '';
  const rewritten = name.replace(/[_+]/g, ' ') + original.slice(name.length);
  return scanRewritten(original, rewritten, options);
}

// ---------------------------------------------------------------------------------------------------
// Signature blocks.

const SIGN_OFF =
  /^(?:best|best regards|best wishes|regards|kind regards|warm regards|warmest regards|warmly|warm wishes|sincerely|sincerely yours|yours|yours truly|yours sincerely|respectfully|thanks|thanks again|thanks so much|many thanks|thank you|thank you so much|cheers|take care|all the best|with gratitude|gratefully|be well|in health|talk soon|see you soon|with care|with warm regards)\s*[,.!\u2014-]?\s*$/i;
// Clients often strip the trailing space, and HTML bodies carry it as &nbsp;.
const DASH_DASH = /^--[ \u00a0\t]*$/;
// Where the clinician's own text ends and a quoted earlier message starts.
const QUOTE_HEADER =
  /^(?:>|On .{1,200} wrote:\s*$|-{2,}\s*Original Message\s*-{2,}|_{8,}\s*$|From:\s.+|Begin forwarded message)/i;
const POSTSCRIPT = /^P\.?\s?S\.?\b/i;
const MAX_SIGNATURE_LINES = 12;
const MAX_SIGNATURE_CHARS = 900;
const MAX_SIGN_OFF_LINES = 7;

/** The [start, end) range of the signature block in a plain-text body, or null when there is none. */
export function signatureRange(text: string): { start: number; end: number } | null {
  const lines: { start: number; end: number; text: string }[] = [];
  let pos = 0;
  while (pos <= text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl;
    lines.push({ start: pos, end, text: text.slice(pos, end).replace(/\r$/, '') });
    if (nl < 0) break;
    pos = nl + 1;
  }
  // The clinician's own part ends at the first quote header.
  let own = lines.length;
  for (let k = 0; k < lines.length; k++) {
    if (QUOTE_HEADER.test(lines[k]!.text.trim())) {
      own = k;
      break;
    }
  }
  const blockEnd = (from: number): number => {
    for (let k = from; k < own; k++) if (POSTSCRIPT.test(lines[k]!.text.trim())) return k;
    return own;
  };
  const endOffset = (k: number): number => (k < lines.length ? lines[k]!.start : text.length);

  // RFC 3676 §4.3 signature separator: the last "-- " line of the clinician's own text.
  for (let k = own - 1; k >= 0; k--) {
    if (!DASH_DASH.test(lines[k]!.text)) continue;
    const stop = blockEnd(k + 1);
    const start = lines[k]!.start;
    const end = endOffset(stop);
    if (stop - k <= MAX_SIGNATURE_LINES && end - start <= MAX_SIGNATURE_CHARS) return { start, end };
    break;
  }

  // A sign-off line near the end, after some message text, followed only by short lines.
  let nonEmptyAfter = 0;
  for (let k = own - 1; k > 0; k--) {
    const line = lines[k]!.text.trim();
    if (!line) continue;
    if (SIGN_OFF.test(line)) {
      const hasTextBefore = lines.slice(0, k).some((l) => l.text.trim().length > 0);
      const stop = blockEnd(k + 1);
      const start = lines[k]!.start;
      const end = endOffset(stop);
      const shortLines = lines.slice(k + 1, stop).every((l) => l.text.trim().length <= 80);
      if (hasTextBefore && shortLines && end - start <= MAX_SIGNATURE_CHARS) return { start, end };
      return null;
    }
    if (++nonEmptyAfter > MAX_SIGN_OFF_LINES) return null;
  }
  return null;
}

function dropSignature(text: string, findings: Finding[]): Finding[] {
  return dropRange(findings, signatureRange(text));
}

// What a clinician's signature never holds: a medication, a billing or diagnosis code, a patient's
// numbers. A block with any of them, wherever it starts, is message text (a line added under the
// sign-off, a note typed below "-- "), and nothing in it is exempt. A signature may well name a
// diagnosis or a treatment ("Center for Anxiety & Depression", "EMDR therapy"): those alone do not
// disqualify it, or every email of such a practice would be forced into the portal.
const NEVER_IN_SIGNATURE: ReadonlySet<string> = new Set([
  'MEDICATION',
  'ICD10',
  'CPT',
  'SSN',
  'MRN',
  'HEALTH_PLAN_ID',
  'ACCOUNT',
  'DEVICE',
  'VEHICLE',
  'AGE_OVER_89',
]);

function dropRange(findings: Finding[], sig: { start: number; end: number } | null): Finding[] {
  if (!sig) return findings;
  for (const f of findings)
    if (NEVER_IN_SIGNATURE.has(f.type) && f.start < sig.end && f.end > sig.start) return findings;
  // Crisis language is never exempt, signature or not.
  return findings.filter((f) => f.type === 'CRISIS' || f.end <= sig.start || f.start >= sig.end);
}

// HTML signatures that the mail client marked (see html-text.ts): the block runs from the marker to the
// client's quoted message, or to the end. Longer than a signature can be, it is not treated as one.
const MAX_MARKED_SIGNATURE_CHARS = 1500;
function markedSignatureRange(ht: HtmlText): { start: number; end: number } | null {
  if (ht.signatureAt === undefined) return null;
  const start = ht.signatureAt;
  const end = ht.quoteAt !== undefined && ht.quoteAt > start ? ht.quoteAt : ht.text.length;
  const own = ht.text.slice(start, end);
  // A quote header typed as text also ends it.
  const quote = /\n(?:>|On .{1,200} wrote:|-{2,}\s*Original Message|From:\s)/i.exec(own);
  const stop = quote ? start + quote.index : end;
  const ps = /\nP\.?\s?S\.?\b/i.exec(ht.text.slice(start, stop));
  const finish = ps ? start + ps.index : stop;
  return finish - start <= MAX_MARKED_SIGNATURE_CHARS ? { start, end: finish } : null;
}
