// The Idempotency-Key of a secure compose card. Apps Script keeps nothing between two clicks of a
// card, but a card's actions carry string parameters that come back in the event of every click:
// a key minted when the compose card is first built (Utilities.getUuid) and carried in its
// actions' parameters, and in those of every card rebuilt from it (Scan, a failure), is the same
// for every click of that card. A double click, or Send securely pressed again after a timeout or
// a 5xx that followed the server's commit, then gets the message the server already accepted
// instead of a second one. A new compose card (the add-on opened again) gets a new key.
//
// Random, never derived from the content: it travels in a header and in server logs.
import { IDEMPOTENCY_KEY_RULE, isIdempotencyConflict, MAX_FOLLOW_ON_KEYS } from '@attune/shared/api';
import type { ApiFailure, ApiResult } from './api-client.ts';

/** The action parameter that carries the card's key. */
export const SEND_KEY_PARAM = 'sendKey';
export const SEND_KEY_PREFIX = 'gmail-compose-';
/**
 * Keys tried after the card's own before a random one (sendUnderFollowOnKey): as many as the server
 * treats as versions of the card's key (shared/api followOnKeys), so its 409 for the card's key
 * names the latest live version, the one "Revoke it" must revoke.
 */
export { MAX_FOLLOW_ON_KEYS };

export function newSendKey(): string {
  return `${SEND_KEY_PREFIX}${Utilities.getUuid()}`;
}

/** The key an action's parameters carry, if it is one the server accepts. */
export function cardKeyOf(raw: string | undefined): string | null {
  return raw !== undefined && IDEMPOTENCY_KEY_RULE.test(raw) && raw.length <= 190 ? raw : null;
}

/** 409 from POST /v1/messages: the key was used for a different request. */
export function isKeyConflict(f: ApiFailure): boolean {
  return f.kind === 'rejected' && isIdempotencyConflict(f.status, f.code);
}

/** The earlier message a 409 `conflict` names (the clinician's own), if the server named one. */
export function earlierMessageId(f: ApiFailure): string | undefined {
  return f.kind === 'rejected' ? f.messageId : undefined;
}

/**
 * Posts under the card's key, once. A 409 `conflict` comes back as it is: the server holds another
 * message under this key, so the clinician changed the card (or switched between Send and
 * Schedule) since an earlier click whose answer was lost. That earlier message stands and may
 * already have reached the patient; posting this one too would send both without the clinician
 * knowing, and replaying the old one would send what they no longer mean. The card asks instead
 * (compose.ts), and only their choice sends under a follow-on key (sendUnderFollowOnKey).
 */
export function sendUnderCardKey<T>(
  cardKey: string,
  post: (idempotencyKey: string) => ApiResult<T>,
): ApiResult<T> {
  return post(cardKey);
}

/**
 * Posts under a follow-on key of the card's, after the clinician chose to send this version
 * despite an earlier one (revoked first, or kept when the server did not name it).
 *
 * The new key is the card's key with a suffix (".2", ".3", ...), not a random one, because a
 * card cannot be given a new key once the send succeeds: a compose action answers with a draft
 * update, which cannot also replace the card. The next click of the same choice still carries the
 * card's key, and must land on the message just created, not on a third: walking the same suffixes
 * finds it (a replay), or the first free one for another edit. Only past MAX_FOLLOW_ON_KEYS edits
 * of one card does a random key go out.
 *
 * The server answers a later click under the card's own key for the latest of these versions
 * (replayed if it is the same request, else a 409 naming the latest live one): the 409 used to name
 * the card key's first message, long revoked, so "Revoke it" revoked nothing and the next version
 * went out while the previous one stayed live.
 */
export function sendUnderFollowOnKey<T>(
  cardKey: string,
  post: (idempotencyKey: string) => ApiResult<T>,
): ApiResult<T> {
  let res = post(`${cardKey}.2`);
  for (let n = 3; !res.ok && isKeyConflict(res.failure) && n <= MAX_FOLLOW_ON_KEYS + 1; n++)
    res = post(`${cardKey}.${n}`);
  if (!res.ok && isKeyConflict(res.failure)) res = post(newSendKey());
  return res;
}
