import { htmlToText, type MessageInput } from '@attune/shared/phi';
import { DEFAULT_EXTRACT_LIMITS, type ExtractLimits } from './limits.ts';
import { officeText } from './office.ts';
import { pdfText } from './pdf.ts';
import { rtfText } from './rtf.ts';
import { isZip } from './zip.ts';
import type { AttachmentKind, Extracted, UnreadableReason } from './types.ts';

// An attachment's text for the PHI scan: what kind of document it is (its bytes first, then its
// content type and file name, since a client may label a PDF application/octet-stream), then the
// reader for that kind. Nothing here logs, and nothing throws for bad input: a file that cannot be
// read is a value (`ok: false` with a stable reason) that the callers treat conservatively.

export interface AttachmentFile {
  filename: string | undefined;
  contentType: string;
  bytes: Uint8Array;
}

/** Text types read as UTF-8 (text/*, JSON, XML, CSV, YAML, iCalendar, message/*). */
const TEXT_TYPES = /^(text\/|application\/(json|xml|csv|x-csv|x-yaml|yaml|ics)\b|message\/)/i;
const TEXT_NAMES = /\.(txt|csv|tsv|json|xml|ya?ml|md|ics|vcf|eml|log)$/i;

export function kindOf(file: AttachmentFile): AttachmentKind {
  const b = file.bytes;
  const type = file.contentType.toLowerCase().split(';')[0]!.trim();
  const name = (file.filename ?? '').toLowerCase();
  const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 1024)).toString('latin1');
  if (head.includes('%PDF-') || type === 'application/pdf' || name.endsWith('.pdf')) return 'pdf';
  if (head.startsWith('{\\rtf') || type === 'application/rtf' || type === 'text/rtf' || name.endsWith('.rtf'))
    return 'rtf';
  if (isZip(b)) return 'office';
  if (type === 'text/html' || type === 'application/xhtml+xml' || /\.x?html?$/.test(name)) return 'html';
  if (TEXT_TYPES.test(type) || TEXT_NAMES.test(name)) return 'text';
  return 'other';
}

/** The text of one attachment, within the limits. */
export async function extractText(
  file: AttachmentFile,
  limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
): Promise<Extracted> {
  if (file.bytes.length > limits.maxInputBytes) return { ok: false, reason: 'too_large' };
  try {
    switch (kindOf(file)) {
      case 'pdf':
        return await pdfText(file.bytes, limits);
      case 'office':
        return officeText(file.bytes, limits);
      case 'rtf': {
        const r = rtfText(utf8(file.bytes, limits.maxChars * 8), limits.maxChars);
        return done(r.text, r.truncated);
      }
      case 'html': {
        const html = utf8(file.bytes, limits.maxChars * 4);
        return done(htmlToText(html).text.slice(0, limits.maxChars), html.length >= limits.maxChars * 4);
      }
      case 'text': {
        const text = utf8(file.bytes, limits.maxChars);
        return done(text, text.length >= limits.maxChars);
      }
      case 'other':
        return { ok: false, reason: 'unsupported' };
    }
  } catch {
    // A reader's own bug on odd input: the file is unreadable, the send goes on conservatively.
    return { ok: false, reason: 'corrupt' };
  }
}

function done(text: string, truncated: boolean): Extracted {
  return truncated
    ? { ok: true, text, complete: false, reason: 'truncated' }
    : { ok: true, text, complete: true };
}

/** The first `maxChars` characters' worth of UTF-8 (at most 4 bytes a character are decoded). */
function utf8(bytes: Uint8Array, maxChars: number): string {
  const slice = bytes.length > maxChars * 4 ? bytes.subarray(0, maxChars * 4) : bytes;
  return Buffer.from(slice.buffer, slice.byteOffset, slice.length).toString('utf8').slice(0, maxChars);
}

/** One attachment as the scan and the reasons need it. */
export interface ScannedAttachment {
  kind: AttachmentKind;
  /** The text to scan (absent when none could be read). */
  text?: string;
  /** Set when the contents could not be read, or only in part: then they are treated as unreadable. */
  unreadable?: UnreadableReason;
}

/**
 * Every attachment's text, in order, at most ExtractLimits.maxTotalChars together. PDFs go to the PDF
 * threads (pdf.ts); the rest is read here.
 * Callers run this only when a message has attachments, so the send path without them is untouched.
 */
export async function extractAll(
  files: readonly AttachmentFile[],
  limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
): Promise<ScannedAttachment[]> {
  const read = await Promise.all(
    files.map(async (f): Promise<ScannedAttachment> => {
      const kind = kindOf(f);
      const r = await extractText(f, limits);
      if (!r.ok) return { kind, unreadable: r.reason };
      return r.complete ? { kind, text: r.text } : { kind, text: r.text, unreadable: r.reason };
    }),
  );
  // The message's budget, in attachment order: past it, text is cut and the file counts as partly
  // unread ('truncated'), so the send takes the conservative path for it.
  let left = limits.maxTotalChars;
  for (const a of read) {
    if (a.text === undefined) continue;
    if (a.text.length > left) {
      if (left > 0) a.text = a.text.slice(0, left);
      else delete a.text;
      a.unreadable = 'truncated';
    }
    left = Math.max(0, left - (a.text?.length ?? 0));
  }
  return read;
}

/**
 * What the PHI scan reads of a message whose attachments were extracted (extractAll, same order):
 * each attachment's file name and, when it could be read, its text. For POST /v1/messages and
 * POST /v1/scan alike.
 */
export function scanInputOf(
  req: {
    subject?: string | undefined;
    text?: string | undefined;
    html?: string | undefined;
    to: string[];
    cc: string[];
  },
  attachments: readonly { filename: string }[],
  files: readonly ScannedAttachment[],
): MessageInput {
  return {
    ...(req.subject !== undefined ? { subject: req.subject } : {}),
    ...(req.text !== undefined ? { body: req.text } : {}),
    ...(req.html !== undefined ? { html: req.html } : {}),
    to: req.to,
    cc: req.cc,
    attachments: attachments.map((a, i) => {
      const text = files[i]?.text;
      return { name: a.filename, ...(text ? { text } : {}) };
    }),
  };
}
