// Secure compose. Gmail gives a compose add-on the draft's recipients only (draftAccess METADATA):
// it cannot read the body the clinician typed in Gmail, and it cannot stop Send. So the clinician
// writes the message in this card; Attune scans it here and stores it on the server, and the draft
// receives only the PHI-free notice, which the clinician then sends. "Send securely" asks delivery
// "client": the draft is the notice, carrying the secure link of a single recipient, and the server
// emails nothing more (one email for the patient, not two). With several recipients, an OpenPGP
// recipient, or a scheduled send, the server emails each their own notice and the draft's says so.
// Mail sent around the card is caught by the gateway the admin routes outbound mail through
// (README: "Gmail compliance rule"); it relays a draft notice whose link it can vouch for.

import {
  DEFAULT_POLICY,
  type Policy,
  type SendMessageRequestInput,
  type SendMessageResponse,
} from '@attune/shared/api';
import type { Finding } from '@attune/shared/phi';
import { getPolicy, messageNotice, revokeMessage, sendMessage } from './api.ts';
import type { ApiFailure } from './api-client.ts';
import { addresses, formValue, formValues, param, type AddonEvent } from './events.ts';
import type { ComposeScan, Scanner } from './scanner-types.ts';
import {
  cardKeyOf,
  earlierMessageId,
  isKeyConflict,
  newSendKey,
  SEND_KEY_PARAM,
  sendUnderCardKey,
  sendUnderFollowOnKey,
} from './send-key.ts';
import { button, describeFailure, esc, paragraph, PRODUCT, replaceCard, section } from './ui.ts';

export const FIELD = { subject: 'attune_subject', body: 'attune_body', topics: 'attune_topics' } as const;

/** Topics recorded with the message for topic engagement (shared/api SendMessageRequest.topics). */
export const TOPICS: readonly { value: string; label: string }[] = [
  { value: 'check-in', label: 'Check-in' },
  { value: 'scheduling', label: 'Scheduling' },
  { value: 'homework', label: 'Homework / between-session work' },
  { value: 'medication', label: 'Medication' },
  { value: 'resources', label: 'Resources' },
  { value: 'billing', label: 'Billing' },
];

/** Replaces whatever subject the clinician typed in Gmail: a subject can carry PHI, a notice must not. */
export const NOTICE_SUBJECT = 'Secure message from your care team';

/**
 * What happens after the click. "Send securely" asks delivery "client": to a single secure-link
 * recipient the server emails nothing, and the notice put in the draft is how the patient gets the
 * link, so the draft must be sent. The card says so before the click because the click's answer is
 * a draft update, which cannot also update the card.
 */
export const SEND_STEPS =
  '<b>Send securely</b> stores the message encrypted and puts a notice with the secure link in this draft (its ' +
  'subject becomes neutral): then press Send in Gmail. For a single patient, that email is how they get the ' +
  'message, so do not discard the draft. <b>Schedule</b>: Attune emails the patient at their best hour; the ' +
  'draft then only records it.';

export const COMPOSE_DISCLAIMER =
  'Only what you write in this card is protected. Text typed directly in the Gmail draft is not read by ' +
  'Attune; your practice gateway checks it when it is sent. Findings are decision support: review them, ' +
  'you decide what to write.';

const MAX_FINDINGS_SHOWN = 25;

export interface ComposeState {
  subject: string;
  body: string;
  topics: string[];
  to: string[];
  cc: string[];
  /** Bcc recipients get the message too (the API has no Bcc: they are sent as Cc, each separately). */
  bcc: string[];
  /** This card's Idempotency-Key (send-key.ts), carried from card to rebuilt card. */
  sendKey: string;
}

export interface ComposeDeps {
  scanner: Scanner;
}

function actionParams(state: ComposeState): Record<string, string> {
  // The card's key rides along: every click of this card, and of the cards rebuilt from it, sends
  // the same Idempotency-Key. The recipients do not: they are read from each click's event only.
  return { [SEND_KEY_PARAM]: state.sendKey };
}

