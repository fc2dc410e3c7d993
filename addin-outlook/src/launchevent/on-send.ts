// The OnMessageSend (Smart Alerts) handler. Bundled into one classic script for the JS-only
// runtime; no Office.onReady there, so nothing here waits for it.
//
// Decision table (policy from the server, else the shared default for deciding only):
//   allow                     -> send continues (if the draft goes outside the practice with a PDF,
//                                Office, RTF, HTML or text file, the server's scan of their contents
//                                (POST /v1/scan) decides first; no answer: held as below)
//   warn (opt-in practices)   -> blocked, "Send Anyway" offered (sendModeOverride PromptUser)
//   block (policy blockTypes) -> blocked, pane offered to redact
//   encrypt + review          -> blocked, "Send securely" opens the compose pane with the findings
//   encrypt + automatic       -> content POSTed to the server (delivery "client"); body replaced by the
//                                PHI-free notice with the secure link, attachments removed,
//                                x-attune-secured set; send continues. The POST carries the draft's
//                                Idempotency-Key (draft-key.ts), so Send pressed again after a lost
//                                answer gets the message the server already has, not a second one.
//                                If Outlook refuses the rewrite, the alert says what is safe next:
//                                Send again (same draft, same key: the stored message, rewritten)
//                                only when that holds, else discard the draft or use the pane.
//                                409 conflict (the draft was edited after a lost answer, and the
//                                server holds the earlier version): blocked, "Review" opens the pane
//                                to revoke the earlier one and send this, or keep it (never both
//                                sent silently)
//   server unreachable / sign-in failed, and the detector found anything -> blocked, says why and
//                                what to do (the practice's rules cannot be applied without it)
// Every path ends in exactly one event.completed (CONVENTIONS 12).
import type { SendMessageRequestInput, SendMessageResponse } from '@attune/shared/api';
import type { MessageScan } from '@attune/shared/phi';
import { addressOf, decide } from '@attune/shared/policy';
import { conflictMessageId, isIdempotencyConflict } from '../core/api-client.ts';
import type { ApiClient, ApiFailure } from '../core/api-client.ts';
import { alerts } from '../core/alerts.ts';
import type { AlertText } from '../core/alerts.ts';
import { readDraft } from '../core/draft.ts';
import type { Draft } from '../core/draft.ts';
import { evaluateDraft } from '../core/evaluate.ts';
import { officeCall } from '../core/office-async.ts';
import type { PolicySource } from '../core/policy-source.ts';
import { collectAttachments } from '../core/attachments.ts';
import { needsAttachmentScan, scanAttachmentContents } from '../core/attachment-scan.ts';
import {
  applyNotice,
  clientRecipient,
  forgetKept,
  goesOnlyTo,
  keptMessageId,
  NEUTRAL_SUBJECT,
  SECURED_HEADER,
} from '../core/kept-notice.ts';
import { draftSendKey } from './draft-key.ts';
import type { DraftKey } from './draft-key.ts';

export { NEUTRAL_SUBJECT, SECURED_HEADER } from '../core/kept-notice.ts';
/** The compose pane button's Control id in manifest.xml. */
export const COMPOSE_COMMAND_ID = 'attuneComposeButton';

export interface SendContext {
  v: 1;
  reason:
    'review' | 'warn' | 'block' | 'sign_in' | 'unreachable' | 'rejected' | 'rewrite_failed' | 'earlier_sent';
  /** Kinds of PHI found (never values). */
  types: string[];
  /** With 'earlier_sent': the message the server holds under the draft's key (an id, never PHI). */
  messageId?: string;
}

export interface OnSendDeps {
  api: Pick<ApiClient, 'sendMessage' | 'recipientPatients' | 'messageNotice' | 'scanDraft'>;
  policy: PolicySource;
  item: () => Office.MessageCompose;
}

type Completed = Office.SmartAlertsEventCompletedOptions;

export function createOnMessageSend(deps: OnSendDeps): (event: Office.MailboxEvent) => Promise<void> {
  return async function attuneOnMessageSend(event) {
    // Fail closed: if anything below throws, the send is stopped with a clear message.
    let options: Completed = blockWith(alerts.internal(), null);
    try {
      options = await decideSend(deps);
    } catch {
      options = blockWith(alerts.internal(), null);
    } finally {
      event.completed(options);
    }
  };
}

