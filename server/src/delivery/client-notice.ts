import { openSecret, sealSecret } from '../crypto/index.ts';
import type { Db } from '../store/index.ts';
import { draftLinkNotice } from './mime.ts';
import type { LinkPayload } from './send.ts';
import type { DeliveryServices, MailIdentity } from './services.ts';

// Client delivery (SendMessageRequest `delivery: "client"`): the add-in sends the draft, which
// becomes the notice, so the server must not email one too (the patient would get two). See the
// rule in shared/src/api/messages.ts: only a send that goes now to exactly one secure-link
// recipient is delivered by the client; a draft has one body, and a link is a personal credential.

/** Outbox kind recording a notice handed to the client. Born done: the worker never claims it. */
export const CLIENT_NOTICE_KIND = 'client_notice';

export function clientDeliveryIndex(
  delivery: 'server' | 'client' | undefined,
  scheduled: boolean,
  methods: ReadonlyArray<'link' | 'pgp'>,
): number | null {
  if (delivery !== 'client' || scheduled || methods.length !== 1 || methods[0] !== 'link') return null;
  return 0;
}

export function clientSealContext(outboxId: string): string {
  return `client-notice:${outboxId}`;
}

/**
 * The link and reply tokens stay sealed under the master key on the client_notice row, so a retry
 * with the same Idempotency-Key answers with the same link and reply address (the tokens themselves
 * are stored nowhere else; the viewer and the gateway keep only their hashes).
 */
export function sealClientToken(
  svc: Pick<DeliveryServices, 'masterKey'>,
  outboxId: string,
  tokens: LinkPayload,
): Buffer {
  return Buffer.from(sealSecret(svc.masterKey, JSON.stringify(tokens), clientSealContext(outboxId)));
}

export function clientNotice(
  svc: Pick<DeliveryServices, 'config' | 'now'>,
  identity: MailIdentity,
  tokens: LinkPayload,
  expiresAt: string,
  codeRequired: boolean,
): { text: string; html: string } {
  return draftLinkNotice({
    practiceName: identity.practiceName,
    url: `${svc.config.publicUrl}/m/${tokens.token}`,
    // Its own token, never the link's: an address is seen by every mail server on the way and kept
    // in address books. A notice handed out before reply tokens existed had the link token here;
    // its replay (below) gives the client the same notice again, so the gateway still accepts it.
    replyAddress: `reply+${tokens.replyToken ?? tokens.token}@${identity.domain}`,
    expiresAt,
    codeRequired,
    now: svc.now(),
  });
}

/**
 * For an idempotent replay: which delivery the client delivered (null: none) and its notice,
 * rebuilt with the same link; the notice is null once the token is gone (revoked).
 */
export async function replayClientNotice(
  svc: Pick<DeliveryServices, 'db' | 'config' | 'now' | 'masterKey'>,
  db: Db,
  messageId: string,
  identity: MailIdentity,
  codeRequired: boolean,
): Promise<{ deliveryId: string; notice: { text: string; html: string } | null } | null> {
  const row = await db
    .selectFrom('outbox')
    .innerJoin('deliveries', 'deliveries.id', 'outbox.delivery_id')
    .innerJoin('messages', 'messages.id', 'deliveries.message_id')
    .select(['outbox.id', 'outbox.payload', 'deliveries.id as deliveryId', 'messages.expires_at'])
    .where('deliveries.message_id', '=', messageId)
    .where('outbox.kind', '=', CLIENT_NOTICE_KIND)
    .executeTakeFirst();
  if (!row) return null;
  if (!row.payload) return { deliveryId: row.deliveryId, notice: null };
  const opened = openSecret(svc.masterKey, row.payload.toString('utf8'), clientSealContext(row.id));
  if (!opened.ok) return { deliveryId: row.deliveryId, notice: null };
  const tokens = JSON.parse(opened.plaintext.toString('utf8')) as LinkPayload;
  return {
    deliveryId: row.deliveryId,
    notice: clientNotice(
      svc,
      identity,
      tokens,
      row.expires_at ?? new Date(svc.now()).toISOString(),
      codeRequired,
    ),
  };
}
