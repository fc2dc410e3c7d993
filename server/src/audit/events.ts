// Audit event types (CONVENTIONS 8, HIPAA 164.312(b), ASVS 16.2/16.3): typed constants, so every
// call site names one of these and a reviewer can list what is recorded.
export const AUDIT = {
  /** A bearer token was accepted for the first time (a login). */
  LOGIN: 'auth.login',
  /** A bearer token was refused (reason code in details). */
  AUTH_FAILURE: 'auth.failure',
  /** An authenticated caller was refused an action or an object (role, or another practice's id). */
  AUTHZ_FAILURE: 'authz.failure',
  /** A clinician account was created on first login. */
  CLINICIAN_PROVISIONED: 'clinician.provisioned',
  /** Someone read PHI (a patient record, a message, engagement data). */
  PHI_READ: 'phi.read',
  /**
   * Content was scanned for PHI at a client's request and not stored (POST /v1/scan: a draft and its
   * attachments). Details are counts and codes: attachments, unreadable, decision.
   */
  PHI_SCAN: 'phi.scan',
  /** Someone created or changed PHI (patient record, message, reply). */
  PHI_WRITE: 'phi.write',
  /** A secure message was accepted for delivery. */
  MESSAGE_SEND: 'message.send',
  /** A secure message was revoked. */
  MESSAGE_REVOKE: 'message.revoke',
  /**
   * A message's notice (with a client-delivered recipient's secure link) was handed out again to the
   * clinician who sent it (POST /v1/messages/:id/notice); failure when revoked or expired.
   */
  MESSAGE_NOTICE: 'message.notice',
  /**
   * A delivery changed method at delivery time (success: a secure link instead of PGP/MIME because
   * the patient's key can no longer be used) or could not (failure: the policy forbids the link).
   * Details: the reason code and the message id; never the key, the address or the content.
   */
  DELIVERY_FALLBACK: 'delivery.fallback',
  /**
   * The recipient's mail server reported on a delivery after our relay took it (a delivery status
   * notification to its return path): failed (5.x.x, terminal) or delayed. Status code only.
   */
  DELIVERY_REPORT: 'delivery.report',
  /**
   * An admin queued a delivery that had failed for good again (POST /v1/deliveries/:id/retry or
   * `attune deliveries PRACTICE retry`); failure: refused, with a reason code (not_failed,
   * message_revoked, message_expired). References only: the delivery (target) and message ids.
   */
  DELIVERY_RETRY: 'delivery.retry',
  /** A patient opened a secure link (viewer). */
  VIEWER_OPEN: 'viewer.open',
  /** A patient replied through the viewer. */
  VIEWER_REPLY: 'viewer.reply',
  /** The archive (or part of it) was exported. */
  EXPORT: 'archive.export',
  /** The practice policy changed. */
  POLICY_CHANGE: 'policy.change',
  /** Practice keys were generated or rotated. */
  KEY_CHANGE: 'key.change',
  /** A development token was issued (development mode only). */
  DEV_TOKEN_ISSUED: 'auth.dev_token',
  /** The audit/archive chains were verified. */
  CHAIN_VERIFY: 'chain.verify',
  /**
   * A signed checkpoint of a chain was written (success), or a chain that grew was refused one
   * because it did not verify since its last checkpoint (failure). References only: chain, length,
   * head hash, checkpoint id.
   */
  CHAIN_CHECKPOINT: 'chain.checkpoint',
  /**
   * A patient's care team changed: an admin added or removed a clinician (API or `attune practice
   * care-team`; failure: the CLI's refusals, with a reason code), or an import joined one (Gmail
   * mailbox sync: the mailbox's clinician; an admin's FHIR import: the appointments' practitioners;
   * details source 'imported'). References only: patient id (target), clinician id, operation.
   */
  CARE_CHANGE: 'care.change',
  /** A practice was added, or its domains, name, reply domain or Entra tenant changed (admin CLI). */
  PRACTICE_CHANGE: 'practice.change',
  /**
   * An admin bound the content MAC of a stored message or reply the master key did not vouch for,
   * or quarantined it (`attune archive content-macs`; failure: a refusal, with a reason code).
   * References only: the row id (target), operation, archive seq, its state before, whether it
   * matched its archive entry, the SHA-256 of its ciphertext.
   */
  CONTENT_DECISION: 'content.decision',
} as const;

export type AuditAction = (typeof AUDIT)[keyof typeof AUDIT];

export type AuditOutcome = 'success' | 'failure';

/** `cli`: an admin command (`attune practice`, `attune checkpoint`); its id is the OS user who ran it. */
export type ActorType = 'clinician' | 'patient' | 'system' | 'anonymous' | 'cli';

/** Reference-only detail values: ids, counts, codes. Never names, emails, subjects or bodies. */
export type AuditDetails = Record<string, string | number | boolean | null>;

export interface AuditEventInput {
  action: AuditAction;
  outcome: AuditOutcome;
  actor: { type: ActorType; id?: string | null | undefined };
  practiceId?: string | null | undefined;
  ip?: string | null | undefined;
  requestId?: string | null | undefined;
  target?: { type: string; id: string } | null | undefined;
  details?: AuditDetails | undefined;
  /** Defaults to now. */
  at?: Date | undefined;
}