export function readComposeState(e: AddonEvent): ComposeState {
  // Only the draft's recipients as Gmail reports them with this click (draftAccess METADATA gives
  // them with every compose action). Gmail omits an empty list, so "absent" means the clinician
  // removed them: falling back to the addresses the card was built with would send the message to
  // someone taken off the draft (a wrong autocomplete, a Cc removed on purpose).
  const allowed = new Set(TOPICS.map((t) => t.value));
  return {
    subject: formValue(e, FIELD.subject),
    body: formValue(e, FIELD.body),
    topics: formValues(e, FIELD.topics).filter((t) => allowed.has(t)),
    to: addresses(e.gmail?.toRecipients),
    cc: addresses(e.gmail?.ccRecipients),
    bcc: addresses(e.gmail?.bccRecipients),
    // The compose trigger's event has no parameters: a new card, a new key.
    sendKey: cardKeyOf(param(e, SEND_KEY_PARAM)) ?? newSendKey(),
  };
}

const DECISION_TEXT: Record<ComposeScan['decision']['decision'], string> = {
  allow: '<b>No PHI found.</b> You can still send it securely.',
  warn: '<b>Possible PHI.</b> Sending securely is recommended.',
  encrypt: '<b>Contains PHI.</b> Send it securely with Attune.',
  block: "<b>Blocked by your practice's policy.</b> Remove the items below before sending.",
};

function findingLine(f: Finding): string {
  const grade = f.grade !== undefined ? ` (${f.grade.replace('_', ' ')})` : '';
  return `<b>${esc(f.type)}</b>${grade} “${esc(f.text)}”<br><font color="#5f6368">${esc(f.reason)} · ${Math.round(f.confidence * 100)}% sure</font>`;
}

function scanSection(
  scan: ComposeScan,
  policyNote: string | undefined,
): GoogleAppsScript.Card_Service.CardSection {
  const s = section('Scan results');
  s.addWidget(paragraph(DECISION_TEXT[scan.decision.decision]));
  if (scan.decision.reasons.length > 0) {
    s.addWidget(paragraph(scan.decision.reasons.map((r) => `• ${esc(r)}`).join('<br>')));
  }
  let shown = 0;
  let total = 0;
  for (const field of scan.fields) {
    for (const f of field.findings) {
      total++;
      if (shown >= MAX_FINDINGS_SHOWN) continue;
      shown++;
      s.addWidget(
        CardService.newDecoratedText()
          .setTopLabel(
            field.field === 'body' ? 'Message' : field.field === 'subject' ? 'Subject' : field.field,
          )
          .setText(findingLine(f))
          .setWrapText(true),
      );
    }
  }
  if (total === 0) s.addWidget(paragraph('No findings.'));
  if (total > shown) s.addWidget(paragraph(`…and ${total - shown} more.`));
  if (policyNote !== undefined) s.addWidget(paragraph(`<i>${esc(policyNote)}</i>`));
  return s;
}

export interface ComposeCardExtras {
  scan?: ComposeScan;
  policyNote?: string;
  /** A failure or policy block shown above the form. */
  problem?: { title: string; detail: string };
  /** The server holds an earlier version under this card's key: the clinician chooses. */
  earlier?: Earlier;
}

/** An earlier version of this card's message, accepted by the server under the card's key. */
export interface Earlier {
  /** Named by the server when the clinician sent it; absent from an older server or for a colleague's. */
  messageId?: string;
  sendAt: 'best' | undefined;
}

const PARAM = { earlierId: 'earlierId', mode: 'mode' } as const;

export const EARLIER_TEXT =
  "Attune lost the server's answer to an earlier send of this card, and the message or its timing changed since. " +
  'The earlier version may already have reached the recipients. This version was not sent.';

/** What the clinician is told about an earlier version, and their two choices. PHI-free. */
function earlierSection(state: ComposeState, earlier: Earlier): GoogleAppsScript.Card_Service.CardSection {
  const known = earlier.messageId !== undefined;
  const params: Record<string, string> = {
    ...actionParams(state),
    [PARAM.mode]: earlier.sendAt === 'best' ? 'schedule' : 'send',
    ...(known ? { [PARAM.earlierId]: earlier.messageId } : {}),
  };
  return section(
    known
      ? 'An earlier version of this message was already sent securely'
      : 'An earlier version of this message may already have been sent securely',
  )
    .addWidget(paragraph(EARLIER_TEXT))
    .addWidget(
      CardService.newButtonSet()
        .addButton(
          known
            ? button('Revoke it and send this version', 'onComposeRevokeAndSend', params, true)
            : button('Send this version as well', 'onComposeSendAlso', params, true),
        )
        .addButton(
          button(
            known ? "Keep it; don't send this version" : "Don't send this version",
            'onComposeKeepEarlier',
            params,
          ),
        ),
    );
}

