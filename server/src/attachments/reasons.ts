import type { MessageScan } from '@attune/shared/phi';
import type { AttachmentKind, UnreadableReason } from './types.ts';

// Reasons about attachments, added to the decision's. An attachment is named by its position and
// kind ("attachment 2 (PDF)"), never by its file name: a file name is often the patient's name
// ("Jane_Doe_intake.pdf"), and reasons reach error messages (422 blocked_by_policy) and the add-in's
// alerts, where PHI must not be (CONVENTIONS 13).

/** Short names of the kinds: "PDF", "Office document", never the file name. */
export const KIND_LABELS: Record<AttachmentKind, string> = {
  pdf: 'PDF',
  office: 'Office document',
  rtf: 'RTF document',
  html: 'HTML file',
  text: 'text file',
  other: 'file',
};

const UNREADABLE: Record<UnreadableReason, string> = {
  encrypted: 'it is password-protected',
  no_text: 'it has no text layer (a scan or an image)',
  too_large: 'it is too large to read',
  corrupt: 'it is damaged or not what its type says',
  limit: 'it would expand past the size limit',
  timeout: 'it took too long to read',
  unsupported: 'Attune cannot read this type of file',
  truncated: 'it is too long',
};

export interface AttachmentFacts {
  kind: AttachmentKind;
  unreadable?: UnreadableReason;
}

/**
 * The attachments (by index) with a finding in their contents rather than their name: an
 * `attachment:<i>` field indexes the name, a newline, then the text (shared/phi attachmentFieldText).
 */
export function attachmentContentHits(scan: MessageScan, nameLengths: readonly number[]): number[] {
  const hits: number[] = [];
  for (const f of scan.fields) {
    const m = /^attachment:(\d+)$/.exec(f.field);
    if (!m) continue;
    const i = Number(m[1]);
    const nameLength = nameLengths[i];
    if (nameLength === undefined) continue;
    if (f.findings.some((x) => x.start > nameLength)) hits.push(i);
  }
  return hits;
}

/**
 * "PHI found in the contents of attachment 1 (PDF)." for each attachment whose contents hold
 * findings of a message that holds PHI, and, for each one that could not be read (or only in part),
 * why and what was scanned instead.
 */
export function attachmentReasons(
  files: readonly AttachmentFacts[],
  contentHits: readonly number[],
  phi: boolean,
): string[] {
  const out: string[] = [];
  if (phi) {
    for (const i of contentHits) {
      const f = files[i];
      if (f) out.push(`PHI found in the contents of attachment ${i + 1} (${KIND_LABELS[f.kind]}).`);
    }
  }
  files.forEach((f, i) => {
    if (!f.unreadable) return;
    const what = `attachment ${i + 1} (${KIND_LABELS[f.kind]})`;
    out.push(
      f.unreadable === 'truncated' || f.unreadable === 'no_text'
        ? `Only part of ${what} could be read: ${UNREADABLE[f.unreadable]}; the rest was not scanned.`
        : `The contents of ${what} could not be read: ${UNREADABLE[f.unreadable]}; only its name was scanned.`,
    );
  });
  return out;
}

/**
 * Today's conservative rule for what cannot be read: a file the detector cannot read (or read only
 * in part), sent to a patient of the practice, is treated as PHI. That the recipient is a patient
 * is itself health information, and the file is most likely about them. Returns the reason when
 * the rule turns an "allow" into "encrypt", else null.
 */
export function unreadableToPatient(
  decision: 'allow' | 'warn' | 'encrypt' | 'block',
  files: readonly AttachmentFacts[],
  toKnownPatient: boolean,
): string | null {
  if (decision !== 'allow' || !toKnownPatient || !files.some((f) => f.unreadable)) return null;
  return 'An attachment that could not be read in full, sent to a known patient, is treated as PHI: it is sent securely.';
}
