import { randomBytes } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { encodeWords, foldLines } from 'nodemailer/lib/mime-funcs/index.js';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp/index.js';
import MimeNode from 'nodemailer/lib/mime-node/index.js';

// Everything a patient or clinician receives, as RFC 5322 messages. Notices carry no PHI
// (CONVENTIONS 13): a generic subject, the practice's name, a link, and nothing about the content,
// the patient or the clinician's words.

export interface Address {
  name?: string;
  address: string;
}

export interface ComposedMail {
  raw: Buffer;
  /** SMTP envelope. */
  from: string;
  to: string[];
  messageId: string;
}

export interface NoticeContent {
  subject: string;
  text: string;
  html: string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// eslint-disable-next-line no-control-regex -- stripping control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f]+/g;

/** Practice names go into headers and HTML: keep them to one line of printable text. */
function oneLine(s: string): string {
  return s.replace(CONTROL_RE, ' ').trim().slice(0, 200);
}

/** "for 30 days" rather than a date: a notice carries no dates at all (a date is a HIPAA identifier element). */
function validFor(expiresAt: string, now: Date): string {
  const ms = Date.parse(expiresAt) - now.getTime();
  const hours = Math.max(1, Math.floor(ms / 3_600_000));
  if (hours < 48) return `${hours} hour${hours === 1 ? '' : 's'}`;
  return `${Math.round(hours / 24)} days`;
}

/**
 * Stamped on every delivery the server sends, with the message id: routed through the gateway (an
 * outbound connector that sends all mail there), the gateway relays it as already secured once it
 * has checked that the id is a message of the sending practice (gateway/outbound.ts).
 */
export const SECURED_HEADER = 'X-Attune-Secured';

/** The secure-link notice: what a patient without an OpenPGP key receives. */
export function secureLinkNotice(opts: {
  practiceName: string;
  url: string;
  expiresAt: string;
  codeRequired: boolean;
  now?: Date;
}): NoticeContent {
  const practice = oneLine(opts.practiceName);
  const subject = `You have a secure message from ${practice}`;
  const codeLine = opts.codeRequired
    ? 'For your protection, the page will ask for a one-time code, which we email to you separately when you ask for it.'
    : '';
  const text = [
    `${practice} has sent you a secure message.`,
    '',
    'Open it here:',
    opts.url,
    '',
    `The link works for ${validFor(opts.expiresAt, opts.now ?? new Date())}. ${codeLine}`.trim(),
    'You can reply securely from the same page.',
    '',
    'If you did not expect this message, you can ignore it.',
  ].join('\n');
  const p = escapeHtml(practice);
  const u = escapeHtml(opts.url);
  const html = `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5;color:#222">
<p>${p} has sent you a secure message.</p>
<p><a href="${u}" style="display:inline-block;padding:10px 18px;background:#2456a6;color:#fff;text-decoration:none;border-radius:4px">Open the secure message</a></p>
<p style="font-size:90%">Or copy this address into your browser:<br>${u}</p>
<p style="font-size:90%">The link works for ${validFor(opts.expiresAt, opts.now ?? new Date())}. ${escapeHtml(codeLine)} You can reply securely from the same page.</p>
<p style="font-size:80%;color:#666">If you did not expect this message, you can ignore it.</p>
</body></html>`;
  return { subject, text, html };
}

/**
 * The notice a client sends itself (request `delivery: "client"`): the secure link of the draft's one
 * recipient, as a fragment to put in a draft body. Same wording as the server's notice. Mail clients
 * cannot set Reply-To from an add-in, so the reply address with the link's token is in the body:
 * a plain-email reply to it reaches the gateway and is captured like a reply to a server notice.
 */
export function draftLinkNotice(opts: {
  practiceName: string;
  url: string;
  replyAddress: string;
  expiresAt: string;
  codeRequired: boolean;
  now?: Date;
}): { text: string; html: string } {
  const full = secureLinkNotice(opts);
  const practice = escapeHtml(oneLine(opts.practiceName));
  const u = escapeHtml(opts.url);
  const r = escapeHtml(opts.replyAddress);
  const codeLine = opts.codeRequired
    ? ' For your protection, the page will ask for a one-time code, which we email to you separately when you ask for it.'
    : '';
  const text = full.text.replace(
    'You can reply securely from the same page.',
    `You can reply securely from the same page, or reply by email to ${opts.replyAddress}.`,
  );
  const html = `<div style="font-family:sans-serif;line-height:1.5">
<p>${practice} has sent you a secure message.</p>
<p><a href="${u}">Open the secure message</a></p>
<p style="font-size:90%">Or copy this address into your browser:<br>${u}</p>
<p style="font-size:90%">The link works for ${validFor(opts.expiresAt, opts.now ?? new Date())}.${escapeHtml(codeLine)} You can reply securely from the same page, or <a href="mailto:${r}">reply by email</a>.</p>
<p style="font-size:80%;color:#666">If you did not expect this message, you can ignore it.</p>
</div>`;
  return { text, html };
}

/** What the add-in puts in the draft in place of the content: PHI-free, no link token. */
export function draftNotice(opts: { practiceName: string; methods: ReadonlyArray<'link' | 'pgp'> }): {
  text: string;
  html: string;
} {
  const practice = oneLine(opts.practiceName);
  const how =
    opts.methods.includes('link') && opts.methods.includes('pgp')
      ? 'Recipients receive it as an encrypted email or as a separate email with a secure link.'
      : opts.methods.includes('pgp')
        ? 'Recipients receive it as an encrypted email.'
        : 'Recipients receive a separate email with a secure link to read it.';
  const text = `This message was sent securely by ${practice}. ${how}`;
  return { text, html: `<p>${escapeHtml(text)}</p>` };
}

export function oneTimeCodeNotice(opts: {
  practiceName: string;
  code: string;
  minutes: number;
}): NoticeContent {
  const practice = oneLine(opts.practiceName);
  const subject = `Your one-time code for ${practice}`;
  const text = [
    `Your one-time code is: ${opts.code}`,
    '',
    `Enter it on the secure message page. It works for ${opts.minutes} minutes.`,
    'If you did not ask for a code, you can ignore this email.',
  ].join('\n');
  const html = `<!doctype html><html><body style="font-family:sans-serif">
<p>Your one-time code is: <strong style="font-size:130%;letter-spacing:2px">${escapeHtml(opts.code)}</strong></p>
<p>Enter it on the secure message page. It works for ${opts.minutes} minutes.</p>
<p style="font-size:80%;color:#666">If you did not ask for a code, you can ignore this email.</p></body></html>`;
  return { subject, text, html };
}

/**
 * Tells a clinician a patient replied. PHI-free: no patient name or address, no words of the reply
 * (it travels over ordinary email); the clinician reads it in Attune. Crisis language makes the
 * notice urgent without saying more.
 */
export function replyNotice(opts: {
  practiceName: string;
  reference: string;
  urgent: boolean;
  /** The reply came by email from another address than the one the message was sent to. */
  otherSender?: boolean;
}): NoticeContent {
  const practice = oneLine(opts.practiceName);
  const subject = opts.urgent
    ? `[Urgent] A secure reply needs your attention (${practice})`
    : `New secure reply (${practice})`;
  const text = [
    opts.urgent
      ? 'A patient replied to your secure message, and the reply may contain crisis language. Please review it now.'
      : 'A patient replied to your secure message.',
    ...(opts.otherSender
      ? [
          '',
          'It came from a different email address than the one your message was sent to: check who wrote it.',
        ]
      : []),
    '',
    'Open Attune in Outlook or Gmail to read it.',
    `Reference: ${opts.reference}`,
  ].join('\n');
  return {
    subject,
    text,
    html: paragraphsHtml(text),
  };
}

/**
 * Tells a clinician that their secure message could not be delivered to some recipients, for good.
 * PHI-free like the reply notice: a generic subject, the practice's name, counts and the message's
 * reference (the add-in's status view names the recipients and the reasons), never a patient's
 * address or name, the subject or the content: it travels over ordinary email.
 */
export function deliveryFailureNotice(opts: {
  practiceName: string;
  reference: string;
  failed: number;
  total: number;
}): NoticeContent {
  const practice = oneLine(opts.practiceName);
  const subject = `A secure message could not be delivered (${practice})`;
  // Wording checked against the shared PHI detector (delivery-outcomes.int.test.ts): "delivered
  // to 5" reads to it like a street address, "failed for 5" does not.
  const who = opts.total === 1 ? 'its recipient' : `${opts.failed} of its ${opts.total} recipients`;
  const text = [
    `Delivery of your secure message failed for ${who}. It will not be tried again for ${opts.failed === 1 ? 'that recipient' : 'them'}.`,
    '',
    'Open Attune in Outlook or Gmail and look up the reference below to see which recipients and why.',
    `Reference: ${opts.reference}`,
  ].join('\n');
  return {
    subject,
    text,
    html: paragraphsHtml(text),
  };
}

/**
 * The notice to the sender of a message the gateway relayed (no secure delivery, no Attune message
 * of theirs) whose copies for some recipients, refused for now by the next hop, failed for good
 * (gateway-mail.ts): one per message per burst, with how many failed. Nothing of the message (no
 * subject, no content) and not the recipients: only the count and the message's reference, which
 * the practice's administrator can look up (it is in the gateway's log line for the message and on
 * each copy's outbox row).
 */
export function relayFailureNotice(opts: {
  practiceName: string;
  reference: string;
  failed: number;
}): NoticeContent {
  const practice = oneLine(opts.practiceName);
  const subject = `A message could not be delivered (${practice})`;
  // "failed for 3", not "delivered to 3": see deliveryFailureNotice.
  const one = opts.failed === 1;
  const text = [
    `A message you sent through ${practice}'s mail gateway was taken for some recipients, but failed for ${one ? 'one' : opts.failed} of them after retries. It will not be tried again for ${one ? 'that recipient' : 'them'}.`,
    '',
    `Your administrator can look up the reference below to see which ${one ? 'recipient' : 'recipients'} and why.`,
    `Reference: ${opts.reference}`,
  ].join('\n');
  return { subject, text, html: paragraphsHtml(text) };
}

/** A plain notice's HTML part: each line of its text a paragraph. */
function paragraphsHtml(text: string): string {
  return `<!doctype html><html><body style="font-family:sans-serif">${text
    .split('\n')
    .map((l) => `<p>${escapeHtml(l)}</p>`)
    .join('')}</body></html>`;
}

/** One notice to one recipient: its addresses, Message-ID and content. */
export interface NoticeMail {
  from: Address;
  to: string;
  replyTo?: string;
  messageId: string;
  content: NoticeContent;
  date?: Date;
  /** Extra header fields, e.g. the X-Attune-Secured stamp. */
  headers?: Record<string, string>;
}

export async function composeSimple(opts: NoticeMail): Promise<ComposedMail> {
  const raw = composeAlternative(opts) ?? (await composeWithNodemailer(opts));
  return { raw, from: opts.from.address, to: [opts.to], messageId: opts.messageId };
}

// Notices are small and always the same shape (headers, then text and HTML alternatives), and the
// outbox composes one per delivery: built here in one pass as a string. nodemailer's MailComposer
// builds the same message through a tree of streams, about a third of the outbox's CPU per notice
// (bench:server profile). Header and body encodings are nodemailer's own functions (RFC 2047
// encoded words, quoted-printable, folding), so the result reads the same to any mail program.
// Anything out of the ordinary (a non-ASCII address, an unusual header) goes to MailComposer.

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** An address we can write as is: printable ASCII, no spaces, quotes, angle brackets or commas. */
const PLAIN_ADDRESS = /^[!#-'*+\-/-9=?A-Z^-~.]+@[A-Za-z0-9.-]+$/;
const HEADER_NAME = /^[A-Za-z0-9-]{1,76}$/;
const BOUNDARY_PREFIX = `--_Att-${randomBytes(6).toString('hex')}-`;
let boundaryCount = 0;

/** An unstructured header field: RFC 2047 encoded words when not plain ASCII, folded at 76. */
function textHeader(name: string, value: string): string {
  return foldLines(`${name}: ${PRINTABLE_ASCII.test(value) ? value : encodeWords(value, 'Q', 52)}`, 76);
}

function addressHeader(a: Address): string {
  if (!a.name) return a.address;
  const name = oneLine(a.name);
  const display = PRINTABLE_ASCII.test(name)
    ? `"${name.replace(/["\\]/g, '\\$&')}"`
    : encodeWords(name, 'Q', 52);
  return `${display} <${a.address}>`;
}

/** One body part: 7bit when it is short-lined ASCII, quoted-printable otherwise. */
function textPart(contentType: string, body: string): string {
  const crlf = body.replace(/\r?\n/g, '\r\n');
  const sevenBit =
    PRINTABLE_ASCII.test(crlf.replace(/\r\n/g, '')) && crlf.split('\r\n').every((l) => l.length <= 76);
  return sevenBit
    ? `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${crlf}`
    : `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qpWrap(qpEncode(crlf), 76)}`;
}

/** The notice as multipart/alternative, or null when it needs MailComposer's general handling. */
export function composeAlternative(opts: NoticeMail): Buffer | null {
  const extra = Object.entries(opts.headers ?? {});
  if (
    !PLAIN_ADDRESS.test(opts.from.address) ||
    !PLAIN_ADDRESS.test(opts.to) ||
    (opts.replyTo !== undefined && !PLAIN_ADDRESS.test(opts.replyTo)) ||
    !/^<[!-;=?-~]{1,900}>$/.test(opts.messageId) ||
    extra.some(([k, v]) => !HEADER_NAME.test(k) || !PRINTABLE_ASCII.test(v) || v.length > 900)
  ) {
    return null;
  }
  const boundary = `${BOUNDARY_PREFIX}${(boundaryCount++).toString(36)}`;
  const lines = [
    ...extra.map(([k, v]) => foldLines(`${k}: ${v}`, 76)),
    foldLines(`From: ${addressHeader(opts.from)}`, 76),
    `To: ${opts.to}`,
    ...(opts.replyTo ? [foldLines(`Reply-To: ${opts.replyTo}`, 76)] : []),
    textHeader('Subject', opts.content.subject.replace(/[\r\n]+/g, ' ')),
    `Message-ID: ${opts.messageId}`,
    `Date: ${(opts.date ?? new Date()).toUTCString().replace(/GMT/, '+0000')}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    textPart('text/plain', opts.content.text),
    `--${boundary}`,
    textPart('text/html', opts.content.html),
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

async function composeWithNodemailer(opts: NoticeMail): Promise<Buffer> {
  return new MailComposer({
    from: opts.from,
    to: opts.to,
    ...(opts.replyTo ? { replyTo: opts.replyTo } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
    subject: opts.content.subject,
    text: opts.content.text,
    html: opts.content.html,
    messageId: opts.messageId,
    date: opts.date ?? new Date(),
  })
    .compile()
    .build();
}

export interface InnerContent {
  subject: string;
  text?: string | undefined;
  html?: string | undefined;
  attachments: ReadonlyArray<{ filename: string; contentType: string; content: Buffer }>;
}

/**
 * The inner MIME entity of a PGP/MIME message: the real subject (protected header), text, HTML and
 * attachments. It travels only inside the encryption.
 */
export async function composeInnerEntity(opts: {
  from: Address;
  to: string;
  content: InnerContent;
  date?: Date;
}): Promise<Buffer> {
  const composer = new MailComposer({
    from: opts.from,
    to: opts.to,
    subject: opts.content.subject,
    ...(opts.content.text !== undefined ? { text: opts.content.text } : {}),
    ...(opts.content.html !== undefined ? { html: opts.content.html } : {}),
    attachments: opts.content.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
    })),
    date: opts.date ?? new Date(),
  });
  const node = composer.compile();
  // Only the entity's own headers belong inside; the outer message carries the routing headers.
  // Subject stays, marked as a protected header so mail programs can show it.
  return node.build();
}

/**
 * RFC 3156 section 4: multipart/encrypted; protocol="application/pgp-encrypted", a version part
 * and the OpenPGP message (signed and encrypted, section 6.2). The outer subject is generic: headers
 * are not encrypted.
 */
export async function composePgpMime(opts: {
  from: Address;
  to: string;
  replyTo?: string;
  messageId: string;
  outerSubject: string;
  armoredMessage: string;
  date?: Date;
  headers?: Record<string, string>;
}): Promise<ComposedMail> {
  const root = new MimeNode('multipart/encrypted; protocol="application/pgp-encrypted"');
  root.setHeader({
    From: formatAddress(opts.from),
    To: opts.to,
    Subject: opts.outerSubject,
    'Message-ID': opts.messageId,
    Date: (opts.date ?? new Date()).toUTCString().replace(/GMT/, '+0000'),
    'MIME-Version': '1.0',
  });
  if (opts.replyTo) root.setHeader('Reply-To', opts.replyTo);
  for (const [k, v] of Object.entries(opts.headers ?? {})) root.setHeader(k, v);
  root
    .createChild('application/pgp-encrypted')
    .setHeader('Content-Description', 'PGP/MIME version identification')
    .setHeader('Content-Transfer-Encoding', '7bit')
    .setContent('Version: 1\r\n');
  root
    .createChild('application/octet-stream; name="encrypted.asc"')
    .setHeader('Content-Description', 'OpenPGP encrypted message')
    .setHeader('Content-Disposition', 'inline; filename="encrypted.asc"')
    .setHeader('Content-Transfer-Encoding', '7bit')
    .setContent(opts.armoredMessage);
  const raw = await root.build();
  return { raw, from: opts.from.address, to: [opts.to], messageId: opts.messageId };
}

function formatAddress(a: Address): string {
  if (!a.name) return a.address;
  // Quote the display name; MimeNode encodes non-ASCII as an RFC 2047 encoded word.
  return `"${oneLine(a.name).replace(/["\\]/g, '')}" <${a.address}>`;
}
