export * from './store.ts';
export type * from './schema.ts';
export { ensurePractice, getPolicy, putPolicy } from './practices.ts';
export type { PracticeBootstrap } from './practices.ts';
export { findPatient, findPatientByEmail, patientEmailsAmong, toPatient } from './patients.ts';
