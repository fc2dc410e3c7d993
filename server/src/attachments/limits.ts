import { MAX_ATTACHMENT_BYTES } from '@attune/shared/api';

// Hard limits of attachment text extraction. An attachment is hostile input: a zip bomb (a few KB
// that inflate to gigabytes), a PDF that loops or allocates without end, a spreadsheet of a million
// cells. Every limit reached makes the file "unreadable" (extract.ts), never an error or a hang.

export interface ExtractLimits {
  /** Larger files are not opened (the API's per-attachment limit). */
  maxInputBytes: number;
  /** Bytes inflated from one zip-based document (DOCX, XLSX, PPTX, ODF), all its parts together. */
  maxInflatedBytes: number;
  /** Entries in one zip's central directory. */
  maxZipEntries: number;
  /** PDF pages read; a longer PDF is read this far and counted as partly unreadable. */
  maxPages: number;
  /** Characters of text kept per attachment; past it the rest is unread (partly unreadable). */
  maxChars: number;
  /** Characters of text kept of one message's attachments together; past it the rest is unread. */
  maxTotalChars: number;
  /** PDF threads (pdf.ts): a PDF that runs to its time limit holds up only those behind it on its thread. */
  pdfThreads: number;
  /** Wall-clock limit of one PDF's parsing, on the PDF thread (pdf.ts). */
  pdfTimeoutMs: number;
  /** Heap of the PDF thread, in MB: a PDF that needs more is unreadable, the server unharmed. */
  pdfHeapMb: number;
}

export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxInputBytes: MAX_ATTACHMENT_BYTES,
  maxInflatedBytes: 50 * 1024 * 1024,
  maxZipEntries: 10_000,
  maxPages: 200,
  maxChars: 500_000,
  // What the scan reads of one message's attachments: ~0.3 s of scanning at worst (twenty files of
  // 500,000 characters would be ~1.3 s on the send path).
  maxTotalChars: 2_000_000,
  pdfThreads: 2,
  pdfTimeoutMs: 10_000,
  pdfHeapMb: 256,
};