async function decideSend(deps: OnSendDeps): Promise<Completed> {
  const item = deps.item();
  const draft = await readDraft(item);
  const state = await deps.policy.get();
  const evaluated = evaluateDraft(state.policy, {
    subject: draft.subject,
    html: draft.html,
    to: draft.to,
    cc: draft.cc,
    bcc: draft.bcc,
    attachmentNames: draft.attachments.map((a) => a.name),
  });

  // The clinician kept an earlier version in the pane (core/kept-notice.ts): this draft goes out as
  // that version's notice, the patient's only email with its link, whatever the draft holds now.
  const kept = await keptMessageId(item);
  if (kept !== undefined) return sendKeptNotice(deps, item, draft, evaluated.scan, kept);

  // Without the practice's policy only a message the detector finds nothing in may go: the
  // practice's own rules (types it never allows, its keywords and patterns, opt-out encryption of
  // health content to known patients) could turn what the default allows into a block or a
  // secure send, and a send handler's runtime starts afresh for each send (no policy cached).
  // (The recipients' own addresses are findings of every message: the content decides.)
  const { scan } = evaluated;
  const contentFindings = scan.fields.some(
    (f) => f.field !== 'to' && f.field !== 'cc' && f.findings.length > 0,
  );
  if (state.source === 'default' && contentFindings) return failureOptions(state.failure, scan);

  // The known-patient rule: health content or an identifier in mail to a patient of the practice is
  // PHI. Whether a recipient is a patient is the server's to say (it is health information itself,
  // never kept here); asked only when the content has findings and the answer could change "allow".
  // If it cannot be asked, the send is held: a patient cannot be ruled out.
  let { decision } = evaluated;
  if (decision.decision === 'allow' && contentFindings && decision.externalRecipients.length > 0) {
    const asked = [...new Set(decision.externalRecipients.map(addressOf))].slice(0, 100);
    const known = await deps.api.recipientPatients(asked);
    if (!known.ok) return failureOptions(known, scan);
    if (known.value.patients.length > 0) {
      const patients = new Set(known.value.patients);
      decision = decide(
        state.policy,
        scan,
        [...draft.to, ...draft.cc, ...draft.bcc].map((email) => ({
          email,
          isPatient: patients.has(addressOf(email)),
        })),
      );
    }
  }

  // Attachments whose contents the server can read (PDF, Office, RTF, HTML, text, attached mail):
  // the detector here sees only their names. A draft about to go out plain with such a file to
  // someone outside the practice waits for the server's scan of the contents. If the server cannot
  // be asked, the send is held, as for PHI: an intake form as a PDF must not leave in clear.
  let scanned = scan;
  if (needsAttachmentScan(decision, draft)) {
    if (state.source === 'default') return failureOptions(state.failure, scan);
    const server = await scanAttachmentContents(deps.api, item, draft, scan, decision);
    if (!server.ok) return failureOptions(server, scan);
    ({ scan: scanned, decision } = server);
  }

  switch (decision.decision) {
    case 'allow':
      return { allowEvent: true };
    case 'warn':
      return {
        ...blockWith(alerts.warn(scanned), context('warn', scanned)),
        cancelLabel: 'Send securely',
        // Mailbox 1.14 enum; the literal keeps older hosts from throwing (and failing closed) here.
        sendModeOverride: Office.MailboxEnums.SendModeOverride?.PromptUser ?? 'promptUser',
      };
    case 'block':
      return {
        ...blockWith(
          alerts.blocked(blockedTypes(scanned, state.policy.blockTypes)),
          context('block', scanned),
        ),
        cancelLabel: 'Review',
      };
    case 'encrypt':
      break;
  }

  // PHI must be secured. Without the practice policy we know why the server could not be asked.
  if (state.source === 'default') return failureOptions(state.failure, scanned);
  if (state.policy.outlookAction === 'review') {
    return { ...blockWith(alerts.review(scanned), context('review', scanned)), cancelLabel: 'Send securely' };
  }
  return secureInPlace(deps, item, draft, scanned);
}

