// The shared detector and policy applied to a draft. Host-free: the same call runs in the send
// handler, in the compose pane and in tests.
import { PHI_TYPE_LABELS, type MessageScan, type PhiType } from '@attune/shared/phi';
import { scanAndDecide, scanOptionsFromPolicy } from '@attune/shared/policy';
import type { Policy, PolicyDecision } from '@attune/shared/policy';

export interface DraftContent {
  subject: string;
  html: string;
  to: readonly string[];
  cc: readonly string[];
  bcc: readonly string[];
  attachmentNames: readonly string[];
}

export interface Evaluation {
  scan: MessageScan;
  decision: PolicyDecision;
}

/** The scan options the practice policy implies (keywords, patterns, allow-list, signature rule). */
export const scanOptionsFor = scanOptionsFromPolicy;

/** The shared one-path scan and decision (the same the server and the gateway apply). */
export function evaluateDraft(policy: Policy, draft: DraftContent): Evaluation {
  return scanAndDecide(policy, {
    subject: draft.subject,
    html: draft.html,
    to: draft.to,
    // Bcc recipients receive the same content: scan and decide for them as for Cc.
    cc: [...draft.cc, ...draft.bcc],
    attachments: draft.attachmentNames.map((name) => ({ name })),
  });
}

/** "a name, a diagnosis and a medication": names the kinds of PHI, never the values. */
export function describeTypes(types: readonly PhiType[], max = 4): string {
  const labels = types.map((t) => PHI_TYPE_LABELS[t]);
  if (labels.length === 0) return 'protected health information';
  const shown = labels.slice(0, max);
  const more = labels.length - shown.length;
  if (more > 0) shown.push(`${more} more kind${more === 1 ? '' : 's'}`);
  if (shown.length === 1) return shown[0] ?? '';
  return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1] ?? ''}`;
}

export function typeLabel(t: PhiType): string {
  return PHI_TYPE_LABELS[t];
}

/** Where findings were, without their values: "the subject, the body and an attachment name". */
export function describeFields(scan: MessageScan): string {
  const parts = new Set<string>();
  for (const f of scan.fields) {
    if (f.findings.length === 0) continue;
    if (f.field === 'subject') parts.add('the subject');
    else if (f.field === 'body') parts.add('the body');
    else if (f.field === 'to' || f.field === 'cc') parts.add('the recipients');
    // Findings in an attachment's contents (the server's scan) start past the name (see withServerFindings).
    else if (f.findings.every((x) => x.start === 0 && x.end === 0 && x.text === ''))
      parts.add('an attachment');
    else parts.add('an attachment name');
  }
  const list = [...parts];
  if (list.length <= 1) return list[0] ?? 'the message';
  return `${list.slice(0, -1).join(', ')} and ${list[list.length - 1] ?? ''}`;
}
