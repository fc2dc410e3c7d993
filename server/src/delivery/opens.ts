import { nowIso } from '../store/index.ts';
import type { LinkState } from './reply.ts';
import type { DeliveryServices } from './services.ts';

// Opens count only on evidence of a person (link prefetchers and mail scanners fetch the viewer
// with nobody there): the viewer's visible-page beacon, a one-time code, or a reply.

type OpenLink = LinkState & { ok: true };

/**
 * What showed that a person, not a scanner, had the message: the page's script ran in a visible
 * tab, the one-time code was entered, or the patient replied (from the page or by email).
 */
export type OpenEvidence = 'page_visible' | 'one_time_code' | 'reply';

/**
 * Records the first open on evidence of a person: sets the link's and the delivery's opened time
 * and adds the `opened` engagement event, once (later calls change nothing). Returns whether this
 * call was the first.
 */
export async function recordFirstOpen(
  svc: DeliveryServices,
  link: OpenLink,
  evidence: OpenEvidence,
  /** When the evidence arose (an email reply's receipt time); now by default. */
  at: Date = svc.now(),
): Promise<boolean> {
  const t = nowIso(at);
  return svc.db.transaction().execute(async (tx) => {
    const first = await tx
      .updateTable('viewer_links')
      .set({ first_opened_at: t })
      .where('id', '=', link.linkId)
      .where('first_opened_at', 'is', null)
      .executeTakeFirst();
    if (Number(first.numUpdatedRows) === 0) return false;
    const d = await tx
      .selectFrom('deliveries')
      .select(['patient_id'])
      .where('id', '=', link.deliveryId)
      .executeTakeFirstOrThrow();
    await tx
      .updateTable('deliveries')
      .set({ opened_at: t, updated_at: t })
      .where('id', '=', link.deliveryId)
      .where('opened_at', 'is', null)
      .execute();
    await tx
      .updateTable('deliveries')
      .set({ status: 'opened' })
      .where('id', '=', link.deliveryId)
      .where('status', 'in', ['queued', 'scheduled', 'sent'])
      .execute();
    if (d.patient_id) {
      await tx
        .insertInto('engagement_events')
        .values({
          id: `opened:${link.deliveryId}`,
          practice_id: link.practiceId,
          patient_id: d.patient_id,
          type: 'opened',
          at: t,
          message_id: link.messageId,
          latency_ms: null,
          topics: '[]',
          data: JSON.stringify({ evidence }),
          created_at: t,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
    return true;
  });
}