async function secureInPlace(
  deps: OnSendDeps,
  item: Office.MessageCompose,
  draft: Draft,
  scan: MessageScan,
): Promise<Completed> {
  const collected = await collectAttachments(item, draft.attachments);
  if (!collected.ok) return blockWith(alerts.cloudAttachment(), null);

  const request: SendMessageRequestInput = {
    to: draft.to,
    // The API has no Bcc; Bcc recipients must reach the content too. The server delivers to each
    // recipient separately, so nobody sees the others' addresses.
    cc: [...draft.cc, ...draft.bcc],
    subject: draft.subject,
    html: draft.html,
    attachments: collected.attachments,
    // This draft goes on to Exchange as the notice, so the server must not email one too: for a
    // single secure-link recipient the returned notice carries the link (DESIGN: only the notice
    // leaves Exchange). With several recipients the server still emails each its own link.
    delivery: 'client',
  };
  const draftKey = await draftSendKey(item);
  const sent = await deps.api.sendMessage(request, keyOption(draftKey));
  if (isIdempotencyConflict(sent)) {
    // The server already holds a message under this draft's key, with other content: the clinician
    // changed the draft after an earlier press of Send whose answer was lost, and the earlier version
    // stands (it may have reached the recipients). Posting the edit under a new key here would send
    // a second message without the clinician knowing; replaying the old one would drop the edit.
    // So the send stops and the pane (Review) lets them revoke the earlier one and send this, or
    // keep it. The key stays: Send pressed again gets the same answer, never a second message.
    const messageId = conflictMessageId(sent);
    return {
      ...blockWith(alerts.earlierSent(messageId !== undefined), {
        ...context('earlier_sent', scan),
        ...(messageId !== undefined ? { messageId } : {}),
      }),
      cancelLabel: 'Review',
    };
  }
  if (!sent.ok) {
    // No answer (or a 5xx) may follow a commit: say so, and that Send again is safe when it is.
    if (sent.reason === 'unreachable' || sent.reason === 'server_error' || sent.reason === 'invalid_response')
      return blockWith(alerts.unconfirmed(scan, draftKey.kept), null);
    return failureOptions(sent, scan);
  }

  // The body is written first: if Outlook refuses it, the draft is still exactly what was posted, so
  // Send pressed again posts the same request (rewriteFailed below). After any write has landed, the
  // next press would read another draft, and the server would take it for another message.
  let draftChanged = false;
  try {
    await officeCall<void>('body.setAsync', (cb) =>
      item.body.setAsync(sent.value.notice.html, { coercionType: Office.CoercionType.Html }, cb),
    );
    draftChanged = true;
    const subjectHasPhi = scan.fields.some((f) => f.field === 'subject' && f.findings.length > 0);
    if (subjectHasPhi)
      await officeCall<void>('subject.setAsync', (cb) => item.subject.setAsync(NEUTRAL_SUBJECT, cb));
    for (const a of draft.attachments) {
      await officeCall<void>('removeAttachmentAsync', (cb) => item.removeAttachmentAsync(a.id, cb));
    }
    await officeCall<void>('internetHeaders.setAsync', (cb) =>
      item.internetHeaders.setAsync({ [SECURED_HEADER]: sent.value.id }, cb),
    );
  } catch {
    return rewriteFailed(sent.value, draftKey, draftChanged, scan);
  }
  return { allowEvent: true };
}

/**
 * Send after "Keep it" in the pane: the draft becomes the kept message's notice again (the pane
 * already wrote it, but the draft may have been edited since) and goes. Never the draft's own
 * content: the body is replaced and attachments removed before the send goes on.
 */
