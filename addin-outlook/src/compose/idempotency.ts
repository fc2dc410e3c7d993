// One Idempotency-Key per draft for the pane (kept in the item's sessionData, so a reopened pane
// finds it: secure-send.ts): every "Send securely" or "Schedule" click sends the same key, so when an answer is lost (timeout, network drop, 5xx after commit) and the
// clinician clicks again, the server answers with the message it already accepted instead of
// creating a second one. A draft edited after such a lost answer is a new message and gets a new
// key, kept as the pane's from then on (secure-send.ts). Random, never derived from the draft: it
// travels in a header and in logs.

export { IDEMPOTENCY_KEY_RULE } from '@attune/shared/api';

export function newIdempotencyKey(
  c: Pick<Crypto, 'getRandomValues'> & { randomUUID?: () => string } = crypto,
  prefix = 'outlook-compose',
): string {
  if (typeof c.randomUUID === 'function') return `${prefix}-${c.randomUUID()}`;
  // randomUUID needs a secure context; the panes are https, but a WebView may lack it.
  const bytes = c.getRandomValues(new Uint8Array(16));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
