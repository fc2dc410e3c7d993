export * from './errors.ts';
export * from './messages.ts';
export * from './patients.ts';
export * from './engagement.ts';
export { PolicySchema, DEFAULT_POLICY } from '../policy/schema.ts';
export type { Policy, PolicyInput } from '../policy/schema.ts';
export * from './events.ts';
export * from './recipients.ts';
export * from './replies.ts';