async function sendKeptNotice(
  deps: OnSendDeps,
  item: Office.MessageCompose,
  draft: Draft,
  scan: MessageScan,
  messageId: string,
): Promise<Completed> {
  const notice = await deps.api.messageNotice(messageId);
  if (!notice.ok) {
    if (notice.code === 'message_revoked' || notice.code === 'message_expired') {
      // Its link no longer works: the note goes, and the next Send treats the draft afresh.
      await forgetKept(item);
      return blockWith(alerts.keptNotice('gone'), null);
    }
    if (notice.reason === 'sign_in_failed')
      return { ...blockWith(alerts.signIn(scan), context('sign_in', scan)), cancelLabel: 'Sign in' };
    return blockWith(alerts.keptNotice('unreachable'), null);
  }
  const to = clientRecipient(notice.value);
  // Only a client-delivered notice is noted by the pane; the server emails any other itself.
  if (to === null) return blockWith(alerts.keptNotice('server_sends'), null);
  if (!goesOnlyTo(draft, to)) return blockWith(alerts.keptNotice('recipients_changed'), null);
  try {
    const subjectHasPhi = scan.fields.some((f) => f.field === 'subject' && f.findings.length > 0);
    await applyNotice(item, draft, notice.value, subjectHasPhi);
  } catch {
    return blockWith(alerts.rewriteFailed('send_again'), null);
  }
  return { allowEvent: true };
}

/**
 * The server holds the message, but the draft could not be made its notice. What the clinician
 * should do next depends on what pressing Send again would post:
 * - the draft's key is kept and the draft is as it was read: Send again reads the same draft, posts
 *   the same request under the same key, the server answers with the message it already has (the
 *   same notice, the same link) and the rewrite is tried again. Nothing new is sent, so that is the
 *   advice, and the pane's Send securely is not offered: it posts under its own key with delivery
 *   "server" (a different request, see compose/secure-send.ts), a second message, and with several
 *   recipients a second link for each.
 * - otherwise Send again (or the pane) would be a second message. If the server already emails
 *   every recipient their own link (several recipients: no recipient is the draft's), the message
 *   has gone out securely and the draft must only be discarded. If one recipient was to get the
 *   link through this draft, nobody has been sent anything: the pane's Send securely (the server
 *   emails the notice) reaches them once. (A draft already partly rewritten also goes that way, as
 *   before; finishing its rewrite on the next press would need the notice kept with the key.)
 */
function rewriteFailed(
  sent: SendMessageResponse,
  draftKey: DraftKey,
  draftChanged: boolean,
  scan: MessageScan,
): Completed {
  if (draftKey.kept && !draftChanged) return blockWith(alerts.rewriteFailed('send_again'), null);
  const serverSendsAll = sent.recipients.length > 0 && sent.recipients.every((r) => r.delivery === 'server');
  if (serverSendsAll) return blockWith(alerts.rewriteFailed('discard'), null);
  return {
    ...blockWith(alerts.rewriteFailed('pane'), context('rewrite_failed', scan)),
    cancelLabel: 'Send securely',
  };
}

function keyOption(k: DraftKey): { idempotencyKey?: string } {
  return k.key === undefined ? {} : { idempotencyKey: k.key };
}

function failureOptions(failure: ApiFailure, scan: MessageScan): Completed {
  switch (failure.reason) {
    case 'sign_in_failed':
      return { ...blockWith(alerts.signIn(scan), context('sign_in', scan)), cancelLabel: 'Sign in' };
    case 'rejected':
      return {
        ...blockWith(alerts.rejected(failure.code), context('rejected', scan)),
        cancelLabel: 'Send securely',
      };
    case 'unreachable':
    case 'server_error':
    case 'invalid_response':
      return blockWith(alerts.unreachable(scan), null);
  }
}

function blockWith(text: AlertText, ctx: SendContext | null): Completed {
  const options: Completed = {
    allowEvent: false,
    errorMessage: text.plain,
    errorMessageMarkdown: text.markdown,
  };
  if (ctx) {
    // commandId shows the action button that opens the compose pane; contextData tells the pane why.
    options.commandId = COMPOSE_COMMAND_ID;
    options.contextData = JSON.stringify(ctx);
  }
  return options;
}

function context(reason: SendContext['reason'], scan: MessageScan): SendContext {
  return { v: 1, reason, types: [...scan.types] };
}

function blockedTypes(scan: MessageScan, blockTypes: readonly string[]): MessageScan['types'] {
  const hit = scan.types.filter((t) => blockTypes.includes(t));
  return hit.length > 0 ? hit : scan.types;
}
