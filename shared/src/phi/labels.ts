import type { PhiType } from './types.ts';

/**
 * What each finding type is called in front of a clinician ("a name", "a diagnosis"): the policy's
 * reasons, the Outlook send dialog and the panes all name kinds of PHI with these, never values.
 */
export const PHI_TYPE_LABELS: Readonly<Record<PhiType, string>> = {
  NAME: 'a name',
  DATE: 'a date',
  PHONE: 'a phone number',
  FAX: 'a fax number',
  EMAIL: 'an email address',
  SSN: 'a Social Security number',
  MRN: 'a medical record number',
  HEALTH_PLAN_ID: 'a health plan number',
  ACCOUNT: 'an account number',
  LICENSE: 'a license number',
  VEHICLE: 'a vehicle identifier',
  DEVICE: 'a device identifier',
  URL: 'a web address',
  IP: 'an IP address',
  ADDRESS: 'a street address',
  ZIP: 'a ZIP code',
  AGE_OVER_89: 'an age over 89',
  OTHER_ID: 'an identifying number',
  AGE: 'an age',
  DIAGNOSIS: 'a diagnosis',
  MEDICATION: 'a medication',
  ICD10: 'a diagnosis code',
  CPT: 'a procedure code',
  TREATMENT: 'a treatment',
  CRISIS: 'crisis language',
};
