import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { fastParse } from './fast-parse.ts';
import { readHeaders, type RawHeaders } from './marker.ts';
import sanitizeHtml from 'sanitize-html';
import type { MessageInput } from '@attune/shared/phi';
import { MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, type SendMessageRequest } from '@attune/shared/api';
import type { ScannedAttachment } from '../attachments/index.ts';

// From raw RFC 5322 bytes to what the detector scans and what the secure-send pipeline takes.

/** Attachments whose text is read without the extraction module (scanInput without `scanned`). */
const TEXT_TYPES = /^(text\/|application\/(json|xml|csv|x-csv|rtf|x-yaml|yaml)\b|message\/)/i;
const MAX_TEXT_ATTACHMENT_BYTES = 2 * 1024 * 1024;

/**
 * Attachments the detector cannot read. With `scanned` (attachments/extractAll over the same
 * attachments), those whose contents could not be extracted, or only in part: encrypted or scanned
 * PDFs, images, legacy binary Office files, archives, files past a limit. Without it, anything but
 * small text.
 */
export function hasUnreadableAttachment(mail: MailView, scanned?: readonly ScannedAttachment[]): boolean {
  if (scanned) return scanned.some((s) => s.unreadable !== undefined);
  return mail.attachments.some(
    (a) => !(TEXT_TYPES.test(a.contentType) && a.content.length <= MAX_TEXT_ATTACHMENT_BYTES),
  );
}

/** What the gateway reads from a message, whichever parser produced it. */
export interface MailView {
  subject: string;
  /** Decoded text/plain part, if any. */
  text: string | undefined;
  /** Decoded text/html part, if any. */
  html: string | null;
  /** Addresses (lower-case) in From and Cc. */
  from: string[];
  cc: string[];
  attachments: Array<{
    filename: string | undefined;
    contentType: string;
    content: Buffer;
    related: boolean;
    contentId: string | undefined;
  }>;
}

/** The fast path for simple mail, mailparser for everything else. */
export async function parse(raw: Buffer, headers: RawHeaders = readHeaders(raw)): Promise<MailView> {
  return fastParse(raw, headers) ?? fromParsed(await parseFully(raw));
}

export function fromParsed(mail: ParsedMail): MailView {
  return {
    subject: mail.subject ?? '',
    text: mail.text,
    html: typeof mail.html === 'string' && mail.html ? mail.html : null,
    from: addresses(mail.from),
    cc: addresses(mail.cc),
    attachments: mail.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
      related: a.related,
      contentId: a.contentId,
    })),
  };
}

export async function parseFully(raw: Buffer): Promise<ParsedMail> {
  return simpleParser(raw, {
    // The detector turns HTML into text itself (offsets then refer to the HTML); skipping
    // mailparser's conversions halves the parse cost.
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipImageLinks: true,
    maxHtmlLengthToParse: 5 * 1024 * 1024,
  });
}

export function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  if (!field) return [];
  const out: string[] = [];
  for (const obj of Array.isArray(field) ? field : [field]) {
    const walk = (list: typeof obj.value): void => {
      for (const a of list) {
        if (a.address) out.push(a.address.toLowerCase());
        if (a.group) walk(a.group);
      }
    };
    walk(obj.value);
  }
  return out;
}

export function fromAddress(mail: MailView): string | null {
  return mail.from[0] ?? null;
}

const WORD = /[\p{L}\p{N}]+/gu;

/**
 * Whether the plain part says something the HTML part does not (a word absent from the HTML). The
 * detector reads the HTML of a multipart/alternative message; a plain part that differs would reach
 * plain-text mail clients unscanned, so the gateway scans it too.
 */
export function plainAddsWords(text: string, html: string): boolean {
  const inHtml = new Set(html.toLowerCase().match(WORD) ?? []);
  for (const w of text.toLowerCase().match(WORD) ?? []) if (!inHtml.has(w)) return true;
  return false;
}

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13) || c === 0xa0;

// Character references that stand for punctuation or a space (never a letter or digit), decoded by
// plainIsHtmlText; any other reference makes it answer false.
const PUNCT_ENTITIES: Record<string, number> = {
  amp: 38,
  lt: 60,
  gt: 62,
  quot: 34,
  apos: 39,
  '#39': 39,
  '#34': 34,
  '#38': 38,
  nbsp: 0xa0,
};

/**
 * The common case of plainAddsWords, in one pass and without allocating: the plain part reads, word
 * for word and character for character, as the text of the HTML part, where tags and runs of
 * whitespace on either side count as one separator and a few references to punctuation
 * (&amp; &nbsp; …) are decoded. Every character it matches is then literally in the HTML source
 * and every word of the plain part is a run of the same letters there, between non-letters: so true
 * implies plainAddsWords(text, html) is false. False means only "not shown this way" (a different
 * case, an entity for a letter, a word added or missing…): plainAddsWords then decides.
 */
