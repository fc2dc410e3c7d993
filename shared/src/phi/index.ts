export * from './types.ts';
export { PHI_TYPE_LABELS } from './labels.ts';
export { scan } from './scan.ts';
export {
  scanMessage,
  recipientFieldText,
  attachmentFieldText,
  signatureRange,
  type MessageScanOptions,
} from './message.ts';
export { htmlToText, mapToHtml, type HtmlText } from './html-text.ts';
