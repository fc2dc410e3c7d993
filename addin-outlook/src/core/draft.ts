// Reading the message being composed, through Office.js, into plain data.
import { officeCall } from './office-async.ts';

export interface DraftAttachment {
  id: string;
  name: string;
  /** Office.MailboxEnums.AttachmentType: "file" | "item" | "cloud". */
  kind: string;
  isInline: boolean;
  size: number;
}

export interface Draft {
  subject: string;
  html: string;
  to: string[];
  cc: string[];
  bcc: string[];
  attachments: DraftAttachment[];
}

type Item = Office.MessageCompose;

export function composeItem(): Item {
  return Office.context.mailbox.item as Item;
}

export async function readDraft(item: Item): Promise<Draft> {
  const [subject, html, to, cc, bcc, attachments] = await Promise.all([
    officeCall<string>('subject.getAsync', (cb) => item.subject.getAsync(cb)),
    officeCall<string>('body.getAsync', (cb) => item.body.getAsync(Office.CoercionType.Html, cb)),
    recipients(item.to, 'to.getAsync'),
    recipients(item.cc, 'cc.getAsync'),
    item.bcc ? recipients(item.bcc, 'bcc.getAsync') : Promise.resolve([]),
    officeCall<Office.AttachmentDetailsCompose[]>('getAttachmentsAsync', (cb) =>
      item.getAttachmentsAsync(cb),
    ),
  ]);
  return {
    subject: subject ?? '',
    html: html ?? '',
    to,
    cc,
    bcc,
    attachments: (attachments ?? []).map((a) => ({
      id: a.id,
      name: a.name,
      kind: String(a.attachmentType),
      isInline: Boolean(a.isInline),
      size: a.size,
    })),
  };
}

async function recipients(field: Office.Recipients, op: string): Promise<string[]> {
  const list = await officeCall<Office.EmailAddressDetails[]>(op, (cb) => field.getAsync(cb));
  return (list ?? []).map((r) => r.emailAddress.trim().toLowerCase()).filter((e) => e.length > 0);
}
