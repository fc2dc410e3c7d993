export { extractAll, extractText, kindOf, scanInputOf } from './extract.ts';
export type { AttachmentFile, ScannedAttachment } from './extract.ts';
export { DEFAULT_EXTRACT_LIMITS, type ExtractLimits } from './limits.ts';
export { closePdfThreads } from './pdf.ts';
export { attachmentContentHits, attachmentReasons, KIND_LABELS, unreadableToPatient } from './reasons.ts';
export type { AttachmentFacts } from './reasons.ts';
export type { AttachmentKind, Extracted, UnreadableReason } from './types.ts';
