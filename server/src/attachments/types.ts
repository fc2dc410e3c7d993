/**
 * Why an attachment's contents could not be read (or read only in part). Stable codes: they go
 * into reasons, logs and audit details (never the file name or any of its text).
 */
export type UnreadableReason =
  /** A password-protected PDF or an encrypted zip. */
  | 'encrypted'
  /** A PDF with (almost) no text layer: a scan or photos of pages. */
  | 'no_text'
  /** Larger than extraction reads (ExtractLimits.maxInputBytes). */
  | 'too_large'
  /** Damaged, or not what its type says. */
  | 'corrupt'
  /** It would inflate past the limit (a zip bomb), or has too many parts. */
  | 'limit'
  /** The PDF took longer than its wall-clock limit, or more memory than the PDF thread has. */
  | 'timeout'
  /** A type we do not read: images, legacy binary Office (.doc/.xls), archives, anything else. */
  | 'unsupported'
  /** Read up to the character or page limit; the rest is unread. */
  | 'truncated';

/** Text of an attachment: complete, partial (`complete: false` with why) or none at all. */
export type Extracted =
  | { ok: true; text: string; complete: true }
  | { ok: true; text: string; complete: false; reason: UnreadableReason }
  | { ok: false; reason: UnreadableReason };

/** What kind of document an attachment is, for extraction and for reasons ("attachment 1 (PDF)"). */
export type AttachmentKind = 'pdf' | 'office' | 'rtf' | 'html' | 'text' | 'other';
