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
import { newIdempotencyKey } from './idempotency.ts';

/** The pane's key: one per pane session, replaced only for a draft that changed after it was used. */
export interface PaneSendKey {
  readonly current: string;
  /** A new key, which becomes the pane's key from now on. */
  renew(): string;
}

export function paneSendKey(mint: () => string = () => newIdempotencyKey()): PaneSendKey {
  let key = mint();
  return {
    get current() {
      return key;
    },
    renew() {
      key = mint();
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
  const first = await api.sendMessage(request, { idempotencyKey: key.current });
  if (!isIdempotencyConflict(first)) return first;
  return api.sendMessage(request, { idempotencyKey: key.renew() });
}
