import { z } from 'zod';

/**
 * POST /v1/recipients/patients: which of a draft's recipients are patients of the practice. The
 * send handler asks before letting content with findings go out plain: under the default policy,
 * health content or an identifier in mail to a known patient is PHI. Addresses go in the body.
 */
export const RecipientPatientsRequestSchema = z
  .object({
    emails: z
      .array(z.string().trim().toLowerCase().pipe(z.email().max(254)))
      .min(1)
      .max(100),
  })
  .strict();
export type RecipientPatientsRequest = z.infer<typeof RecipientPatientsRequestSchema>;

export const RecipientPatientsResponseSchema = z
  .object({
    /** The asked addresses (lower-case) that belong to patients of the caller's practice. */
    patients: z.array(z.string()),
  })
  .strict();
export type RecipientPatientsResponse = z.infer<typeof RecipientPatientsResponseSchema>;
