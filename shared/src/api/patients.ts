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
