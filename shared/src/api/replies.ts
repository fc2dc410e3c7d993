import { z } from 'zod';

/**
 * GET /v1/replies/:id: a patient's secure reply, for the clinicians of the practice. The id is the
 * "Reference" of the PHI-free reply notice the clinician was emailed.
 */
export const ReplySchema = z
  .object({
    id: z.string(),
    /** The secure message it answers. */
    messageId: z.string(),
    /** The patient's address (the recipient of the message who replied). */
    from: z.string(),
    /**
     * An email reply that came from another address than `from` (its From header, else the envelope
     * sender): that address. Anyone who has seen the notice's reply address can write to it, so the
     * clinician is told when a reply did not come from the patient's own address. Null for replies
     * written on the secure page, replies from the patient's address, and replies stored before the
     * sender was recorded.
     */
    otherSender: z.string().nullable(),
    receivedAt: z.string(),
    /** 'viewer': written on the secure page; 'email': answered to the notice by email (gateway). */
    source: z.enum(['viewer', 'email']),
    text: z.string(),
    /** The detector found first-person crisis language in it (the notice was marked urgent). */
    crisis: z.boolean(),
  })
  .strict();
export type Reply = z.infer<typeof ReplySchema>;
