// The one path from a message to a decision, so the Outlook handler, the Gmail add-on, the server API
// and the SMTP gateway cannot drift apart: the same scan options from the same policy, the same decide().

import { scanMessage, type MessageScanOptions } from '../phi/message.ts';
import type { MessageInput, MessageScan } from '../phi/types.ts';
import { decide } from './decide.ts';
import type { Policy, PolicyDecision, RecipientInfo } from './schema.ts';

/** The scan options a policy implies: the practice's keywords, patterns, allow-list and signature rule. */
export function scanOptionsFromPolicy(policy: Policy): MessageScanOptions {
  return {
    customKeywords: policy.customKeywords,
    customPatterns: policy.customPatterns,
    allowList: policy.allowList,
    exemptSignature: policy.exemptSignature,
  };
}

export interface ScanAndDecideResult {
  scan: MessageScan;
  decision: PolicyDecision;
}

/**
 * Scans a message under a policy and decides. Without `recipients`, the message's to and cc are used,
 * with patient status unknown (the server passes what it knows about each address).
 */
export function scanAndDecide(
  policy: Policy,
  message: MessageInput,
  recipients?: readonly RecipientInfo[],
): ScanAndDecideResult {
  const scan = scanMessage(message, scanOptionsFromPolicy(policy));
  const listed = (v: unknown): readonly unknown[] => (Array.isArray(v) ? (v as readonly unknown[]) : []);
  const who =
    recipients ??
    [...listed(message.to), ...listed(message.cc)]
      .filter((e): e is string => typeof e === 'string')
      .map((email) => ({ email }));
  return { scan, decision: decide(policy, scan, who) };
}
