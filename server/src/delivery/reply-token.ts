import { sealSecret } from '../crypto/index.ts';
import type { OutboxTable } from '../store/schema.ts';
import { outboxSealContext, type LinkPayload } from './send.ts';
import type { DeliveryServices } from './services.ts';
import { newReplyToken } from './tokens.ts';

/**
 * The token for the reply address of a notice the outbox is about to send. A row queued before
 * reply tokens existed (a scheduled send, a retry) holds only the link token: a reply token is
 * issued now, its hash set on the link and the sealed payload rewritten with it, in one durable
 * commit before the notice leaves, so a later attempt of the same row reuses it. Only if the link
 * already has a reply token this row does not hold (not a state this code writes) does the address
 * fall back to the link token, which the gateway still accepts (reply.ts resolveReplyAddress).
 */
export async function replyTokenFor(
  svc: Pick<DeliveryServices, 'commit' | 'masterKey'>,
  row: Pick<OutboxTable, 'id' | 'delivery_id'>,
  payload: LinkPayload,
): Promise<string> {
  if (payload.replyToken) return payload.replyToken;
  const deliveryId = row.delivery_id;
  if (!deliveryId) return payload.token;
  const reply = newReplyToken();
  const issued = await svc.commit(async (tx) => {
    const set = await tx
      .updateTable('viewer_links')
      .set({ reply_token_sha256: reply.sha256 })
      .where('delivery_id', '=', deliveryId)
      .where('reply_token_sha256', 'is', null)
      .executeTakeFirst();
    if (Number(set.numUpdatedRows) !== 1) return false;
    const sealed: LinkPayload = { token: payload.token, replyToken: reply.token };
    await tx
      .updateTable('outbox')
      .set({
        payload: Buffer.from(sealSecret(svc.masterKey, JSON.stringify(sealed), outboxSealContext(row.id))),
      })
      .where('id', '=', row.id)
      .where('payload', 'is not', null)
      .execute();
    return true;
  });
  return issued ? reply.token : payload.token;
}
