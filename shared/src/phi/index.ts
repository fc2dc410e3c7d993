export * from './types.ts';
export { scan } from './scan.ts';
export { scanMessage } from './message.ts';
