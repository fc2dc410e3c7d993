export * from './store.ts';
export type * from './schema.ts';
export { ensurePractice, getPolicy, putPolicy } from './practices.ts';
export type { PracticeBootstrap } from './practices.ts';
export { findPatient, findPatientByEmail, patientEmailsAmong, toPatient } from './patients.ts';
export {
  addCare,
  careTeam,
  joinCare,
  inCareTeam,
  mayReadMessage,
  maySeePatient,
  patientsInCareOf,
  practiceWideAccess,
  removeCare,
  visibleAmong,
} from './care.ts';
export type { CareCaller, CareTeamMember } from './care.ts';
