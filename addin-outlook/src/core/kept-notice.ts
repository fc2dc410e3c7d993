// "Keep it" after a lost answer: the earlier version stands, and when it was client-delivered (the
// send handler's secure send to one secure-link recipient: the draft was to be that patient's only
// email with the link, and the server emails nothing) its notice never reached this draft. The
// pane puts that notice in the draft (POST /v1/messages/{id}/notice: the same link, not a new one)
// and notes the message in the item's sessionData; on the next Send the handler sees the note and
// makes the draft that notice again (as its automatic secure send does) and lets it go, instead of
// scanning the notice (its link to a known patient would be taken for PHI and secured again).
import type { MessageNoticeResponse } from '@attune/shared/api';
import type { Draft } from './draft.ts';
import { officeCall } from './office-async.ts';

/** The sessionData entry naming the kept earlier message (an id, never content). */
export const KEPT_NOTICE_ENTRY = 'attune.keptEarlierMessage';
/** The header a transport rule keys on to route secured mail (see the README). */
export const SECURED_HEADER = 'x-attune-secured';
/** Replaces a subject that itself contained PHI: the notice must not carry it (CONVENTIONS 13). */
export const NEUTRAL_SUBJECT = 'Secure message';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

type WithSessionData = Office.MessageCompose & { sessionData?: Office.SessionData };

function sessionDataOf(item: Office.MessageCompose): Office.SessionData | undefined {
  const sd = (item as WithSessionData).sessionData;
  return sd && typeof sd.getAsync === 'function' && typeof sd.setAsync === 'function' ? sd : undefined;
}

/** Notes the kept message on the item; false when this host cannot keep it (no sessionData). */
export async function rememberKept(item: Office.MessageCompose, messageId: string): Promise<boolean> {
  const sd = sessionDataOf(item);
  if (!sd || !ID.test(messageId)) return false;
  try {
    await officeCall<void>('sessionData.setAsync', (cb) => sd.setAsync(KEPT_NOTICE_ENTRY, messageId, cb));
    return true;
  } catch {
    return false;
  }
}

/** The kept message noted on the item, if any. */
export async function keptMessageId(item: Office.MessageCompose): Promise<string | undefined> {
  const sd = sessionDataOf(item);
  if (!sd) return undefined;
  try {
    const v = await officeCall<string>('sessionData.getAsync', (cb) => sd.getAsync(KEPT_NOTICE_ENTRY, cb));
    return typeof v === 'string' && ID.test(v) ? v : undefined;
  } catch {
    // Never set: some hosts report a failure, others an empty value.
    return undefined;
  }
}

/** Forgets the note (the kept message was revoked or expired: there is no notice to send). */
export async function forgetKept(item: Office.MessageCompose): Promise<void> {
  const sd = sessionDataOf(item);
  // Older hosts' sessionData may lack removeAsync: the note then stays, and Send keeps saying why.
  if (!sd || typeof (sd as { removeAsync?: unknown }).removeAsync !== 'function') return;
  try {
    await officeCall<void>('sessionData.removeAsync', (cb) => sd.removeAsync(KEPT_NOTICE_ENTRY, cb));
  } catch {
    // Nothing to forget.
  }
}

/**
 * The one recipient the notice's link was issued to (delivery "client"), or null when the server
 * emails every recipient itself (several recipients, OpenPGP, scheduled).
 */
export function clientRecipient(notice: MessageNoticeResponse): string | null {
  return notice.recipients.find((r) => r.delivery === 'client')?.email.toLowerCase() ?? null;
}

/** A link is a personal credential: the draft must go to its recipient and nobody else. */
export function goesOnlyTo(draft: Draft, email: string): boolean {
  const all = [...new Set([...draft.to, ...draft.cc, ...draft.bcc].map((a) => a.toLowerCase()))];
  return all.length === 1 && all[0] === email;
}

/**
 * Makes the draft the notice: body, subject (when it held PHI), no attachments, the secured stamp.
 * Throws an OfficeCallError when Outlook refuses a write; applying it again is harmless.
 */
export async function applyNotice(
  item: Office.MessageCompose,
  draft: Draft,
  notice: MessageNoticeResponse,
  subjectHasPhi: boolean,
): Promise<void> {
  await officeCall<void>('body.setAsync', (cb) =>
    item.body.setAsync(notice.notice.html, { coercionType: Office.CoercionType.Html }, cb),
  );
  if (subjectHasPhi)
    await officeCall<void>('subject.setAsync', (cb) => item.subject.setAsync(NEUTRAL_SUBJECT, cb));
  for (const a of draft.attachments) {
    await officeCall<void>('removeAttachmentAsync', (cb) => item.removeAttachmentAsync(a.id, cb));
  }
  await officeCall<void>('internetHeaders.setAsync', (cb) =>
    item.internetHeaders.setAsync({ [SECURED_HEADER]: notice.id }, cb),
  );
}
