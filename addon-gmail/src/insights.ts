// Patient insights beside an opened message: the same POST /v1/engagement/lookup
// response Outlook's read pane renders. Crisis alerts come first, with the patient's sentence, so
// they cannot be scrolled past. Gmail cards cannot show SVG, so the chart is the server's
// short-lived signed PNG (charts.pngUrl), fetched by Google's image proxy without our token.

import type { Alert, Engagement } from '@attune/shared/api';
import { getEngagementByEmail, getEngagementByPatientId } from './api.ts';
import type { ApiResult } from './api-client.ts';
import { addressOf, param, type AddonEvent } from './events.ts';
import {
  disclaimerSection,
  errorCard,
  esc,
  hourOfDay,
  hours,
  paragraph,
  pct,
  PRODUCT,
  section,
} from './ui.ts';

type Card = GoogleAppsScript.Card_Service.Card;

const TREND_TEXT: Record<Engagement['responseTime']['trend'], string> = {
  faster: 'getting faster',
  slower: 'getting slower',
  stable: 'stable',
  insufficient_data: 'not enough data for a trend',
};

function bullets(lines: readonly string[]): string {
  return lines.map((l) => `• ${esc(l)}`).join('<br>');
}

function labelled(label: string, text: string, bottom?: string): GoogleAppsScript.Card_Service.DecoratedText {
  const w = CardService.newDecoratedText().setTopLabel(label).setText(text).setWrapText(true);
  if (bottom !== undefined && bottom !== '') w.setBottomLabel(bottom);
  return w;
}

function alertWidget(a: Alert): GoogleAppsScript.Card_Service.TextParagraph {
  const colour = a.severity === 'urgent' ? '#d93025' : a.severity === 'warning' ? '#e37400' : '#1a73e8';
  let html = `<font color="${colour}"><b>${esc(a.message)}</b></font>`;
  if (a.sentence !== undefined) html += `<br>“${esc(a.sentence)}”`;
  if (a.grade !== undefined) html += `<br><i>Graded: ${esc(a.grade.replace('_', ' '))}</i>`;
  if (a.since !== null) html += `<br><font color="#5f6368">Since ${esc(a.since.slice(0, 10))}</font>`;
  if (a.reasons.length > 0) html += `<br>${bullets(a.reasons)}`;
  return CardService.newTextParagraph().setText(html);
}

export interface InsightsOptions {
  /** Offer "Send a check-in" as a reply to the opened message (only when a message is open). */
  replyToMessage: boolean;
}

export function buildInsightsCard(eng: Engagement, opts: InsightsOptions): Card {
  const who = eng.patient.name ?? eng.patient.email;
  const card = CardService.newCardBuilder()
    .setName('attune-insights')
    .setHeader(
      CardService.newCardHeader()
        .setTitle(`${PRODUCT}: ${who}`)
        .setSubtitle(
          `Engagement as of ${eng.asOf.slice(0, 16).replace('T', ' ')} UTC · ${eng.data.events} events`,
        ),
    );
  addInsightsSections(card, eng, opts);
  return card.build();
}

/**
 * The insights sections (alerts, figures, approach, chart, check-in, disclaimer) added to a card
 * under construction: the insights card, and the secure-reply card below the reply.
 */