export function plainIsHtmlText(text: string, html: string): boolean {
  const tn = text.length;
  const hn = html.length;
  let i = 0;
  let j = 0;
  let first = true;
  for (;;) {
    // Runs of the same ordinary characters on both sides (most of a body), in a tight loop.
    const i0 = i;
    while (i < tn && j < hn) {
      const c = text.charCodeAt(i);
      if (c !== html.charCodeAt(j) || c <= 32 || c === 60 || c === 38 || c === 0xa0) break;
      i++;
      j++;
    }
    if (i > i0) first = false;
    // The next character of the plain part, and whether a separator came before it.
    let tSep = false;
    while (i < tn && isSpace(text.charCodeAt(i))) {
      i++;
      tSep = true;
    }
    // The next character the HTML shows.
    let hSep = false;
    let h = -1;
    while (j < hn) {
      const c = html.charCodeAt(j);
      if (isSpace(c)) {
        j++;
        hSep = true;
      } else if (c === 60 /* < */) {
        const end = html.indexOf('>', j + 1);
        if (end < 0) return false;
        j = end + 1;
        hSep = true;
      } else if (c === 38 /* & */) {
        const semi = html.indexOf(';', j + 1);
        if (semi < 0 || semi - j > 6) return false;
        const v = PUNCT_ENTITIES[html.slice(j + 1, semi)];
        if (v === undefined) return false;
        j = semi + 1;
        if (v === 0xa0) hSep = true;
        else {
          h = v;
          break;
        }
      } else {
        h = c;
        j++;
        break;
      }
    }
    if (i >= tn) return h < 0;
    if (h < 0) return false;
    if (text.charCodeAt(i) !== h || (!first && tSep !== hSep)) return false;
    i++;
    first = false;
  }
}

/**
 * The detector's view of the message. `scanned` (attachments/extractAll over mail.attachments, in
 * order) gives the attachments' extracted text (PDF, Office, RTF, HTML…); without it only text
 * attachments are read.
 */
export function scanInput(
  mail: MailView,
  envelopeTo: readonly string[],
  scanned?: readonly ScannedAttachment[],
): MessageInput {
  const html = mail.html;
  const extra =
    html !== null && mail.text && !plainIsHtmlText(mail.text, html) && plainAddsWords(mail.text, html)
      ? [{ name: 'text part', text: mail.text }]
      : [];
  // With an HTML part the detector scans the HTML (what the recipient sees); the plain part of a
  // multipart/alternative is derived from it. Without one, the plain part is the body.
  return {
    subject: mail.subject,
    ...(html !== null ? { html } : { body: mail.text ?? '' }),
    to: envelopeTo,
    cc: mail.cc,
    attachments: [
      ...mail.attachments.map((a, i) => {
        const text = scanned
          ? scanned[i]?.text
          : TEXT_TYPES.test(a.contentType) && a.content.length <= MAX_TEXT_ATTACHMENT_BYTES
            ? a.content.toString('utf8')
            : undefined;
        return { name: a.filename ?? `attachment-${i + 1}`, ...(text ? { text } : {}) };
      }),
      ...extra,
    ],
  };
}

export type ToRequest =
  | { ok: true; request: SendMessageRequest }
  | { ok: false; reason: 'too_many_attachments' | 'attachment_too_large' };

/**
 * The secure-send request for a message. Recipients come from the envelope (they include Bcc, which
 * the headers do not); those named in Cc stay in cc.
 */
export function toSendRequest(mail: MailView, envelopeTo: readonly string[]): ToRequest {
  const files = mail.attachments.filter((a) => !a.related || !a.contentId);
  if (files.length > MAX_ATTACHMENTS) return { ok: false, reason: 'too_many_attachments' };
  if (files.some((a) => a.content.length > MAX_ATTACHMENT_BYTES))
    return { ok: false, reason: 'attachment_too_large' };
  const cc = new Set(mail.cc);
  const to = envelopeTo.filter((a) => !cc.has(a));
  const ccList = envelopeTo.filter((a) => cc.has(a));
  const html = mail.html ?? undefined;
  const text = mail.text ?? (html === undefined ? '' : undefined);
  return {
    ok: true,
    request: {
      // If every envelope recipient is also in Cc, keep one in `to` (the contract needs one).
      to: to.length > 0 ? to : ccList.slice(0, 1),
      cc: to.length > 0 ? ccList : ccList.slice(1),
      subject: mail.subject.slice(0, 998),
      ...(text !== undefined ? { text } : {}),
      ...(html !== undefined ? { html } : {}),
      attachments: files.map((a, i) => ({
        filename: (a.filename ?? `attachment-${i + 1}`).slice(0, 255),
        contentType: a.contentType || 'application/octet-stream',
        contentBase64: a.content.toString('base64'),
      })),
      topics: [],
      checkIn: false,
    },
  };
}

/** The patient's own words from a reply: text part (or HTML as text), quoted notice removed. */
export function replyText(mail: MailView): string {
  let text = mail.text ?? '';
  if (!text.trim() && mail.html !== null) {
    text = sanitizeHtml(mail.html.replace(/<(br|\/p|\/div|\/li)\b[^>]*>/gi, '\n'), {
      allowedTags: [],
      allowedAttributes: {},
    });
  }
  return stripQuoted(text);
}

/** Drop the quoted original: '>' lines and everything after an "On … wrote:" or Outlook header. */
export function stripQuoted(text: string): string {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const out: string[] = [];
  for (const line of lines) {
    if (/^\s*On .{1,200}wrote:\s*$/.test(line)) break;
    if (/^-{2,}\s*Original Message\s*-{2,}/i.test(line)) break;
    if (/^_{10,}\s*$/.test(line)) break;
    if (/^From: .+/.test(line) && out.length > 0 && out[out.length - 1]!.trim() === '') break;
    if (/^\s*>/.test(line)) continue;
    out.push(line);
  }
  return out.join('\n').trim();
}
