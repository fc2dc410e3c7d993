// Reading attachment contents for secure delivery (handler and compose pane).
import type { Attachment } from '@attune/shared/api';
import { base64FromUtf8 } from './base64.ts';
import type { DraftAttachment } from './draft.ts';
import { officeCall } from './office-async.ts';

export type CollectResult = { ok: true; attachments: Attachment[] } | { ok: false; reason: 'cloud' };

const CONTENT_TYPES: Record<string, string> = {
  pdf: 'application/pdf',
  txt: 'text/plain',
  csv: 'text/csv',
  htm: 'text/html',
  html: 'text/html',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

export function contentTypeFor(name: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase();
  return (ext && CONTENT_TYPES[ext]) ?? 'application/octet-stream';
}

/**
 * File attachments come as base64, attached mail items as EML text, calendar items as iCalendar.
 * Cloud (shared-link) attachments have no content we could secure: the caller must refuse.
 */
export async function collectAttachments(
  item: Office.MessageCompose,
  list: readonly DraftAttachment[],
): Promise<CollectResult> {
  if (list.some((a) => a.kind === 'cloud')) return { ok: false, reason: 'cloud' };
  const out: Attachment[] = [];
  for (const a of list) {
    const content = await officeCall<Office.AttachmentContent>('getAttachmentContentAsync', (cb) =>
      item.getAttachmentContentAsync(a.id, cb),
    );
    const format = String(content.format);
    if (format === 'url') return { ok: false, reason: 'cloud' };
    const isBase64 = format === 'base64';
    out.push({
      filename: a.name || 'attachment',
      contentType: isBase64
        ? contentTypeFor(a.name)
        : format === 'iCalendar'
          ? 'text/calendar'
          : 'message/rfc822',
      contentBase64: isBase64 ? content.content : base64FromUtf8(content.content),
    });
  }
  return { ok: true, attachments: out };
}
