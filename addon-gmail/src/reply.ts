// A patient's secure reply, read beside Attune's notice of it. The server emails the clinician a
// PHI-free notice ("New secure reply" / "[Urgent] A secure reply needs your attention", with a
// `Reference: <reply id>` line; server/src/delivery/mime.ts replyNotice); the patient's words are only
// in Attune. When the clinician opens such a notice, the contextual card reads the reference from the
// notice and shows the reply from GET /v1/replies/:id: crisis language first, then the words, who
// wrote and when, and a warning when an email reply came from another address; below it, the
// patient's insights, as Outlook's read pane shows them (addin-outlook/src/read).
//
// Reading the notice's text needs gmail.addons.current.message.readonly (the metadata scope gives the
// subject and headers only, and the reference travels in the text). It is read only when the subject
// is a reply notice's, and only the reference is taken from it. The reference goes to the server in
// the path it defines for it and nowhere else: no action parameter, no link.

import type { Engagement, Reply } from '@attune/shared/api';
import { analyzeReply } from '@attune/shared/engagement';
import type { ApiFailure, ApiResult } from './api-client.ts';
import { getEngagementByEmail, getReply } from './api.ts';
import type { AddonEvent } from './events.ts';
import { addInsightsSections, notAPatientCard, senderInsightsCard } from './insights.ts';
import { describeFailure, disclaimerSection, esc, paragraph, PRODUCT, section } from './ui.ts';

type Card = GoogleAppsScript.Card_Service.Card;
type GmailMessage = GoogleAppsScript.Gmail.GmailMessage;

/** Both subjects of the notice say it ("New secure reply", "A secure reply needs your attention"). */
const NOTICE_SUBJECT = /secure reply/i;
/**
 * The urgent notice's subject starts "[Urgent]" (crisis language). The brackets matter: a practice
 * named "Urgent Care" is in every notice's subject too.
 */
const URGENT_SUBJECT = /\[urgent\]/i;
/**
 * `Reference: <uuid>` as the notice writes it, and as mail programs may render or forward it: any
 * case, spaces or a line break (a quoted one too, "> ") after the colon, an upper-case id.
 */
const REFERENCE =
  /\breference\s*:[\s>\u00a0]*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![0-9a-z-])/i;

/** The reply id a notice's text names (lower case, as the server writes ids), or null. */
export function replyReference(text: string): string | null {
  return REFERENCE.exec(text)?.[1]?.toLowerCase() ?? null;
}

export type ReplyNotice =
  | { ok: true; reference: string; urgent: boolean }
  /** A notice by its subject whose text the add-on may not read (scope not granted yet). */
  | { ok: false; urgent: boolean };

/**
 * Attune's notice of a secure reply, from the opened message: null for any other message. The body
 * is read only when the subject is a notice's; a subject that says "secure reply" over a text with no
 * reference is somebody's ordinary mail.
 */
export function replyNoticeOf(message: GmailMessage): ReplyNotice | null {
  const subject = message.getSubject();
  if (!NOTICE_SUBJECT.test(subject)) return null;
  const urgent = URGENT_SUBJECT.test(subject);
  let text: string;
  try {
    text = message.getPlainBody();
  } catch {
    // Apps Script throws when gmail.addons.current.message.readonly was not granted (an installation
    // made before the add-on asked for it): say so rather than show the notice address's "insights".
    return { ok: false, urgent };
  }
  const reference = replyReference(text);
  return reference === null ? null : { ok: true, reference, urgent };
}

/** "Nov 23, 2026, 12:06 AM EST" in the clinician's Gmail time zone; UTC when it has none. */
export function whenText(iso: string, timeZone: string | undefined): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  if (timeZone !== undefined && timeZone !== '') {
    try {
      return new Intl.DateTimeFormat('en-US', {
        timeZone,
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: 'numeric',
        minute: '2-digit',
        timeZoneName: 'short',
      }).format(at);
    } catch {
      // An unknown zone id (RangeError): fall through to UTC.
    }
  }
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The reply's words as card text: escaped, line breaks kept. */
function replyHtml(text: string): string {
  return esc(text).replace(/\r\n?|\n/g, '<br>');
}

const CRISIS_PROTOCOL = "<i>Follow your practice's crisis protocol. Attune does not contact the patient.</i>";

function urgentNoticeSection(): GoogleAppsScript.Card_Service.CardSection {
  return section('⚠ Urgent reply').addWidget(
    paragraph(
      '<font color="#d93025"><b>The notice marks this reply urgent: it may contain crisis language.</b></font>' +
        `<br>${CRISIS_PROTOCOL}`,
    ),
  );
}

export interface ReplyCardOptions {
  /** The notice's subject said urgent. */
  urgentNotice: boolean;
  /** The clinician's time zone (commonEventObject.timeZone.id). */
  timeZone?: string;
}

/**
 * The reply card: crisis first (the sentence the shared detector graded first-person, the same
 * analysis the server marked the reply by), a warning when another address wrote it, then who,
 * when and the words; then the patient's insights when they are a patient in Attune.
 */
