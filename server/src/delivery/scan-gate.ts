import { fileURLToPath } from 'node:url';
import { scanAndDecide } from '@attune/shared/policy';
import type { MessageInput } from '@attune/shared/phi';
import type { Policy, PolicyDecision, RecipientInfo } from '@attune/shared/policy';
import type { EncryptGate } from '../crypto/index.ts';
import { attachmentContentHits } from '../attachments/reasons.ts';

// The server's scan of a secure send (never trusting the client's verdict) as the gate of the
// archive encryption (crypto/pool.ts EncryptGate): on a machine with an encryption thread both run
// there in one trip, so the scan, a seventh of the event loop's time per send (bench:server, perf),
// leaves the loop with the encryption. A blocked message is not encrypted. The decision is the
// same function of the same inputs wherever it runs.

export interface ScanVerdict {
  encrypt: boolean;
  decision: PolicyDecision;
  /** Attachments (by index) with findings in their contents, not only their name (for the reasons). */
  contentHits: number[];
}

export function scanForSend(policy: Policy, message: MessageInput, recipients: RecipientInfo[]): ScanVerdict {
  const { scan, decision } = scanAndDecide(policy, message, recipients);
  const contentHits = message.attachments?.some((a) => a.text)
    ? attachmentContentHits(
        scan,
        message.attachments.map((a) => a.name.length),
      )
    : [];
  return { encrypt: decision.decision !== 'block', decision, contentHits };
}

const MODULE = fileURLToPath(import.meta.url);

export function scanGate(
  policy: Policy,
  message: MessageInput,
  recipients: RecipientInfo[],
): EncryptGate<ScanVerdict> {
  return { module: MODULE, name: 'scanForSend', args: [policy, message, recipients], fn: scanForSend };
}
