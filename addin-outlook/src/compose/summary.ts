// What the compose pane says about a draft: the card heading, the verdict and the status line come
// from one place so they cannot disagree (the status line once said "2 kind(s) of PHI found" above a
// "No PHI found" card when health content without identifiers was allowed).
import { HEALTH_TYPES } from '@attune/shared/phi';
import type { PhiType } from '@attune/shared/phi';
import { describeTypes } from '../core/evaluate.ts';
import type { Evaluation } from '../core/evaluate.ts';

export interface Summary {
  /** Card heading: "PHI found" only when the policy judged the content PHI (or blocks it). */
  heading: string;
  verdict: string;
  status: string;
  statusKind: 'info' | 'success' | 'error';
}

const HEALTH: ReadonlySet<PhiType> = new Set(HEALTH_TYPES);

export function summarize({ decision, scan }: Evaluation): Summary {
  const found = describeTypes(scan.types);
  const n = scan.types.length;
  const kinds = `${n} kind${n === 1 ? '' : 's'}`;
  if (decision.decision === 'block') {
    return {
      heading: 'PHI found',
      verdict: `This message contains ${found}, which your practice never allows in email. Redact it before sending.`,
      status: `Not allowed in email: ${found}. Redact before sending.`,
      statusKind: 'error',
    };
  }
  if (decision.phi) {
    if (decision.decision === 'allow') {
      return {
        heading: 'PHI found',
        verdict: `Found ${found}. Every recipient is inside the practice, so it can be sent normally.`,
        status: `PHI found (${kinds}), every recipient internal: no encryption required.`,
        statusKind: 'info',
      };
    }
    return {
      heading: 'PHI found',
      verdict: `Found ${found}. ${decision.decision === 'encrypt' ? 'This message must be sent securely.' : 'Consider sending it securely.'}`,
      status: `PHI found (${kinds}): ${decision.decision === 'encrypt' ? 'send securely' : 'sending securely is recommended'}.`,
      statusKind: 'info',
    };
  }
  // Not PHI under the policy: say what was seen, and that nothing needs securing.
  const health = scan.types.some((t) => HEALTH.has(t));
  const identifying = scan.types.some((t) => !HEALTH.has(t));
  const status =
    n === 0
      ? 'Checked: no PHI found.'
      : health
        ? 'Health content found, nothing identifying: no encryption required.'
        : identifying
          ? 'Identifying details found, no health content: no encryption required.'
          : 'No encryption required.';
  return {
    heading: 'No PHI found',
    verdict:
      n === 0
        ? 'No protected health information found. You can send this message normally.'
        : `Found ${found}, but nothing that makes it protected health information. You can send this message normally.`,
    status,
    statusKind: n === 0 ? 'success' : 'info',
  };
}
