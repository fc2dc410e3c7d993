// The compose pane's POST /v1/messages ("Send securely" and "Schedule") under the pane's
// Idempotency-Key (idempotency.ts): a repeat of the same request replays the message the server
// already has.
//
// A 409 conflict (the key already names another message: the draft was edited, or the other action
// chosen, after a lost answer) is never answered by sending again on its own: the clinician chooses
// (sendUnderPaneKey below).
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
import type { ApiClient, ApiFailure, ApiResult } from '../core/api-client.ts';
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
 * POSTs `request` under the pane's key. Every failure is returned as it is, 409 `conflict` too.
 *
 * A conflict means the server holds a message under this key with other content: an earlier click
 * lost its answer (timeout, 5xx after the commit), and then the clinician edited the draft or chose
 * the other action ("Schedule" after a lost "Send securely", or the reverse). That earlier message
 * stands and may already have reached the recipients. Posting this one under a new key at once (as
 * before) sent two messages without the clinician knowing; replaying the old one would send what
 * they no longer mean. So the pane asks (compose.ts): revoke the earlier one and send this one
 * (`revokeThenSend`), or keep it and send nothing more. The server names the earlier message in
 * the 409 (`messageId`); a server that does not gets "send this one as well" (`sendUnderNewKey`)
 * instead of revoke.
 */
export async function sendUnderPaneKey(
  api: Pick<ApiClient, 'sendMessage'>,
  request: SendMessageRequestInput,
  key: PaneSendKey,
): Promise<ApiResult<SendMessageResponse>> {
  const k = await key.get();
  return api.sendMessage(request, k === undefined ? {} : { idempotencyKey: k });
}

/**
 * `request` as a new message under a new key, kept as the pane's from then on (a click again after
 * this send's own answer is lost replays it instead of making a third). Only on the clinician's
 * choice after a conflict.
 */
export async function sendUnderNewKey(
  api: Pick<ApiClient, 'sendMessage'>,
  request: SendMessageRequestInput,
  key: PaneSendKey,
): Promise<ApiResult<SendMessageResponse>> {
  const renewed = await key.renew();
  return api.sendMessage(request, renewed === undefined ? {} : { idempotencyKey: renewed });
}

export type RevokeThenSend =
  /** The revoke failed: nothing new was sent. */
  | { ok: false; step: 'revoke'; failure: ApiFailure }
  /**
   * The earlier message is revoked; `stillDelivered` recipients had already received it by
   * encrypted email (PGP), which a revoke cannot take back. `sent` is the new message's answer.
   */
  | { ok: true; stillDelivered: number; sent: ApiResult<SendMessageResponse> };

/** Revokes the earlier message, then (only if that worked) sends `request` under a new key. */
export async function revokeThenSend(
  api: Pick<ApiClient, 'sendMessage' | 'revokeMessage'>,
  earlierId: string,
  request: SendMessageRequestInput,
  key: PaneSendKey,
): Promise<RevokeThenSend> {
  const revoked = await api.revokeMessage(earlierId);
  if (!revoked.ok) return { ok: false, step: 'revoke', failure: revoked };
  const stillDelivered = revoked.value.recipients.filter((r) => r.status !== 'revoked').length;
  return { ok: true, stillDelivered, sent: await sendUnderNewKey(api, request, key) };
}
