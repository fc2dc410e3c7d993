// The compose pane's POST /v1/messages ("Send securely" and "Schedule") under the pane's
// Idempotency-Key (idempotency.ts): a repeat of the same request replays the message the server
// already has; a draft edited since the key was used is a new message and gets a new key.
//
// Why the pane does not share the send handler's key (draft-key.ts, kept in item.sessionData),
// although both send the same draft: the two requests differ, so the server would never replay one
// for the other. The pane asks for delivery "server" (it discards the draft, so the server emails
// every notice) and may ask for sendAt "best"; the handler asks for delivery "client" (the draft
// leaves Exchange as the notice). The server's request hash covers the delivery mode
// (server/src/delivery/send.ts requestHash), so a shared key would only ever answer 409 conflict,
// each side would then mint a new key, and the handler would overwrite the entry the pane had
// stored: no duplicate avoided, one more round trip per send, and the handler's own retries
// (Send pressed again after a lost answer) no longer guaranteed to find their key. Each keeps its own.
import type { SendMessageRequestInput, SendMessageResponse } from '@attune/shared/api';
import { isIdempotencyConflict } from '../core/api-client.ts';
import type { ApiClient, ApiResult } from '../core/api-client.ts';
import { draftSendKey, replaceDraftSendKey, type KeySlot } from '../launchevent/draft-key.ts';
import { newIdempotencyKey } from './idempotency.ts';

/** The sessionData entry of the pane's key (the handler's is draft-key.ts SEND_KEY_ENTRY). */
export const PANE_KEY_SLOT: KeySlot = { entry: 'attune.paneSendIdempotencyKey', prefix: 'outlook-compose' };

/**
 * The pane's key: one per draft, replaced only for a draft that changed after it was used. Kept in
 * the item's sessionData (draft-key.ts), so a pane closed after a lost answer and opened again on
 * the same draft posts under the same key and the server replays its message: a key held only by
 * the pane's page was gone with it, and the second click made a second message (with several
 * recipients, a second link for each). Without sessionData, or outside Outlook (`item` null), the
 * key lives as long as the pane.
 */
export interface PaneSendKey {
  /** The key for the next post (undefined: this runtime has no random source; sent without one). */
  get(): Promise<string | undefined>;
  /** A new key, kept, which becomes the pane's key from now on. */
  renew(): Promise<string | undefined>;
  /** The key last given by get() or renew(). */
  readonly current: string | undefined;
}

export function paneSendKey(item: () => Office.MessageCompose | null = () => null): PaneSendKey {
  let key: string | undefined;
  let loaded = false;
  const fresh = async (): Promise<string | undefined> => {
    const it = item();
    return it ? (await replaceDraftSendKey(it, PANE_KEY_SLOT)).key : newIdempotencyKey();
  };
  return {
    get current() {
      return key;
    },
    async get() {
      if (!loaded) {
        const it = item();
        key = it ? (await draftSendKey(it, PANE_KEY_SLOT)).key : newIdempotencyKey();
        loaded = true;
      }
      return key;
    },
    async renew() {
      key = await fresh();
      loaded = true;
      return key;
    },
  };
}

/**
 * POSTs `request` under the pane's key; on 409 `conflict`, once more under a new key, kept.
 *
 * A conflict means the server holds a message under this key with other content: an earlier click
 * lost its answer (timeout, 5xx after the commit), and the clinician then edited the draft (or chose
 * the other action). What is being sent now is a new message, so it gets a new key, and that key
 * becomes the pane's, so a click again after this send's own answer is lost replays it instead of
 * making a third. Replaying the old message instead would send what the clinician no longer means
 * and drop the edit; refusing (as before) told them "Nothing was sent", which may be false, and
 * left them stuck until the pane was reopened. The earlier send, if it was committed, stands: it
 * cannot be recalled without its id. Any other failure is returned as it is.
 */
export async function sendUnderPaneKey(
  api: Pick<ApiClient, 'sendMessage'>,
  request: SendMessageRequestInput,
  key: PaneSendKey,
): Promise<ApiResult<SendMessageResponse>> {
  const k = await key.get();
  const first = await api.sendMessage(request, k === undefined ? {} : { idempotencyKey: k });
  if (!isIdempotencyConflict(first)) return first;
  const renewed = await key.renew();
  return api.sendMessage(request, renewed === undefined ? {} : { idempotencyKey: renewed });
}