export function addInsightsSections(
  card: GoogleAppsScript.Card_Service.CardBuilder,
  eng: Engagement,
  opts: InsightsOptions,
): void {
  // Crisis first, then the rest by severity, as the API orders them within a kind.
  const crisis = eng.alerts.filter((a) => a.kind === 'crisis');
  const others = eng.alerts.filter((a) => a.kind !== 'crisis');
  if (crisis.length > 0) {
    const s = section('⚠ Crisis language in a reply');
    for (const a of crisis) s.addWidget(alertWidget(a));
    s.addWidget(
      paragraph("<i>Follow your practice's crisis protocol. Attune does not contact the patient.</i>"),
    );
    card.addSection(s);
  }
  if (others.length > 0) {
    const s = section('Alerts');
    for (const a of others) s.addWidget(alertWidget(a));
    card.addSection(s);
  }

  const rt = eng.responseTime;
  const best = eng.recommendations.bestHour;
  const summary = section('Engagement')
    .addWidget(
      labelled(
        'Style',
        `<b>${esc(eng.style.label)}</b> (${pct(eng.style.confidence)} confidence)`,
        eng.style.reasons.join('; '),
      ),
    )
    .addWidget(
      labelled(
        'Reply rate',
        `${pct(eng.replyRate.value)} of ${eng.replyRate.n} messages`,
        eng.replyRate.basis,
      ),
    )
    .addWidget(
      labelled(
        'Response time',
        `median ${hours(rt.medianHours)} (IQR ${hours(rt.q1Hours)}–${hours(rt.q3Hours)}), ${TREND_TEXT[rt.trend]}`,
        `${rt.basis}${rt.recentMedianHours !== null && rt.baselineMedianHours !== null ? ` · recent ${hours(rt.recentMedianHours)} vs baseline ${hours(rt.baselineMedianHours)}` : ''}`,
      ),
    )
    .addWidget(
      labelled(
        'Best hour to write',
        best.hour === null
          ? 'not enough replies yet'
          : `${hourOfDay(best.hour)}${best.windowStart !== null && best.windowEnd !== null ? ` (window ${hourOfDay(best.windowStart)}–${hourOfDay(best.windowEnd)})` : ''} ${esc(best.timeZone)}, ${pct(best.confidence)} confidence`,
        best.reasons.join('; '),
      ),
    );
  const a = eng.appointments;
  summary.addWidget(
    labelled(
      'Appointments',
      `${a.attended} attended, ${a.missed} missed, ${a.rescheduled} rescheduled, ${a.cancelled} cancelled of ${a.scheduled}`,
      `No-show rate ${pct(a.noShowRate)} · ${a.basis}`,
    ),
  );
  card.addSection(summary);

  if (eng.topics.length > 0) {
    const s = section('Topics');
    const lines = eng.topics
      .slice(0, 8)
      .map((t) => `<b>${esc(t.topic)}</b>: ${t.replied}/${t.sent} replied (${pct(t.replyRate)})`);
    s.addWidget(paragraph(lines.join('<br>')));
    card.addSection(s);
  }

  const approach = eng.recommendations.approach;
  card.addSection(
    section('Suggested approach').addWidget(
      paragraph(
        `${esc(approach.text)}${approach.reasons.length > 0 ? `<br>${bullets(approach.reasons)}` : ''}`,
      ),
    ),
  );

  if (eng.charts.pngUrl !== null) {
    card.addSection(
      section('Response time and reply hours').addWidget(
        CardService.newImage()
          .setImageUrl(eng.charts.pngUrl)
          .setAltText('Chart of weekly median response time and replies by hour of day'),
      ),
    );
  }

  const checkIn = eng.recommendations.checkIn;
  if (checkIn !== null && opts.replyToMessage) {
    card.addSection(
      section('Check-in')
        .addWidget(paragraph(bullets(checkIn.reasons)))
        .addWidget(
          CardService.newTextButton()
            .setText('Send a check-in')
            .setComposeAction(
              CardService.newAction()
                .setFunctionName('onCheckInDraft')
                // The patient's id, not the template: it greets the patient by name, and a card's
                // parameters travel with every click. The draft's text is fetched when pressed.
                .setParameters({ patient: eng.patient.id }),
              CardService.ComposedEmailType.REPLY_AS_DRAFT,
            ),
        ),
    );
  }

  card.addSection(disclaimerSection(eng.disclaimer));
}

export function notAPatientCard(): Card {
  return CardService.newCardBuilder()
    .setName('attune-insights')
    .setHeader(CardService.newCardHeader().setTitle(`${PRODUCT}`).setSubtitle('No patient insights'))
    .addSection(section().addWidget(paragraph('The sender is not a patient of your practice in Attune.')))
    .build();
}

/** Insights for one address; used by the contextual trigger and by the caseload list. */
export function insightsCardFor(email: string, opts: InsightsOptions): Card {
  return insightsCardOf(getEngagementByEmail(email), opts);
}

function insightsCardOf(res: ApiResult<Engagement>, opts: InsightsOptions): Card {
  if (res.ok) return buildInsightsCard(res.data, opts);
  if (res.failure.kind === 'not_found') return notAPatientCard();
  return errorCard(res.failure, 'Patient insights');
}

/** Insights for one patient by id (the caseload list's rows). */
export function insightsCardForPatient(patientId: string, opts: InsightsOptions): Card {
  return insightsCardOf(getEngagementByPatientId(patientId), opts);
}

/**
 * Insights about the sender of an opened message (already opened with its per-message token): the
 * contextual trigger's answer for any message that is not Attune's notice of a secure reply.
 */
export function senderInsightsCard(message: GoogleAppsScript.Gmail.GmailMessage): Card {
  const from = addressOf(message.getFrom());
  if (from === null) return notAPatientCard();
  return insightsCardFor(from, { replyToMessage: true });
}

/** Compose action behind "Send a check-in": a reply draft to the opened message with the template. */
export function checkInDraftAction(e: AddonEvent): GoogleAppsScript.Card_Service.ComposeActionResponse {
  const messageId = e.gmail?.messageId;
  const accessToken = e.gmail?.accessToken;
  if (messageId === undefined || accessToken === undefined) {
    throw new Error('Open the patient\'s message, then press "Send a check-in" again.');
  }
  const patient = param(e, 'patient');
  let template: string;
  let subject: string | undefined;
  if (patient !== undefined && patient !== '') {
    const res = getEngagementByPatientId(patient);
    const checkIn = res.ok ? res.data.recommendations.checkIn : null;
    if (!checkIn)
      throw new Error(res.ok ? 'no check-in recommended any more' : `engagement: ${res.failure.kind}`);
    ({ template, subject } = checkIn);
  } else {
    // A card built by an earlier version carried the template itself.
    template = param(e, 'template') ?? '';
    subject = param(e, 'subject');
  }
  GmailApp.setCurrentMessageAccessToken(accessToken);
  const draft = GmailApp.getMessageById(messageId).createDraftReply(
    template,
    subject !== undefined && subject !== '' ? { subject } : {},
  );
  return CardService.newComposeActionResponseBuilder().setGmailDraft(draft).build();
}
