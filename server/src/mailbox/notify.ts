import type { Config } from '../config.ts';
import { composeSimple, replyNotice } from '../delivery/mime.ts';
import { mailIdentity } from '../delivery/services.ts';
import type { MailTransport } from '../delivery/transport.ts';
import type { Db } from '../store/index.ts';
import type { CrisisNotice } from './gmail.ts';

/**
 * The clinician's urgent, PHI-free notice for a crisis reply found by mailbox sync: the same notice
 * delivery sends for a crisis reply through the viewer (delivery/mime.ts replyNotice, urgent), sent
 * through the same transport. No patient name, address or words; an opaque reference only.
 */
export function crisisNotifier(deps: {
  db: Db;
  config: Config;
  transport: MailTransport;
}): (n: CrisisNotice) => Promise<void> {
  return async function notifyCrisis(n) {
    const identity = await mailIdentity(deps, n.practiceId);
    const mail = await composeSimple({
      from: identity.from,
      to: n.mailbox,
      messageId: `<crisis-${n.reference}@${identity.domain}>`,
      content: replyNotice({ practiceName: identity.practiceName, reference: n.reference, urgent: true }),
    });
    const r = await deps.transport.send(mail, 'reply-notice');
    if (!r.ok) throw new Error(`crisis notice not sent (${r.permanent ? 'permanent' : 'temporary'} failure)`);
  };
}
