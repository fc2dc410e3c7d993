export * from './schema.ts';
export { decide } from './decide.ts';
