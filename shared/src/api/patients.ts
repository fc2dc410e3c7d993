import { z } from 'zod';

export const UpsertPatientRequestSchema = z
  .object({
    email: z.string().trim().toLowerCase().pipe(z.email().max(254)),
    name: z.string().trim().min(1).max(200).optional(),
    /** IANA time zone, e.g. America/New_York. */
    timeZone: z.string().min(1).max(64).optional(),
    /** ASCII-armored OpenPGP public key; validated by the server. */
    publicKey: z.string().max(100_000).optional(),
  })
  .strict();
export type UpsertPatientRequest = z.infer<typeof UpsertPatientRequestSchema>;

export const PatientSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    timeZone: z.string().nullable(),
    hasPublicKey: z.boolean(),
    publicKeyFingerprint: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .strict();
export type Patient = z.infer<typeof PatientSchema>;

/** How a clinician joined a patient's care team. */
export const CARE_SOURCES = ['sent', 'created', 'assigned', 'imported'] as const;

/**
 * GET/PUT/DELETE /v1/patients/:id/care-team[/:email] (practice admins): the clinicians who care for
 * a patient. Under the policy's patientAccess 'care-team' (the default) only they (and whoever sent
 * a given message) read the patient's sidebar, replies and caseload entry.
 */
export const CareTeamSchema = z
  .object({
    patientId: z.string(),
    /** The practice's current policy: under 'practice' every clinician sees every patient anyway. */
    patientAccess: z.enum(['care-team', 'practice']),
    members: z.array(
      z
        .object({
          clinicianId: z.string(),
          email: z.string(),
          name: z.string().nullable(),
          role: z.enum(['clinician', 'admin']),
          /** sent: wrote to the patient; created: registered them; assigned: by an admin; imported. */
          source: z.enum(CARE_SOURCES),
          /** When they joined (ISO 8601 UTC). */
          since: z.string(),
          /** The admin (clinician id) who assigned them; null when their own act did. */
          assignedBy: z.string().nullable(),
        })
        .strict(),
    ),
  })
  .strict();
export type CareTeam = z.infer<typeof CareTeamSchema>;