export function buildReplyCard(
  reply: Reply,
  engagement: ApiResult<Engagement>,
  opts: ReplyCardOptions,
): Card {
  const name = engagement.ok ? engagement.data.patient.name : null;
  const card = CardService.newCardBuilder()
    .setName('attune-reply')
    .setHeader(
      CardService.newCardHeader()
        .setTitle(`${PRODUCT}: secure reply`)
        .setSubtitle(`From ${name ?? reply.from}`),
    );

  if (reply.crisis) {
    // The sentence, by the shared detector the server marked the reply with (analyzeReply).
    const crisis = analyzeReply(reply.text).fields.crisis;
    let html = '<font color="#d93025"><b>Crisis language in this reply.</b></font>';
    if (crisis !== undefined && crisis.grade === 'first_person') html += `<br>“${esc(crisis.sentence)}”`;
    card.addSection(section('⚠ Crisis language').addWidget(paragraph(`${html}<br>${CRISIS_PROTOCOL}`)));
  } else if (opts.urgentNotice) {
    // The notice was marked urgent when the reply arrived; say so even if today's reading differs.
    card.addSection(urgentNoticeSection());
  }

  // Anyone who has seen the notice's reply address can write to it (shared/src/api/replies.ts).
  if (reply.otherSender !== null) {
    card.addSection(
      section('Check who wrote it').addWidget(
        paragraph(
          `<font color="#e37400"><b>Sent from a different address: ${esc(reply.otherSender)}</b></font>, ` +
            `not ${esc(reply.from)}, the address your message went to. Check who wrote it before acting on it.`,
        ),
      ),
    );
  }

  const from = name !== null ? `<b>${esc(name)}</b> (${esc(reply.from)})` : `<b>${esc(reply.from)}</b>`;
  card.addSection(
    section('Reply')
      .addWidget(CardService.newDecoratedText().setTopLabel('From').setText(from).setWrapText(true))
      .addWidget(
        CardService.newDecoratedText()
          .setTopLabel('Received')
          .setText(esc(whenText(reply.receivedAt, opts.timeZone)))
          .setBottomLabel(
            reply.source === 'email' ? 'Answered by email' : 'Written on the secure message page',
          )
          .setWrapText(true),
      )
      .addWidget(paragraph(replyHtml(reply.text))),
  );

  if (engagement.ok) {
    // No check-in button here: a reply draft to the notice would go to Attune's notice address.
    addInsightsSections(card, engagement.data, { replyToMessage: false });
  } else {
    if (engagement.failure.kind !== 'not_found') {
      const { title } = describeFailure(engagement.failure);
      card.addSection(section('Patient insights').addWidget(paragraph(`Not available now (${esc(title)}).`)));
    }
    card.addSection(disclaimerSection());
  }
  return card.build();
}

/** What the clinician reads when the reply cannot be shown; PHI-free (the reply was not read). */
function replyFailureText(failure: ApiFailure): { title: string; detail: string } {
  switch (failure.kind) {
    case 'not_found':
      return {
        title: 'Reply not found',
        detail:
          "This notice names a reply that is not in your practice's Attune, or that no longer exists. " +
          'If you expected to read it, ask your administrator.',
      };
    case 'unreachable':
      return {
        title: 'Attune server unreachable',
        detail:
          'The Attune server did not answer, so the reply cannot be shown now. It is kept safely on the server. ' +
          'Open this notice again in a minute; if it persists, contact your administrator.',
      };
    case 'server_error':
      if (failure.code === 'content_unreadable')
        return {
          title: 'Reply cannot be read',
          detail:
            'This reply is stored but cannot be read. Your administrator can check the archive with attune verify.',
        };
      return {
        title: 'Attune server error',
        detail: `The Attune server failed (HTTP ${failure.status}), so the reply cannot be shown now. Open this notice again later.`,
      };
    case 'config':
    case 'no_identity':
    case 'unauthenticated':
    case 'forbidden':
    case 'rate_limited':
    case 'rejected':
    case 'bad_response':
      return describeFailure(failure);
  }
}

function noticeProblemCard(
  title: string,
  detail: string,
  urgent: boolean,
): GoogleAppsScript.Card_Service.Card {
  const card = CardService.newCardBuilder()
    .setName('attune-error')
    .setHeader(CardService.newCardHeader().setTitle(title).setSubtitle('Secure reply'));
  if (urgent) card.addSection(urgentNoticeSection());
  card.addSection(section().addWidget(paragraph(detail)));
  return card.build();
}

/** The card for an opened reply notice: the reply, or why it cannot be shown. */
export function replyNoticeCard(notice: ReplyNotice, opts: { timeZone?: string }): Card {
  if (!notice.ok) {
    return noticeProblemCard(
      'Cannot read this notice',
      'This is an Attune secure-reply notice, but the add-on is not allowed to read the open message ' +
        'to find which reply it names. Ask your administrator to grant the Attune add-on its current ' +
        'permissions (Google Admin console, Marketplace apps), then open the notice again.',
      notice.urgent,
    );
  }
  const res = getReply(notice.reference);
  if (!res.ok) {
    const { title, detail } = replyFailureText(res.failure);
    return noticeProblemCard(title, detail, notice.urgent);
  }
  // The patient's name and insights; the address goes in the body, never the URL.
  const engagement = getEngagementByEmail(res.data.from);
  return buildReplyCard(res.data, engagement, {
    urgentNotice: notice.urgent,
    ...(opts.timeZone !== undefined ? { timeZone: opts.timeZone } : {}),
  });
}

/**
 * Contextual trigger (appsscript.json gmail.contextualTriggers): a message was opened. A reply notice
 * shows the reply; any other message, insights about its sender.
 */
export function messageOpenTrigger(e: AddonEvent): Card[] {
  const messageId = e.gmail?.messageId;
  const accessToken = e.gmail?.accessToken;
  if (messageId === undefined || accessToken === undefined) return [notAPatientCard()];
  // The message-scoped token lets gmail.addons.current.message.* read this message only.
  GmailApp.setCurrentMessageAccessToken(accessToken);
  const message = GmailApp.getMessageById(messageId);
  const notice = replyNoticeOf(message);
  if (notice !== null) {
    const timeZone = e.commonEventObject?.timeZone?.id;
    return [replyNoticeCard(notice, timeZone !== undefined ? { timeZone } : {})];
  }
  return [senderInsightsCard(message)];
}
