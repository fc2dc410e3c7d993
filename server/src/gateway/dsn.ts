import { randomBytes } from 'node:crypto';
import { headerValues, type RawHeaders } from './marker.ts';

// The delivery status notification (RFC 3464) the gateway sends when the next hop took a message
// for some recipients and refused others for good. Once any recipient has it, the transaction is
// answered 250 (RFC 5321 3.6, 4.2.5): a 5xx would make the sender's server bounce the whole message
// ("not delivered") or send it again to everyone, the recipients who have it included. The refused
// recipients are reported to the envelope sender in this multipart/report instead.
//
// PHI-free by construction: the human-readable part names the refused addresses and the reason in
// fixed words, the status part carries the next hop's reply (addresses redacted), and of the
// original only a few headers are returned (text/rfc822-headers, RFC 3462): From (the address
// alone), Date and Message-ID, enough for the sender's mail program to match the report to the
// message. Never the Subject (it may name a patient or a diagnosis), never a body.

export interface Refusal {
  /** The refused envelope recipient. */
  address: string;
  /** The next hop's reply code, when known. */
  code: number | null;
  /** Its enhanced status code (RFC 3463), when it gave one. */
  status: string | null;
  /** Its reply text, addresses redacted. */
  text: string;
}

export interface DsnInput {
  /** The gateway's host name (Reporting-MTA). */
  reportingMta: string;
  /** The report's From address (the practice domain's MAILER-DAEMON, or as configured). */
  from: string;
  /** The original envelope sender, who gets the report. */
  to: string;
  refusals: readonly Refusal[];
  /** How many recipients the next hop accepted. */
  delivered: number;
  /** How many it refused only for now: their copies are retried (outbound.ts refusedInPart). */
  pending?: number;
  /** The original message's header block. */
  headers: RawHeaders;
  /** The original From address (lower-case), if any. */
  originalFrom: string | null;
  arrivedAt: Date;
  now?: Date;
  /**
   * The report's id (Message-ID local part and MIME boundary), [A-Za-z0-9_-]: derive it from the
   * transaction and the refused recipients (outbound.ts), so a retried transaction composes the
   * same report and the outbox, keyed by the Message-ID, queues it once. Random when absent.
   */
  id?: string;
}

export interface ComposedDsn {
  raw: Buffer;
  /** The report's Message-ID, angle brackets included (the outbox marks mail by it). */
  messageId: string;
}

/** RFC 5322 date-time in UTC. */
function rfc5322Date(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

/** A header value from the original as printable ASCII on one line, or null when it is not that. */
function plainValue(v: string | undefined, max: number): string | null {
  const s = v?.trim();
  return s && s.length <= max && /^[\x20-\x7e]+$/.test(s) ? s : null;
}

/** An address as a header or DSN field may carry it: no line breaks, angle brackets or spaces. */
function bareAddress(a: string): string {
  return a.replace(/[\s<>]/g, '').slice(0, 320);
}

/** Status of a permanent refusal: the next hop's own when it gave a 5.x.x, else 5.0.0. */
function statusOf(r: Refusal): string {
  return r.status?.startsWith('5.') ? r.status : '5.0.0';
}

/** The reason in plain words, from the status class (RFC 3463 subjects), never the next hop's text. */
function reasonOf(r: Refusal): string {
  const s = statusOf(r);
  if (s.startsWith('5.1.')) return 'the receiving mail server does not accept this address; it may not exist';
  if (s.startsWith('5.2.')) return 'the mailbox is full or unavailable';
  if (s.startsWith('5.7.')) return 'the receiving mail server refused it under its own rules';
  return 'the receiving mail server refused it';
}

export function composeDsn(input: DsnInput): ComposedDsn {
  const now = input.now ?? new Date();
  const domain = input.from.slice(input.from.lastIndexOf('@') + 1) || input.reportingMta;
  const id = input.id?.replace(/[^\w-]/g, '').slice(0, 64) || randomBytes(12).toString('hex');
  const messageId = `<dsn-${id}@${domain}>`;
  const boundary = `attune-dsn-${id}`;
  const mta = input.reportingMta.replace(/[^\w.:[\]-]/g, '');
  const refused = input.refusals.map((r) => ({ ...r, address: bareAddress(r.address) }));

  const human = [
    `This is the mail gateway at ${mta}.`,
    '',
    input.delivered > 0
      ? `Your message was delivered to ${input.delivered} recipient${input.delivered === 1 ? '' : 's'}, but it could not be delivered to the following:`
      : 'Your message could not be delivered to the following:',
    '',
    ...refused.map((r) => `  <${r.address}>: ${reasonOf(r)} (${statusOf(r)}).`),
    '',
    'This is a permanent failure: the message will not be tried again for these recipients.',
    ...((input.pending ?? 0) > 0
      ? [
          `${input.pending} other recipient${input.pending === 1 ? '' : 's'} could not take it yet: delivery to them is being retried.`,
        ]
      : []),
    ...(input.delivered > 0
      ? [
          (input.pending ?? 0) > 0
            ? 'The recipients who received it need not be sent it again.'
            : 'The other recipients have received it; there is no need to send it to them again.',
        ]
      : []),
    '',
    'The technical report follows.',
  ].join('\r\n');

  const status = [
    `Reporting-MTA: dns; ${mta}`,
    `Arrival-Date: ${rfc5322Date(input.arrivedAt)}`,
    ...refused.flatMap((r) => {
      const diag = r.text.replace(/[^\x20-\x7e]+/g, ' ').trim() || (r.code !== null ? String(r.code) : '');
      return [
        '',
        `Final-Recipient: rfc822; ${r.address}`,
        'Action: failed',
        `Status: ${statusOf(r)}`,
        ...(diag ? [`Diagnostic-Code: smtp; ${diag.slice(0, 200)}`] : []),
      ];
    }),
  ].join('\r\n');

  // The original's identifying headers only: the Subject may carry PHI and is never returned.
  const original: string[] = [];
  if (input.originalFrom) original.push(`From: <${bareAddress(input.originalFrom)}>`);
  const date = plainValue(headerValues(input.headers, 'date')[0], 100);
  if (date) original.push(`Date: ${date}`);
  const mid = plainValue(headerValues(input.headers, 'message-id')[0], 250);
  if (mid && /^<[^\s<>]+>$/.test(mid)) original.push(`Message-ID: ${mid}`);

  const raw = [
    `From: Mail Delivery System <${input.from}>`,
    `To: <${bareAddress(input.to)}>`,
    'Subject: Undelivered mail: some recipients did not receive your message',
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: ${messageId}`,
    // RFC 3834: machine-generated in answer to a message; keeps vacation responders quiet.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Description: Notification',
    '',
    human,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    '',
    status,
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    'Content-Description: Undelivered message headers (subject and content not included)',
    '',
    ...original,
    '',
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return { raw: Buffer.from(raw, 'utf8'), messageId };
}