export function buildComposeCard(
  state: ComposeState,
  extras: ComposeCardExtras = {},
): GoogleAppsScript.Card_Service.Card {
  const card = CardService.newCardBuilder()
    .setName('attune-compose')
    .setHeader(
      CardService.newCardHeader()
        .setTitle(`${PRODUCT}: secure message`)
        .setSubtitle(state.to.length > 0 ? `To: ${state.to.join(', ')}` : 'No recipients yet'),
    );

  if (extras.problem !== undefined) {
    card.addSection(section(extras.problem.title).addWidget(paragraph(extras.problem.detail)));
  }
  if (extras.earlier !== undefined) card.addSection(earlierSection(state, extras.earlier));
  if (state.to.length === 0) {
    card.addSection(
      section('Recipients').addWidget(
        paragraph(
          "Add the patient in the draft's To field, then press Scan: Attune reads only the recipients of the draft.",
        ),
      ),
    );
  }

  const topics = CardService.newSelectionInput()
    .setType(CardService.SelectionInputType.CHECK_BOX)
    .setFieldName(FIELD.topics)
    .setTitle('Topics');
  for (const t of TOPICS) topics.addItem(t.label, t.value, state.topics.includes(t.value));

  const params = actionParams(state);
  card.addSection(
    section('Message (encrypted)')
      .addWidget(
        CardService.newTextInput()
          .setFieldName(FIELD.subject)
          .setTitle('Subject (delivered inside the secure message)')
          .setValue(state.subject),
      )
      .addWidget(
        CardService.newTextInput()
          .setFieldName(FIELD.body)
          .setTitle('Message to the patient')
          .setMultiline(true)
          .setValue(state.body),
      )
      .addWidget(topics)
      .addWidget(
        // While an earlier version awaits the clinician's choice, only that choice may send.
        extras.earlier !== undefined
          ? CardService.newButtonSet().addButton(button('Scan', 'onComposeScan', params))
          : CardService.newButtonSet()
              .addButton(button('Scan', 'onComposeScan', params))
              .addButton(button('Send securely', 'onComposeSend', params, true))
              .addButton(button("Schedule for the patient's best hour", 'onComposeSchedule', params)),
      )
      .addWidget(paragraph(SEND_STEPS)),
  );

  if (extras.scan !== undefined) card.addSection(scanSection(extras.scan, extras.policyNote));
  card.addSection(section().addWidget(paragraph(`<i>${esc(COMPOSE_DISCLAIMER)}</i>`)));
  return card.build();
}

/** Compose trigger (appsscript.json gmail.composeTrigger). */
export function composeTrigger(e: AddonEvent): GoogleAppsScript.Card_Service.Card[] {
  return [buildComposeCard(readComposeState(e))];
}

function policyForScan(): { policy: Policy; note?: string } {
  const res = getPolicy();
  if (res.ok) return { policy: res.data };
  // Scanning is local, so it still helps while the server is unreachable; the default policy is
  // the strict one (opt-out encryption), so falling back never weakens the advice.
  return {
    policy: DEFAULT_POLICY,
    note: `Your practice's policy could not be loaded (${describeFailure(res.failure).title}); the default policy was used.`,
  };
}

export function scanAction(e: AddonEvent, deps: ComposeDeps): GoogleAppsScript.Card_Service.ActionResponse {
  const state = readComposeState(e);
  if (state.body.trim() === '' && state.subject.trim() === '') {
    return replaceCard(
      buildComposeCard(state, {
        problem: { title: 'Nothing to scan', detail: 'Write the message in the card first.' },
      }),
    );
  }
  const { policy, note } = policyForScan();
  const scan = deps.scanner(
    { subject: state.subject, body: state.body, to: state.to, cc: [...state.cc, ...state.bcc] },
    policy,
  );
  return replaceCard(buildComposeCard(state, note !== undefined ? { scan, policyNote: note } : { scan }));
}

function failureCard(
  state: ComposeState,
  failure: ApiFailure,
  note = '',
): GoogleAppsScript.Card_Service.ActionResponse {
  const { title, detail } = describeFailure(failure);
  return replaceCard(buildComposeCard(state, { problem: { title, detail: `${note}${detail}` } }));
}

