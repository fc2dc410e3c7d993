import { z } from 'zod';
import { PHI_TYPES } from '../phi/types.ts';

function isValidPattern(source: string): boolean {
  try {
    new RegExp(source, 'giu');
    return true;
  } catch {
    return false;
  }
}

// The practice's send policy. Admins edit it (PUT /v1/policy); the add-ins read it (GET /v1/policy)
// and the server and gateway apply it. Defaults are the safe choice: opt-out encryption.
export const PolicySchema = z
  .object({
    /**
     * opt_out: PHI to any external recipient is encrypted, no choice (HIPAA-safe default).
     * opt_in: PHI only warns; the clinician chooses to send securely.
     */
    mode: z.enum(['opt_out', 'opt_in']).default('opt_out'),
    /**
     * What the Outlook send handler does when encryption is required.
     * automatic: replace the body with the secure-link notice and let the send go on.
     * review: block Send with a "Send securely" action that opens the compose pane.
     */
    outlookAction: z.enum(['automatic', 'review']).default('review'),
    /** Domains whose recipients are internal (the practice's own staff): no encryption needed. */
    internalDomains: z.array(z.string().min(1).max(253)).max(100).default([]),
    /** Extra health keywords to treat as health content. */
    customKeywords: z.array(z.string().min(1).max(100)).max(500).default([]),
    /**
     * Extra identifier patterns (JavaScript regex source, compiled with flags 'giu'). Checked here so a
     * bad pattern is a 400 when the admin saves it, not a failure on a clinician's send.
     */
    customPatterns: z
      .array(
        z.string().min(1).max(500).refine(isValidPattern, { message: 'Not a valid regular expression.' }),
      )
      .max(100)
      .default([]),
    /** Text that is never PHI: clinicians' signature blocks, the practice's name, phone and address. */
    allowList: z.array(z.string().min(1).max(500)).max(500).default([]),
    /** Drop findings inside the signature block (after "-- " or a sign-off) before deciding. */
    exemptSignature: z.boolean().default(true),
    /** Finding types that block the send outright (e.g. SSN): never emailed, even encrypted. */
    blockTypes: z.array(z.enum(PHI_TYPES)).default([]),
    /** Require a one-time code, sent separately, before the viewer shows a message. */
    viewerSecondFactor: z.boolean().default(false),
    /** Secure links expire after this many days. */
    linkExpiryDays: z.number().int().min(1).max(365).default(30),
    /**
     * Who may read a patient's PHI (sidebar, replies, caseload, message status).
     * care-team: the patient's care team only (DESIGN: "a clinician sees the patients they care
     * for"); a clinician joins it by writing to or registering the patient, or an admin adds them.
     * practice: every clinician of the practice (small group practices that share everything).
     */
    patientAccess: z.enum(['care-team', 'practice']).default('care-team'),
    /**
     * A patient's registered OpenPGP key that can no longer be used when the message goes out
     * (expired, revoked, no encryption subkey, encryption fails): true sends that patient a secure
     * link instead (the status says why, and it is audited); false fails the delivery with that
     * reason, and the sender is emailed a PHI-free failure notice.
     */
    pgpFallbackToLink: z.boolean().default(true),
  })
  .strict();

export type Policy = z.infer<typeof PolicySchema>;
export type PolicyInput = z.input<typeof PolicySchema>;

export const DEFAULT_POLICY: Policy = PolicySchema.parse({});

export type Decision = 'allow' | 'warn' | 'encrypt' | 'block';

export interface RecipientInfo {
  email: string;
  /** A patient of the practice (known to the server). Unknown when the caller cannot tell. */
  isPatient?: boolean;
}

export interface PolicyDecision {
  decision: Decision;
  /** Human, PHI-free reasons: "Names a patient and a diagnosis: depression" names the type, not the patient. */
  reasons: string[];
  /** Whether the content counts as PHI under the policy. */
  phi: boolean;
  /** Recipients outside the practice's internal domains. */
  externalRecipients: string[];
}
