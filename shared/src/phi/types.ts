// The detector's public types. Contract for every caller (add-ins, server, gateway, CLI):
// keep stable. Offsets are JavaScript string indices (UTF-16 code units) into the scanned text.

export const IDENTIFIER_TYPES = [
  'NAME',
  'DATE',
  'PHONE',
  'FAX',
  'EMAIL',
  'SSN',
  'MRN',
  'HEALTH_PLAN_ID',
  'ACCOUNT',
  'LICENSE',
  'VEHICLE',
  'DEVICE',
  'URL',
  'IP',
  'ADDRESS',
  'ZIP',
  'AGE_OVER_89',
  'OTHER_ID',
] as const;

/**
 * Quasi-identifiers: details about a person that are not HIPAA Safe Harbor identifiers on their own
 * (an age under 90). Reported so a clinician sees them and de-identification can mask them, but the
 * policy never counts them as identifiers: "a 34-year-old with depression" is not PHI by itself.
 */
export const QUASI_IDENTIFIER_TYPES = ['AGE'] as const;

export const HEALTH_TYPES = ['DIAGNOSIS', 'MEDICATION', 'ICD10', 'CPT', 'TREATMENT', 'CRISIS'] as const;

export const PHI_TYPES = [...IDENTIFIER_TYPES, ...QUASI_IDENTIFIER_TYPES, ...HEALTH_TYPES] as const;

export type IdentifierType = (typeof IDENTIFIER_TYPES)[number];
export type QuasiIdentifierType = (typeof QUASI_IDENTIFIER_TYPES)[number];
export type HealthType = (typeof HEALTH_TYPES)[number];
export type PhiType = IdentifierType | QuasiIdentifierType | HealthType;

export interface Finding {
  type: PhiType;
  /** Inclusive start offset (UTF-16 index). */
  start: number;
  /** Exclusive end offset; `text === input.slice(start, end)`. */
  end: number;
  text: string;
  /** 0..1: how sure the recognizer is. */
  confidence: number;
  /** Human reason, PHI-free: e.g. "Title before a capitalised surname". */
  reason: string;
  /**
   * CRISIS only: how the language was graded. `first_person` is the patient speaking of themself;
   * `negated` ("I'm not suicidal"), `third_person` ("my friend said she wanted to die"),
   * `historical` ("years ago I cut myself").
   */
  grade?: 'first_person' | 'negated' | 'third_person' | 'historical';
  /**
   * DATE only: a date of birth ("DOB: 4/2/1980", "born on March 3, 1971"). Unlike other dates, it
   * points at a person on its own, so the policy counts it as a strong identifier.
   */
  birth?: true;
}

export interface ScanOptions {
  /** Restrict to these types (default: all). */
  types?: readonly PhiType[];
  /** Minimum confidence to report (default 0.5). */
  minConfidence?: number;
  /** Text known not to be PHI: the clinician's signature, the practice's name, phone, address. */
  allowList?: readonly string[];
  /** Extra health keywords from the practice policy (whole word, case-insensitive), reported as DIAGNOSIS. */
  customKeywords?: readonly string[];
  /** Extra patterns (JavaScript regex source, flags 'giu' applied) reported as OTHER_ID. */
  customPatterns?: readonly string[];
}

export type MessageField = 'subject' | 'body' | 'to' | 'cc' | `attachment:${number}`;

export interface MessageAttachmentInput {
  name: string;
  /** Extracted text of a text attachment, when available. */
  text?: string;
}

export interface MessageInput {
  subject?: string;
  /** Plain-text body. */
  body?: string;
  /** HTML body; converted to text for scanning, offsets then refer to the HTML string. */
  html?: string;
  to?: readonly string[];
  cc?: readonly string[];
  attachments?: readonly MessageAttachmentInput[];
}

export interface FieldFindings {
  field: MessageField;
  findings: Finding[];
}

export interface MessageScan {
  fields: FieldFindings[];
  /** All findings' types, deduplicated, in PHI_TYPES order. */
  types: PhiType[];
  hasIdentifier: boolean;
  hasHealth: boolean;
  hasCrisis: boolean;
}