/** A failed send: only an answer from the server proves that nothing was stored. */
function sendFailureCard(
  state: ComposeState,
  failure: ApiFailure,
  note = '',
): GoogleAppsScript.Card_Service.ActionResponse {
  if (failure.kind === 'unreachable' || failure.kind === 'server_error' || failure.kind === 'bad_response') {
    // No answer, or a 5xx, can follow the server's commit. This card sends the same key again.
    const what =
      failure.kind === 'unreachable'
        ? 'The Attune server did not answer'
        : failure.kind === 'server_error'
          ? `The Attune server failed (HTTP ${failure.status})`
          : "The Attune server's answer could not be read";
    return replaceCard(
      buildComposeCard(state, {
        problem: {
          title: describeFailure(failure).title,
          detail: `${note}${what}, so the message may or may not have been stored. Press the same button again: if the server already has it, it will not be sent twice.`,
        },
      }),
    );
  }
  return failureCard(state, failure, note);
}

function insertNotice(res: {
  notice: SendMessageResponse['notice'];
}): GoogleAppsScript.Card_Service.UpdateDraftActionResponse {
  return CardService.newUpdateDraftActionResponseBuilder()
    .setUpdateDraftBodyAction(
      CardService.newUpdateDraftBodyAction()
        // Immutable: the secure link inside the notice must reach the patient intact.
        .addUpdateContent(res.notice.html, CardService.ContentType.IMMUTABLE_HTML)
        .setUpdateType(CardService.UpdateDraftBodyType.IN_PLACE_INSERT),
    )
    .setUpdateDraftSubjectAction(CardService.newUpdateDraftSubjectAction().addUpdateSubject(NOTICE_SUBJECT))
    .build();
}

type SendAnswer =
  GoogleAppsScript.Card_Service.ActionResponse | GoogleAppsScript.Card_Service.UpdateDraftActionResponse;

/** The request this click asks for, or the card saying why there is none. */
function requestOf(
  state: ComposeState,
  sendAt: 'best' | undefined,
): SendMessageRequestInput | GoogleAppsScript.Card_Service.ActionResponse {
  if (state.to.length === 0) {
    return replaceCard(
      buildComposeCard(state, {
        problem: {
          title: 'No recipient',
          detail: "Add the patient in the draft's To field, then try again.",
        },
      }),
    );
  }
  if (state.body.trim() === '') {
    return replaceCard(
      buildComposeCard(state, {
        problem: { title: 'Empty message', detail: 'Write the message in the card first.' },
      }),
    );
  }
  return {
    to: state.to,
    // Bcc recipients receive the draft, so they must be recipients of the secure message: each gets
    // their own link, and the notice in the draft then carries no recipient's personal link (with
    // one secure-link recipient it would, and Gmail would send it to the Bcc addresses too).
    cc: [...state.cc, ...state.bcc],
    subject: state.subject,
    text: state.body,
    topics: state.topics,
    // A scheduled send cannot ride on a draft sent now: the server delivers it at the hour.
    delivery: sendAt === undefined ? 'client' : 'server',
    ...(sendAt !== undefined ? { sendAt } : {}),
  };
}

function isRequest(
  r: SendMessageRequestInput | GoogleAppsScript.Card_Service.ActionResponse,
): r is SendMessageRequestInput {
  return 'to' in r;
}

/** The draft update for an accepted message, or the card for a refusal or failure. */
function answerOf(state: ComposeState, res: ReturnType<typeof sendMessage>, note = ''): SendAnswer {
  if (!res.ok) return sendFailureCard(state, res.failure, note);
  if (res.data.decision === 'block') {
    return replaceCard(
      buildComposeCard(state, {
        problem: {
          title: "Blocked by your practice's policy",
          detail:
            res.data.reasons.map((r) => `• ${esc(r)}`).join('<br>') ||
            'The server refused to send this message.',
        },
      }),
    );
  }
  return insertNotice(res.data);
}

function send(e: AddonEvent, sendAt: 'best' | undefined): SendAnswer {
  const state = readComposeState(e);
  const request = requestOf(state, sendAt);
  if (!isRequest(request)) return request;
  const res = sendUnderCardKey(state.sendKey, (idempotencyKey) => sendMessage(request, { idempotencyKey }));
  if (!res.ok && isKeyConflict(res.failure)) {
    // Never a second message without the clinician knowing (send-key.ts): ask.
    const messageId = earlierMessageId(res.failure);
    return replaceCard(
      buildComposeCard(state, { earlier: messageId !== undefined ? { messageId, sendAt } : { sendAt } }),
    );
  }
  return answerOf(state, res);
}

export function sendAction(e: AddonEvent) {
  return send(e, undefined);
}

export function scheduleAction(e: AddonEvent) {
  return send(e, 'best');
}

function sendAtOf(e: AddonEvent): 'best' | undefined {
  return param(e, PARAM.mode) === 'schedule' ? 'best' : undefined;
}

