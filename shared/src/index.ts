export * from './phi/index.ts';
export * from './policy/index.ts';
export * from './api/index.ts';
