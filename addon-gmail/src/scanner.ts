// The Scan button's engine: the shared detector and policy (scanAndDecide, the one path the Outlook
// handler, server and gateway also use), bundled into the add-on and run in Apps Script's V8, so a
// scan needs no round trip and works while the server is down. The server applies the same code
// again on send; this scan is advice, not enforcement.

import { scanAndDecide, type Policy } from '@attune/shared/policy';
import type { ComposeScan, ComposeScanInput, Scanner } from './scanner-types.ts';

export const sharedScanner: Scanner = (input: ComposeScanInput, policy: Policy): ComposeScan => {
  const { scan, decision } = scanAndDecide(policy, {
    subject: input.subject,
    body: input.body,
    to: input.to,
    cc: input.cc,
  });
  return { fields: scan.fields, decision };
};
