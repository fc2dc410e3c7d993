// Small card-building helpers shared by the three surfaces. Text from the server or the user goes
// into TextParagraph/DecoratedText, which render a subset of HTML, so it is escaped first.

import type { ApiFailure } from './api-client.ts';

export const PRODUCT = 'Attune';

/** Shown on every surface that shows a number, a ranking or a finding. */
export const DECISION_SUPPORT =
  'Decision support, not diagnosis: Attune shows how each figure was computed and from how much data. ' +
  'Use your clinical judgement.';

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function paragraph(html: string): GoogleAppsScript.Card_Service.TextParagraph {
  return CardService.newTextParagraph().setText(html);
}

export function section(header?: string): GoogleAppsScript.Card_Service.CardSection {
  const s = CardService.newCardSection();
  if (header !== undefined) s.setHeader(header);
  return s;
}

export function disclaimerSection(
  text: string = DECISION_SUPPORT,
): GoogleAppsScript.Card_Service.CardSection {
  return section().addWidget(paragraph(`<i>${esc(text)}</i>`));
}

export function action(
  functionName: string,
  params: Record<string, string> = {},
): GoogleAppsScript.Card_Service.Action {
  return CardService.newAction().setFunctionName(functionName).setParameters(params);
}

export function button(
  text: string,
  functionName: string,
  params: Record<string, string> = {},
  filled = false,
) {
  const b = CardService.newTextButton().setText(text).setOnClickAction(action(functionName, params));
  if (filled) b.setTextButtonStyle(CardService.TextButtonStyle.FILLED);
  return b;
}

export function pct(x: number | null): string {
  return x === null ? 'n/a' : `${Math.round(x * 100)}%`;
}

export function hours(h: number | null): string {
  if (h === null) return 'n/a';
  if (h < 1) return `${Math.round(h * 60)} min`;
  if (h < 48) return `${Math.round(h * 10) / 10} h`;
  return `${Math.round((h / 24) * 10) / 10} days`;
}

export function hourOfDay(h: number | null): string {
  if (h === null) return 'n/a';
  const suffix = h < 12 ? 'am' : 'pm';
  const twelve = h % 12 === 0 ? 12 : h % 12;
  return `${twelve} ${suffix}`;
}

interface FailureText {
  title: string;
  detail: string;
}

/**
 * What the clinician reads when a call fails. Never an exception text or stack (they can carry
 * URLs with a patient's address); server messages are shown only for 4xx, which are PHI-free by
 * the API contract (CONVENTIONS 4).
 */
export function describeFailure(failure: ApiFailure): FailureText {
  switch (failure.kind) {
    case 'config':
      return {
        title: 'Attune is not configured',
        detail:
          'The Attune server address is not a valid https URL. Ask your administrator to set ATTUNE_SERVER_URL.',
      };
    case 'no_identity':
      return {
        title: 'Sign-in needed',
        detail:
          'Attune could not get your Google sign-in. Reopen the add-on and grant the requested permissions.',
      };
    case 'unreachable':
      return {
        title: 'Attune server unreachable',
        detail:
          'The Attune server did not answer. Nothing was sent. Try again in a minute; if it persists, contact your administrator.',
      };
    case 'unauthenticated':
      return {
        title: 'Sign-in refused',
        detail: `The Attune server did not accept your Google sign-in (${esc(failure.message)}). Make sure you use your practice account; your administrator can check the add-on's client id and domain.`,
      };
    case 'forbidden':
      return { title: 'Not allowed', detail: esc(failure.message) };
    case 'not_found':
      return { title: 'Not found', detail: esc(failure.message) };
    case 'rate_limited': {
      // The server refuses before doing anything, so nothing was sent; say how long to wait (the
      // window is up to a minute, and clicking again sooner is refused again).
      const s = failure.retryAfterSeconds;
      const wait =
        s === undefined
          ? 'Wait a minute'
          : s <= 1
            ? 'Wait a second'
            : s < 120
              ? `Wait ${s} seconds`
              : `Wait ${Math.ceil(s / 60)} minutes`;
      return {
        title: 'Too many requests',
        detail: `You have reached the Attune server's request limit, so nothing was done. ${wait}, then try again.`,
      };
    }
    case 'rejected':
      return { title: 'Request refused', detail: esc(failure.message) };
    case 'server_error':
      return {
        title: 'Attune server error',
        detail: `The Attune server failed (HTTP ${failure.status}). Nothing was lost; try again later.`,
      };
    case 'bad_response':
      return {
        title: 'Unexpected answer',
        detail:
          'The Attune server answered in a form this add-on does not understand. Ask your administrator to update the add-on.',
      };
  }
}

export function errorCard(failure: ApiFailure, context: string): GoogleAppsScript.Card_Service.Card {
  const { title, detail } = describeFailure(failure);
  return CardService.newCardBuilder()
    .setName('attune-error')
    .setHeader(CardService.newCardHeader().setTitle(title).setSubtitle(context))
    .addSection(section().addWidget(paragraph(detail)))
    .build();
}

/** For bugs only (a thrown exception): a generic card, the error itself is not shown. */
export function unexpectedErrorCard(context: string): GoogleAppsScript.Card_Service.Card {
  return CardService.newCardBuilder()
    .setName('attune-error')
    .setHeader(CardService.newCardHeader().setTitle('Something went wrong').setSubtitle(context))
    .addSection(
      section().addWidget(
        paragraph(
          'Attune hit an unexpected problem. Nothing was sent. Try again; if it persists, contact your administrator.',
        ),
      ),
    )
    .build();
}

export function notify(text: string): GoogleAppsScript.Card_Service.ActionResponse {
  return CardService.newActionResponseBuilder()
    .setNotification(CardService.newNotification().setText(text))
    .build();
}

export function replaceCard(
  card: GoogleAppsScript.Card_Service.Card,
): GoogleAppsScript.Card_Service.ActionResponse {
  return CardService.newActionResponseBuilder()
    .setNavigation(CardService.newNavigation().updateCard(card))
    .build();
}

export function pushCard(
  card: GoogleAppsScript.Card_Service.Card,
): GoogleAppsScript.Card_Service.ActionResponse {
  return CardService.newActionResponseBuilder()
    .setNavigation(CardService.newNavigation().pushCard(card))
    .build();
}
