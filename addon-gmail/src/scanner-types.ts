import type { FieldFindings } from '@attune/shared/phi';
import type { Policy, PolicyDecision } from '@attune/shared/policy';

export interface ComposeScanInput {
  subject: string;
  body: string;
  to: string[];
  cc: string[];
}

export interface ComposeScan {
  fields: FieldFindings[];
  decision: PolicyDecision;
}

/** Injected so card logic is testable apart from the detector's heuristics. */
export type Scanner = (input: ComposeScanInput, policy: Policy) => ComposeScan;