/** "Revoke it and send this version": revoke the earlier message, then (only if that worked) send. */
export function revokeAndSendAction(e: AddonEvent): SendAnswer {
  const state = readComposeState(e);
  const sendAt = sendAtOf(e);
  const earlierId = param(e, PARAM.earlierId);
  if (earlierId === undefined) return sendAlsoAction(e);
  const request = requestOf(state, sendAt);
  if (!isRequest(request)) return request;
  const revoked = revokeMessage(earlierId);
  if (!revoked.ok) {
    const { title, detail } = describeFailure(revoked.failure);
    return replaceCard(
      buildComposeCard(state, {
        problem: {
          title: 'The earlier version was not revoked',
          detail: `Attune could not revoke the earlier version (${esc(title)}: ${detail}). Nothing new was sent.`,
        },
        earlier: { messageId: earlierId, sendAt },
      }),
    );
  }
  // Revoking again is harmless (the server answers the revoked message), so a double click or a
  // click after a lost answer revokes nothing new and the follow-on key replays this version.
  const res = sendUnderFollowOnKey(state.sendKey, (idempotencyKey) =>
    sendMessage(request, { idempotencyKey }),
  );
  return answerOf(state, res, 'The earlier version was revoked. ');
}

/** "Send this version as well" (the server did not name the earlier message). */
export function sendAlsoAction(e: AddonEvent): SendAnswer {
  const state = readComposeState(e);
  const request = requestOf(state, sendAtOf(e));
  if (!isRequest(request)) return request;
  const res = sendUnderFollowOnKey(state.sendKey, (idempotencyKey) =>
    sendMessage(request, { idempotencyKey }),
  );
  return answerOf(state, res);
}

/**
 * "Keep it; don't send this version": nothing new is sent, and the draft gets the earlier version's
 * notice (POST /v1/messages/{id}/notice). That version's answer was lost, so its notice never reached
 * this draft; sent with "Send securely" to a single patient, the draft was to be the only email the
 * patient gets with the link (the server emails nothing), so without it they would have no link at
 * all. The server hands out the same link, never a second one. With several recipients or Schedule
 * the server emails each their own, and the draft gets the notice that records it, as after a send.
 */
export function keepEarlierAction(e: AddonEvent): SendAnswer {
  const state = readComposeState(e);
  const earlierId = param(e, PARAM.earlierId);
  if (earlierId === undefined) {
    // Not named by the server (an older server, or a colleague's message under this key): there is
    // nothing of ours to put in the draft.
    return replaceCard(
      buildComposeCard(state, {
        problem: {
          title: 'This version was not sent',
          detail:
            'Nothing more was sent. Attune could not tell which earlier message this was: check in Attune that it reached the patient before you discard this draft.',
        },
      }),
    );
  }
  const sendAt = sendAtOf(e);
  const res = messageNotice(earlierId);
  if (!res.ok) {
    const revoked = res.failure.kind === 'rejected' && res.failure.code === 'message_revoked';
    const { title, detail } = describeFailure(res.failure);
    return replaceCard(
      buildComposeCard(state, {
        problem: revoked
          ? {
              title: 'The earlier version was revoked',
              detail:
                'Its secure link no longer works, so there is nothing to keep. This version was not sent: choose again below.',
            }
          : {
              title: "The earlier version's notice could not be fetched",
              detail: `Attune could not get the earlier version's notice (${esc(title)}: ${detail}). Nothing was sent or changed: press Keep it again.`,
            },
        earlier: { messageId: earlierId, sendAt },
      }),
    );
  }
  // A client-delivered link is that patient's personal credential: the draft must go to them alone.
  const client = res.data.recipients.find((r) => r.delivery === 'client');
  const draftTo = [...new Set([...state.to, ...state.cc, ...state.bcc].map((a) => a.toLowerCase()))];
  if (client && (draftTo.length !== 1 || draftTo[0] !== client.email.toLowerCase())) {
    return replaceCard(
      buildComposeCard(state, {
        problem: {
          title: "The draft's recipients changed",
          detail: `The earlier version's secure link is personal to ${esc(client.email)}. Make that address the draft's only recipient, then press Keep it again. Nothing was sent.`,
        },
        earlier: { messageId: earlierId, sendAt },
      }),
    );
  }
  // The draft update cannot also change the card (as after Send securely): SEND_STEPS on the card
  // already says to press Send in Gmail.
  return insertNotice(res.data);
}
