export * from './store.ts';
export type * from './schema.ts';
