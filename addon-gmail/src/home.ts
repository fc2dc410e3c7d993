// Home card: the caseload triage ranking (GET /v1/caseload), crisis first as the server ranks it,
// each patient with the reasons for their place, paginated with Previous/Next actions.

import type { Caseload, CaseloadItem } from '@attune/shared/api';
import { CASELOAD_PAGE_SIZE, getCaseload } from './api.ts';
import { param, type AddonEvent } from './events.ts';
import { insightsCardFor, insightsCardForPatient } from './insights.ts';
import {
  action,
  button,
  disclaimerSection,
  errorCard,
  esc,
  paragraph,
  PRODUCT,
  pushCard,
  replaceCard,
  section,
} from './ui.ts';

type Card = GoogleAppsScript.Card_Service.Card;

const STYLE_LABEL: Record<CaseloadItem['style'], string> = {
  steady: 'steady',
  sporadic: 'sporadic',
  declining: 'declining',
  disengaged: 'disengaged',
  re_engaging: 're-engaging',
  new: 'new',
};

function itemWidget(item: CaseloadItem): GoogleAppsScript.Card_Service.DecoratedText {
  const who = esc(item.name ?? item.email);
  const top = `#${item.rank}${item.crisis ? ' · CRISIS' : ''} · ${STYLE_LABEL[item.style]}`;
  const reasons =
    item.reasons.length > 0 ? item.reasons.map((r) => `• ${esc(r)}`).join('<br>') : 'No concerns found.';
  const text = item.crisis
    ? `<font color="#d93025"><b>${who}</b></font><br>${reasons}`
    : `<b>${who}</b><br>${reasons}`;
  return (
    CardService.newDecoratedText()
      .setTopLabel(top)
      .setText(text)
      .setWrapText(true)
      .setBottomLabel(
        item.lastReplyAt !== null ? `Last reply ${item.lastReplyAt.slice(0, 10)}` : 'No replies yet',
      )
      // The action carries the opaque patient id: a card's parameters travel with every click, and
      // an address is an identifier.
      .setOnClickAction(action('onOpenPatient', { patient: item.patientId }))
  );
}

export function buildCaseloadCard(c: Caseload): Card {
  const pages = Math.max(1, Math.ceil(c.total / Math.max(1, c.pageSize)));
  const card = CardService.newCardBuilder()
    .setName('attune-home')
    .setHeader(
      CardService.newCardHeader()
        .setTitle(`${PRODUCT}: caseload`)
        .setSubtitle(`Ranked by need, crisis first · page ${c.page} of ${pages} · ${c.total} patients`),
    );
  const list = section('Triage');
  if (c.items.length === 0) list.addWidget(paragraph('No patients on this page.'));
  for (const item of c.items) list.addWidget(itemWidget(item));
  card.addSection(list);

  const nav = CardService.newButtonSet();
  let navButtons = 0;
  if (c.page > 1) {
    nav.addButton(button('Previous', 'onCaseloadPage', { page: String(c.page - 1) }));
    navButtons++;
  }
  if (c.page < pages) {
    nav.addButton(button('Next', 'onCaseloadPage', { page: String(c.page + 1) }));
    navButtons++;
  }
  if (navButtons > 0) card.addSection(section().addWidget(nav));
  card.addSection(disclaimerSection(c.disclaimer));
  return card.build();
}

function caseloadCard(page: number): Card {
  const res = getCaseload(page, CASELOAD_PAGE_SIZE);
  return res.ok ? buildCaseloadCard(res.data) : errorCard(res.failure, 'Caseload');
}

/** Homepage trigger (appsscript.json addOns.common.homepageTrigger). */
export function homepageTrigger(_e: AddonEvent): Card[] {
  return [caseloadCard(1)];
}

export function caseloadPageAction(e: AddonEvent): GoogleAppsScript.Card_Service.ActionResponse {
  const requested = Number.parseInt(param(e, 'page') ?? '1', 10);
  const page = Number.isFinite(requested) && requested >= 1 ? requested : 1;
  return replaceCard(caseloadCard(page));
}

export function openPatientAction(e: AddonEvent): GoogleAppsScript.Card_Service.ActionResponse {
  // From the caseload there is no opened message to reply to, so no check-in reply button.
  const opts = { replyToMessage: false };
  const patient = param(e, 'patient');
  if (patient !== undefined && patient !== '') return pushCard(insightsCardForPatient(patient, opts));
  // A card built by an earlier version (still open in a sidebar) carried the address.
  return pushCard(insightsCardFor(param(e, 'email') ?? '', opts));
}
