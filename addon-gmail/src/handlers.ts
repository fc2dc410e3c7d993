// Every function Gmail calls by name: the triggers in appsscript.json and the action callbacks
// named in cards. build.mjs turns each key of the returned object into a top-level Apps Script
// function. Each one is guarded: a bug becomes a plain card, never a raw exception in Gmail
// (whose text could carry a URL with a patient's address).

import {
  composeTrigger,
  keepEarlierAction,
  revokeAndSendAction,
  scanAction,
  scheduleAction,
  sendAction,
  sendAlsoAction,
  type ComposeDeps,
} from './compose.ts';
import type { AddonEvent } from './events.ts';
import { caseloadPageAction, homepageTrigger, openPatientAction } from './home.ts';
import { checkInDraftAction } from './insights.ts';
import { messageOpenTrigger } from './reply.ts';
import { pushCard, unexpectedErrorCard } from './ui.ts';

type Card = GoogleAppsScript.Card_Service.Card;

/**
 * A caught bug still goes to Cloud Logging (exceptionLogging: STACKDRIVER), but only the handler
 * and the error's class: messages of Apps Script exceptions can carry URLs with a patient's address.
 */
function logBug(context: string, err: unknown): void {
  if (typeof console === 'undefined') return;
  const kind = err instanceof Error ? err.name : typeof err;
  console.error(`attune: ${context} failed (${kind})`);
}
type ActionResponse = GoogleAppsScript.Card_Service.ActionResponse;

function guardCards(context: string, fn: (e: AddonEvent) => Card[]) {
  return (e: AddonEvent): Card[] => {
    try {
      return fn(e);
    } catch (err) {
      logBug(context, err);
      return [unexpectedErrorCard(context)];
    }
  };
}

function guardAction<R>(context: string, fn: (e: AddonEvent) => R) {
  return (e: AddonEvent): R | ActionResponse => {
    try {
      return fn(e);
    } catch (err) {
      logBug(context, err);
      return pushCard(unexpectedErrorCard(context));
    }
  };
}

export function makeHandlers(deps: ComposeDeps) {
  return {
    onHomepage: guardCards('Caseload', homepageTrigger),
    onGmailMessageOpen: guardCards('Patient insights', messageOpenTrigger),
    onGmailCompose: guardCards('Secure message', composeTrigger),
    onComposeScan: guardAction('Scan', (e) => scanAction(e, deps)),
    onComposeSend: guardAction('Send securely', sendAction),
    onComposeSchedule: guardAction('Schedule', scheduleAction),
    onComposeRevokeAndSend: guardAction('Revoke and send', revokeAndSendAction),
    onComposeSendAlso: guardAction('Send securely', sendAlsoAction),
    onComposeKeepEarlier: guardAction('Keep the earlier version', keepEarlierAction),
    onCaseloadPage: guardAction('Caseload', caseloadPageAction),
    onOpenPatient: guardAction('Patient insights', openPatientAction),
    onCheckInDraft: (e: AddonEvent) => {
      // A compose action must return a ComposeActionResponse; Gmail shows a thrown Error's message,
      // so replace any failure with a fixed, PHI-free one.
      try {
        return checkInDraftAction(e);
      } catch (err) {
        logBug('Check-in draft', err);
        throw new Error('Attune could not create the check-in draft. Open the message and try again.');
      }
    },
  };
}

export type Handlers = ReturnType<typeof makeHandlers>;
export type HandlerName = keyof Handlers;

/** Names appsscript.json refers to; build.mjs checks each exists. */
export const TRIGGERS = {
  homepage: 'onHomepage',
  messageOpen: 'onGmailMessageOpen',
  compose: 'onGmailCompose',
} as const satisfies Record<string, HandlerName>;
