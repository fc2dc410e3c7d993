// The Scan button's engine: the shared PHI detector and policy, run inside Apps Script's V8
// (bundled), so a scan works without a round trip and even when the server is down. The server
// and the gateway apply the same code again on send; this scan is advice, not enforcement.

import { scanMessage } from '@attune/shared/phi';
import { decide, type Policy } from '@attune/shared/policy';
import type { ComposeScan, ComposeScanInput, Scanner } from './scanner-types.ts';

export const sharedScanner: Scanner = (input: ComposeScanInput, policy: Policy): ComposeScan => {
  const scan = scanMessage(
    { subject: input.subject, body: input.body, to: input.to, cc: input.cc },
    {
      allowList: policy.allowList,
      customKeywords: policy.customKeywords,
      customPatterns: policy.customPatterns,
    },
  );
  const recipients = [...input.to, ...input.cc].map((email) => ({ email }));
  return { fields: scan.fields, decision: decide(policy, scan, recipients) };
};
