// The Idempotency-Key of a draft's secure send, kept on the item so that it survives from one press
// of Send to the next. Each OnMessageSend event runs in a fresh JavaScript context, so a key held in
// a variable is gone by the next press; when the server's answer was lost (timeout, network drop, a
// 5xx after it committed) and the clinician presses Send again, only a key kept with the draft lets
// the server answer with the message it already accepted instead of creating (and, with several
// recipients, emailing) a second one.
//
// Where: item.sessionData (Mailbox 1.11), string key/values per item and per add-in, kept for the
// compose session, the documented store for state shared between a draft's events. The manifest's
// handler requires Mailbox 1.15, so every host that runs it has 1.11; a host without it still sends,
// with a fresh key per press (no protection against a repeat, as before there were keys).
//
// The key is random, never derived from the content: it travels in a header and in server logs.
import { IDEMPOTENCY_KEY_RULE, newIdempotencyKey } from '../compose/idempotency.ts';
import { officeCall } from '../core/office-async.ts';

/** The sessionData entry holding the key (names the purpose, never the content). */
export const SEND_KEY_ENTRY = 'attune.sendIdempotencyKey';
export const SEND_KEY_PREFIX = 'outlook-send';

export interface DraftKey {
  /** The key to send, or undefined when this runtime has no random source (sent without one). */
  key: string | undefined;
  /** True when the key is kept on the item: a later press of Send finds it again. */
  kept: boolean;
}

type WithSessionData = Office.MessageCompose & { sessionData?: Office.SessionData };

function sessionDataOf(item: Office.MessageCompose): Office.SessionData | undefined {
  const sd = (item as WithSessionData).sessionData;
  return sd && typeof sd.getAsync === 'function' && typeof sd.setAsync === 'function' ? sd : undefined;
}

/** Where a key is kept on the item and how new ones are named (the send handler's by default). */
export interface KeySlot {
  entry: string;
  prefix: string;
}
const HANDLER_SLOT: KeySlot = { entry: SEND_KEY_ENTRY, prefix: SEND_KEY_PREFIX };

/** The draft's key from an earlier press of Send, else a new one, kept on the item before use. */
export async function draftSendKey(
  item: Office.MessageCompose,
  slot: KeySlot = HANDLER_SLOT,
): Promise<DraftKey> {
  const sd = sessionDataOf(item);
  if (sd) {
    try {
      const stored = await officeCall<string>('sessionData.getAsync', (cb) => sd.getAsync(slot.entry, cb));
      if (typeof stored === 'string' && IDEMPOTENCY_KEY_RULE.test(stored)) return { key: stored, kept: true };
    } catch {
      // An entry never set is reported as a failure by some hosts and as an empty value by others:
      // either way there is no key yet.
    }
  }
  return replaceDraftSendKey(item, slot);
}

/**
 * A new key for this draft, kept on the item (for a draft whose content changed since the key was
 * used: the server refuses an old key for new content). Stored before the request that uses it, so
 * an answer lost after the server committed still leaves the key for the next press.
 */
export async function replaceDraftSendKey(
  item: Office.MessageCompose,
  slot: KeySlot = HANDLER_SLOT,
): Promise<DraftKey> {
  const key = mintKey(slot.prefix);
  if (key === undefined) return { key, kept: false };
  const sd = sessionDataOf(item);
  if (!sd) return { key, kept: false };
  try {
    await officeCall<void>('sessionData.setAsync', (cb) => sd.setAsync(slot.entry, key, cb));
    return { key, kept: true };
  } catch {
    // Sending with an unkept key is what happened before keys existed; blocking would be worse.
    return { key, kept: false };
  }
}

function mintKey(prefix: string): string | undefined {
  // A CSPRNG or nothing (ASVS 11.5.1): if a runtime lacks Web Crypto, send without a key rather
  // than with a guessable one (a replay answers with the first send's notice and secure link).
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (!c || typeof c.getRandomValues !== 'function') return undefined;
  return newIdempotencyKey(c, prefix);
}
