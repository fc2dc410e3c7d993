import type { MessageInput } from '@attune/shared/phi';
import {
  scanAndDecide,
  type Policy,
  type RecipientInfo,
  type ScanAndDecideResult,
} from '@attune/shared/policy';

// The shared detector and policy, through the same `scanAndDecide` the add-ins and the API use, so a
// message gets the same verdict whichever way it left the practice.

export type Classification = ScanAndDecideResult;

export function classify(
  policy: Policy,
  input: MessageInput,
  recipients: readonly RecipientInfo[],
): Classification {
  return scanAndDecide(policy, input, recipients);
}
