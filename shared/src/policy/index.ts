export * from './schema.ts';
export { decide, isInternal, addressOf, WEAK_IDENTIFIER_TYPES } from './decide.ts';
export { scanOptionsFromPolicy, scanAndDecide, type ScanAndDecideResult } from './apply.ts';
