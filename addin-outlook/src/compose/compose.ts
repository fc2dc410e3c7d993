// The compose task pane: findings listed and highlighted in a preview, each with its reason; one
// click to send securely (then the draft is discarded), to schedule at the patient's best hour, or
// to redact (placeholders written back into the draft) and then send normally.
import { scanMessage } from '@attune/shared/phi';
import type { FieldFindings, Finding, MessageScan } from '@attune/shared/phi';
import { isIdempotencyConflict } from '../core/api-client.ts';
import type { ApiClient, ApiFailureReason, ApiResult } from '../core/api-client.ts';
import { collectAttachments } from '../core/attachments.ts';
import { needsAttachmentScan, scanAttachmentContents } from '../core/attachment-scan.ts';
import { applyNotice, clientRecipient, goesOnlyTo, rememberKept } from '../core/kept-notice.ts';
import { composeItem, readDraft } from '../core/draft.ts';
import type { Draft } from '../core/draft.ts';
import { evaluateDraft, scanOptionsFor, typeLabel } from '../core/evaluate.ts';
import type { Evaluation } from '../core/evaluate.ts';
import { officeCall } from '../core/office-async.ts';
import { createPolicySource } from '../core/policy-source.ts';
import type { PolicyState } from '../core/policy-source.ts';
import { append, clear, h, setStatus } from '../ui/dom.ts';
import { paneApi } from '../ui/pane-api.ts';
import { applyOfficeTheme } from '../ui/theme.ts';
import { redactHtml, redactText, segments, withoutPlaceholders } from './highlight.ts';
import { paneSendKey, revokeThenSend, sendUnderNewKey, sendUnderPaneKey } from './secure-send.ts';
import type { SendMessageRequestInput, SendMessageResponse } from '@attune/shared/api';
import { summarize } from './summary.ts';

type StatusKind = 'info' | 'error' | 'success';

/**
 * Terminal: the server accepted the message. The pane never offers to send again, and says
 * whether the draft (which still holds the original text) was discarded.
 */
interface Sent {
  scheduledFor: string | null;
  draftDiscarded: boolean;
  /**
   * "Keep it" made this draft the earlier version's notice (core/kept-notice.ts): the clinician must
   * send it, for it is the patient's only email with the secure link.
   */
  noticeInDraft?: boolean;
}

/**
 * The server holds an earlier version of this draft's message (409 conflict under the pane's key, or
 * the send handler's, from its contextData): sent after a lost answer, before an edit or the other
 * action. Until the clinician chooses, nothing more is sent.
 */
interface Earlier {
  /** The earlier message (the server's 409 names it); absent from a server that does not. */
  messageId: string | undefined;
  /** Whether this version is to be scheduled ("Schedule at patient's best hour"). */
  best: boolean;
}

/** The send handler's contextData, as far as the pane uses it (SendContext in on-send.ts). */
interface PaneContext {
  reason?: string;
  messageId?: string;
}

interface State {
  api: ApiClient;
  policy: PolicyState;
  draft: Draft;
  text: string;
  evaluation: Evaluation;
  preview: MessageScan;
  context: PaneContext | null;
  earlier: Earlier | null;
  busy: boolean;
  /** Kept in state so a re-render never loses or contradicts what the pane last said. */
  status: { text: string; kind: StatusKind };
  sent: Sent | null;
}

const FIELD_NAMES: Record<string, string> = { subject: 'Subject', body: 'Message', to: 'To', cc: 'Cc' };

function fieldName(field: string): string {
  return FIELD_NAMES[field] ?? 'Attachment name';
}

async function load(
  api: ApiClient,
  policySource: ReturnType<typeof createPolicySource>,
): Promise<Omit<State, 'context' | 'earlier' | 'busy' | 'status' | 'sent'>> {
  const item = composeItem();
  const [draft, text, policy] = await Promise.all([
    readDraft(item),
    officeCall<string>('body.getAsync', (cb) => item.body.getAsync(Office.CoercionType.Text, cb)),
    policySource.get(),
  ]);
  const names = draft.attachments.map((a) => a.name);
  let evaluation = evaluateDraft(policy.policy, { ...draft, attachmentNames: names });
  // A PDF or Office file's contents are the server's to read: without them the pane would say
  // "nothing to secure" (and offer no Send securely) for a draft whose Send is held for its
  // attachment. If the server cannot be asked, the pane says so (Send still asks, and holds).
  if (policy.source !== 'default' && needsAttachmentScan(evaluation.decision, draft)) {
    const server = await scanAttachmentContents(api, item, draft, evaluation.scan, evaluation.decision);
    const { decision } = evaluation;
    const unchecked = 'The Attune server could not check the attachments: Send will ask it again.';
    evaluation = server.ok
      ? { scan: server.scan, decision: server.decision }
      : { ...evaluation, decision: { ...decision, reasons: [...decision.reasons, unchecked] } };
  }
  // The preview shows the plain text; scan it so offsets point into what is shown.
  const preview = withoutPlaceholders(
    scanMessage(
      { subject: draft.subject, body: text ?? '', attachments: names.map((name) => ({ name })) },
      scanOptionsFor(policy.policy),
    ),
    { subject: draft.subject, body: text ?? '' },
  );
  return { api, policy, draft, text: text ?? '', evaluation, preview };
}

async function initializationContext(): Promise<PaneContext | null> {
  const item = composeItem() as Office.MessageCompose & {
    getInitializationContextAsync?: (cb: (r: Office.AsyncResult<string>) => void) => void;
  };
  if (typeof item.getInitializationContextAsync !== 'function') return null;
  try {
    const raw = await officeCall<string>('getInitializationContextAsync', (cb) =>
      item.getInitializationContextAsync?.(cb),
    );
    return parseContext(raw);
  } catch {
    return null;
  }
}

/** The send handler's contextData (SendContext): why Send was blocked; null when absent or unreadable. */
function parseContext(raw: string | undefined): PaneContext | null {
  try {
    const parsed: unknown = raw ? JSON.parse(raw) : null;
    if (!parsed || typeof parsed !== 'object') return null;
    const { reason, messageId } = parsed as Record<string, unknown>;
    return {
      ...(typeof reason === 'string' ? { reason } : {}),
      // An id only (it goes into a URL path): anything else is ignored.
      ...(typeof messageId === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(messageId) ? { messageId } : {}),
    };
  } catch {
    return null;
  }
}

/**
 * Calls `onChange` when Smart Alerts hands this open pane a new context (Send was blocked again and
 * its action chosen): Outlook then raises InitializationContextChanged (Mailbox 1.15) instead of
 * loading the pane afresh. Hosts without the event keep the pane as loaded.
 */
function onContextChanged(onChange: (context: PaneContext | null) => void): void {
  const item = composeItem() as unknown as {
    addHandlerAsync?: (type: string, handler: (e: { initializationContextData?: string }) => void) => void;
  };
  const type =
    (Office.EventType as unknown as Record<string, string | undefined>)['InitializationContextChanged'] ??
    'olkInitializationContextChanged';
  try {
    item.addHandlerAsync?.(type, (e) => onChange(parseContext(e.initializationContextData)));
  } catch {
    // An older host: the pane keeps what it read when it opened.
  }
}

function render(state: State, actions: Actions): void {
  const app = document.getElementById('app');
  if (!app) return;
  clear(app);
  app.setAttribute('aria-busy', String(state.busy));
  const { decision, scan } = state.evaluation;
  const findings = state.preview.fields.filter((f) => f.findings.length > 0);
  const summary = summarize(state.evaluation);

  append(app, [
    h('h1', { class: 'title' }, 'Send securely'),
    h(
      'p',
      { id: 'status', class: `status status-${state.status.kind}`, role: 'status', 'aria-live': 'polite' },
      state.status.text,
    ),
  ]);
  if (state.sent?.noticeInDraft) {
    append(app, [
      h(
        'p',
        { class: 'banner banner-info', role: 'alert' },
        "This draft now holds the earlier version's notice with the patient's secure link. Press Send to deliver it; do not discard the draft.",
      ),
    ]);
  } else if (state.sent && !state.sent.draftDiscarded) {
    append(app, [
      h(
        'p',
        { class: 'banner banner-warning', role: 'alert' },
        'This draft could not be discarded and still holds the original text. Discard it yourself; do not send it.',
      ),
    ]);
  }
  if (state.earlier && !state.sent) append(app, [earlierCard(state.earlier, state.busy, actions)]);
  if (state.context?.reason === 'sign_in') {
    append(app, [
      h('p', { class: 'banner banner-info' }, 'Sign in to Attune to send this message securely.'),
    ]);
  }
  if (state.policy.source === 'default') {
    append(app, [
      h(
        'p',
        { class: 'banner banner-warning', role: 'alert' },
        `The Attune server could not be reached: ${state.policy.failure.message} Secure sending needs it.`,
      ),
    ]);
  }

  append(app, [
    h(
      'section',
      { class: `card verdict verdict-${decision.decision}`, 'aria-labelledby': 'verdict-h' },
      h(
        'h2',
        { id: 'verdict-h' },
        state.sent
          ? state.sent.noticeInDraft
            ? 'Earlier version kept'
            : state.sent.scheduledFor
              ? 'Scheduled'
              : 'Sent'
          : summary.heading,
      ),
      h(
        'p',
        {},
        state.sent
          ? state.sent.noticeInDraft
            ? 'Attune holds the earlier version; this draft is its notice. Press Send.'
            : 'Attune holds the message; the recipients get a notice with a secure link. Nothing more to do here.'
          : summary.verdict,
      ),
      decision.reasons.length > 0
        ? h('ul', { class: 'reasons' }, ...decision.reasons.map((r) => h('li', {}, r)))
        : null,
    ),
  ]);

  // Actions first (reachable without scrolling at 320 px), then findings and preview.
  const canSecure = decision.decision !== 'block' && scan.types.length > 0;
  // After the server accepted the message nothing here may run again (a second click would be a
  // second message if the retry key were ever lost, and redacting a sent draft makes no sense).
  // While an earlier version awaits the clinician's choice, only that choice may send.
  const locked = state.busy || state.sent !== null || state.earlier !== null;
  append(app, [
    h(
      'div',
      { class: 'actions', role: 'group', 'aria-label': 'Actions' },
      // Primary only when the policy asks for securing: for allowed content it is an option, not the advice.
      h(
        'button',
        {
          type: 'button',
          class: decision.decision === 'encrypt' || decision.decision === 'warn' ? 'primary' : null,
          id: 'send-secure',
          disabled: locked || !canSecure,
          onclick: () => actions.sendSecure(false),
        },
        'Send securely',
      ),
      h(
        'button',
        {
          type: 'button',
          id: 'send-best',
          disabled: locked || !canSecure,
          onclick: () => actions.sendSecure(true),
        },
        "Schedule at patient's best hour",
      ),
      h(
        'button',
        {
          type: 'button',
          id: 'redact',
          disabled: locked || findings.length === 0,
          onclick: () => actions.redact(),
        },
        'Redact and send normally',
      ),
    ),
  ]);

  if (findings.length > 0) {
    const list = h('ol', { class: 'findings', 'aria-label': 'Findings' });
    let n = 0;
    const markIds = new Map<Finding, string>();
    for (const ff of findings) {
      for (const f of ff.findings) {
        const id = `finding-${n++}`;
        markIds.set(f, id);
        list.appendChild(
          h(
            'li',
            {},
            h('a', { href: `#${id}`, class: 'finding-type' }, typeLabel(f.type)),
            h('span', { class: 'finding-field' }, ` in ${fieldName(ff.field)}: `),
            h('q', { class: 'finding-text' }, f.text),
            h('span', { class: 'finding-reason' }, ` ${f.reason}`),
          ),
        );
      }
    }
    append(app, [
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'findings-h' },
        h('h2', { id: 'findings-h' }, `Findings (${n})`),
        list,
      ),
    ]);
    append(app, [preview(state, findings, markIds)]);
  }
}

/** What the clinician is told about an earlier version, and their two choices. PHI-free. */
function earlierCard(earlier: Earlier, busy: boolean, actions: Actions): HTMLElement {
  const known = earlier.messageId !== undefined;
  return h(
    'section',
    { class: 'card banner-warning', role: 'alert', 'aria-labelledby': 'earlier-h' },
    h(
      'h2',
      { id: 'earlier-h' },
      known
        ? 'An earlier version of this message was already sent securely'
        : 'An earlier version of this message may already have been sent securely',
    ),
    h(
      'p',
      {},
      "Attune lost the server's answer to an earlier send of this draft, and the message or its timing changed since. The earlier version may already have reached the recipients. This version was not sent.",
    ),
    h(
      'div',
      { class: 'actions', role: 'group', 'aria-label': 'Earlier version' },
      h(
        'button',
        {
          type: 'button',
          class: 'primary',
          id: known ? 'revoke-send' : 'send-also',
          disabled: busy,
          onclick: () => actions.resolveEarlier(known ? 'revoke_and_send' : 'send_also'),
        },
        known ? 'Revoke it and send this version' : 'Send this version as well',
      ),
      h(
        'button',
        {
          type: 'button',
          id: 'keep-earlier',
          disabled: busy,
          onclick: () => actions.resolveEarlier('keep'),
        },
        known ? "Keep it; don't send this version" : "Don't send this version",
      ),
    ),
  );
}

function preview(state: State, fields: FieldFindings[], markIds: Map<Finding, string>): HTMLElement {
  const section = h(
    'section',
    { class: 'card', 'aria-labelledby': 'preview-h' },
    h('h2', { id: 'preview-h' }, 'Preview'),
  );
  const subject = fields.find((f) => f.field === 'subject')?.findings ?? [];
  const body = fields.find((f) => f.field === 'body')?.findings ?? [];
  section.appendChild(
    h(
      'p',
      { class: 'preview-subject' },
      h('strong', {}, 'Subject: '),
      ...marked(state.draft.subject, subject, markIds),
    ),
  );
  section.appendChild(
    h(
      'div',
      { class: 'preview-body', tabindex: '0', 'aria-label': 'Message text' },
      ...marked(state.text, body, markIds),
    ),
  );
  return section;
}

function marked(text: string, findings: readonly Finding[], markIds: Map<Finding, string>): Node[] {
  return segments(text, findings).map((s) =>
    s.finding
      ? h(
          'mark',
          {
            id: markIds.get(s.finding) ?? null,
            class: `phi phi-${s.finding.type.toLowerCase()}`,
            title: `${typeLabel(s.finding.type)}: ${s.finding.reason}`,
            tabindex: '-1',
          },
          s.text,
        )
      : document.createTextNode(s.text),
  );
}

interface Actions {
  sendSecure(best: boolean): void;
  resolveEarlier(choice: 'revoke_and_send' | 'send_also' | 'keep'): void;
  redact(): void;
}

async function main(): Promise<void> {
  applyOfficeTheme();
  const api = paneApi();
  const policySource = createPolicySource(api);
  // One key for every send from this pane (kept with the draft, so a reopened pane has it too),
  // renewed only for a draft edited after a lost answer (secure-send.ts, which also says why it is
  // not the send handler's key).
  const sendKey = paneSendKey(() => composeItem());
  let state: State;
  try {
    const [loaded, context] = await Promise.all([load(api, policySource), initializationContext()]);
    const summary = summarize(loaded.evaluation);
    state = {
      ...loaded,
      context,
      earlier: earlierFrom(context),
      busy: false,
      status: { text: summary.status, kind: summary.statusKind },
      sent: null,
    };
  } catch {
    setStatus('Attune could not read this message. Close and reopen the pane.', 'error');
    return;
  }

  const rerender = () => render(state, actions);
  const actions: Actions = {
    sendSecure(best) {
      if (state.sent || state.earlier) return;
      void run(async () => {
        const item = composeItem();
        const request = await requestFrom(item, best);
        if (typeof request === 'string') return fail(request);
        say(best ? 'Scheduling securely…' : 'Sending securely…');
        const r = await sendUnderPaneKey(state.api, request, sendKey);
        if (isIdempotencyConflict(r)) {
          // Never a second message without the clinician knowing (secure-send.ts): ask.
          state = { ...state, earlier: { messageId: r.ok ? undefined : r.messageId, best } };
          return fail(
            'This version was not sent. An earlier version of this message is with Attune: choose below.',
          );
        }
        return finish(item, r, best, '');
      });
    },
    resolveEarlier(choice) {
      const earlier = state.earlier;
      if (state.sent || !earlier) return;
      void run(async () => {
        const item = composeItem();
        if (choice === 'keep') return keepEarlier(item, earlier);
        const request = await requestFrom(item, earlier.best);
        if (typeof request === 'string') return fail(request);
        if (choice === 'send_also' || earlier.messageId === undefined) {
          say(earlier.best ? 'Scheduling securely…' : 'Sending securely…');
          state = { ...state, earlier: null };
          return finish(item, await sendUnderNewKey(state.api, request, sendKey), earlier.best, '');
        }
        say('Revoking the earlier version…');
        const r = await revokeThenSend(state.api, earlier.messageId, request, sendKey);
        if (!r.ok)
          return fail(
            `Attune could not revoke the earlier version. ${r.failure.message} Nothing new was sent.`,
          );
        state = { ...state, earlier: null };
        const revoked =
          r.stillDelivered > 0
            ? `Revoked the earlier version; ${plural(r.stillDelivered, 'recipient')} had already received it by encrypted email, which cannot be taken back.`
            : 'Revoked the earlier version.';
        return finish(item, r.sent, earlier.best, `${revoked} `);
      });
    },
    redact() {
      void run(async () => {
        const item = composeItem();
        const draft = await readDraft(item);
        const opts = scanOptionsFor(state.policy.policy);
        const scan = scanMessage({ subject: draft.subject, html: draft.html }, opts);
        const body = scan.fields.find((f) => f.field === 'body')?.findings ?? [];
        const subject = scan.fields.find((f) => f.field === 'subject')?.findings ?? [];
        if (subject.length > 0) {
          await officeCall<void>('subject.setAsync', (cb) =>
            item.subject.setAsync(redactText(draft.subject, subject), cb),
          );
        }
        if (body.length > 0) {
          await officeCall<void>('body.setAsync', (cb) =>
            item.body.setAsync(redactHtml(draft.html, body), { coercionType: Office.CoercionType.Html }, cb),
          );
        }
        state = { ...state, ...(await load(state.api, policySource)) };
        const left = state.evaluation.decision.decision;
        const attachmentsLeft = state.preview.fields.some(
          (f) => f.field.startsWith('attachment:') && f.findings.length > 0,
        );
        say(
          left === 'allow'
            ? `Redacted ${plural(body.length + subject.length, 'item')}. Press Send to send it as ordinary email.`
            : attachmentsLeft
              ? 'Redacted the text. An attachment name still contains PHI: rename or remove it.'
              : 'Redacted what was found; the message still needs securing. Review the remaining findings.',
          left === 'allow' ? 'success' : 'info',
        );
        return undefined;
      });
    },
  };

  /**
   * "Keep it": nothing new is sent. If the earlier version was client-delivered (the send handler's
   * secure send to one patient), its lost answer's notice is that patient's only way to the link:
   * the draft becomes that notice (the same link, from POST /v1/messages/{id}/notice), noted for
   * the send handler, and the clinician presses Send (core/kept-notice.ts). Otherwise the server
   * emails every recipient itself, and the draft (still holding PHI) is discarded.
   */
  async function keepEarlier(item: Office.MessageCompose, earlier: Earlier): Promise<undefined> {
    const discard = async () => {
      state = { ...state, earlier: null, sent: { scheduledFor: null, draftDiscarded: false } };
      await discardDraft(item, 'The earlier version stands; this version was not sent.');
      return undefined;
    };
    // Not named (an older server, or a colleague's message): nothing of ours to put in the draft.
    if (earlier.messageId === undefined) return discard();
    say('Getting the earlier version’s notice…');
    const notice = await state.api.messageNotice(earlier.messageId);
    if (!notice.ok) {
      if (notice.code === 'message_revoked' || notice.code === 'message_expired')
        return fail(
          'The earlier version was revoked or has expired: its secure link no longer works, so there is nothing to keep. This version was not sent: choose again.',
        );
      return fail(
        `Attune could not get the earlier version’s notice. ${notice.message} Nothing was sent: try Keep it again.`,
      );
    }
    const to = clientRecipient(notice.value);
    if (to === null) return discard();
    const draft = await readDraft(item);
    if (!goesOnlyTo(draft, to))
      return fail(
        "The earlier version's secure link is personal to the one recipient it was sent to, and this draft's recipients changed. Make that recipient the only one again, then choose Keep it. Nothing was sent.",
      );
    // Noted first: if a write below fails, Send still makes the draft the notice.
    if (!(await rememberKept(item, notice.value.id)))
      return fail(
        'This version of Outlook cannot hand the notice to Send, so Attune did not change the draft. Nothing was sent: choose Revoke it and send this version instead.',
      );
    const subjectHasPhi = state.evaluation.scan.fields.some(
      (f) => f.field === 'subject' && f.findings.length > 0,
    );
    try {
      await applyNotice(item, draft, notice.value, subjectHasPhi);
    } catch {
      // Send still writes it (the note is kept); say so rather than leave it unsaid.
      state = {
        ...state,
        earlier: null,
        sent: { scheduledFor: null, draftDiscarded: false, noticeInDraft: true },
      };
      say(
        'The earlier version stands. Outlook did not let Attune write its notice into the draft here; press Send and Attune puts it in then.',
        'success',
      );
      return undefined;
    }
    state = {
      ...state,
      earlier: null,
      sent: { scheduledFor: null, draftDiscarded: false, noticeInDraft: true },
    };
    say(
      'The earlier version stands, and this draft is now its notice with the patient’s secure link. Press Send to deliver it.',
      'success',
    );
    return undefined;
  }

  /** The request for the draft as it is now, or why it cannot be sent securely. */
  async function requestFrom(
    item: Office.MessageCompose,
    best: boolean,
  ): Promise<SendMessageRequestInput | string> {
    const draft = await readDraft(item);
    if (draft.to.length + draft.cc.length + draft.bcc.length === 0) return 'Add a recipient first.';
    const collected = await collectAttachments(item, draft.attachments);
    if (!collected.ok)
      return 'A shared-link (cloud) attachment cannot be sent securely. Attach a copy of the file instead.';
    return {
      to: draft.to.length > 0 ? draft.to : [...draft.cc, ...draft.bcc].slice(0, 1),
      cc: draft.to.length > 0 ? [...draft.cc, ...draft.bcc] : [...draft.cc, ...draft.bcc].slice(1),
      subject: draft.subject,
      html: draft.html,
      attachments: collected.attachments,
      // The draft is discarded below, so the server emails the notices itself.
      delivery: 'server',
      ...(best ? { sendAt: 'best' as const } : {}),
    };
  }

  /** After a send's answer: terminal on success (the draft is discarded), else says what to do. */
  async function finish(
    item: Office.MessageCompose,
    r: ApiResult<SendMessageResponse>,
    best: boolean,
    prefix: string,
  ): Promise<undefined> {
    if (!r.ok) return fail(`${prefix}${sendFailure(r.reason, r.message)}`);
    const sent: Sent = {
      scheduledFor: best && r.value.sendAt ? r.value.sendAt : null,
      draftDiscarded: false,
    };
    // Terminal from here on, whatever happens to the draft: the server holds the message.
    state = { ...state, sent };
    const done = sent.scheduledFor
      ? `Scheduled securely for ${new Date(sent.scheduledFor).toLocaleString()}.`
      : 'Sent securely.';
    await discardDraft(item, `${prefix}${done}`);
    return undefined;
  }

  /** The content lives on the server: discard the draft so no clear copy can be sent. */
  async function discardDraft(item: Office.MessageCompose, done: string): Promise<void> {
    say(`${done} Closing the draft…`, 'success');
    try {
      await officeCall<void>('closeAsync', (cb) =>
        (
          item as Office.MessageCompose & {
            closeAsync(o: { discardItem: boolean }, cb: (r: Office.AsyncResult<void>) => void): void;
          }
        ).closeAsync({ discardItem: true }, cb),
      );
      if (state.sent) state = { ...state, sent: { ...state.sent, draftDiscarded: true } };
      say(done, 'success');
    } catch {
      say(`${done} Discard this draft yourself (it still holds the original text).`, 'success');
    }
  }

  async function run(task: () => Promise<undefined>): Promise<void> {
    state = { ...state, busy: true };
    rerender();
    try {
      await task();
    } catch {
      // Only steps before the server call can throw here (reading the draft, its attachments, or
      // writing a redaction): once the server accepted, sendSecure handles every failure itself.
      fail(
        state.sent
          ? 'Sent securely, but the pane hit an error. Discard this draft yourself (it still holds the original text).'
          : 'Something went wrong. Nothing was sent.',
      );
    } finally {
      state = { ...state, busy: false };
      rerender();
    }
  }
  function say(text: string, kind: StatusKind = 'info'): void {
    state = { ...state, status: { text, kind } };
    setStatus(text, kind);
  }
  function fail(message: string): undefined {
    say(message, 'error');
    return undefined;
  }

  rerender();

  // The draft may have changed since the pane read it (it was opened earlier, then Send was
  // blocked): read it again, so the findings and the Send securely button match what is blocked.
  onContextChanged((context) => {
    if (state.sent || state.busy) return;
    void run(async () => {
      const loaded = await load(state.api, policySource);
      const summary = summarize(loaded.evaluation);
      state = {
        ...state,
        ...loaded,
        context,
        earlier: earlierFrom(context) ?? state.earlier,
        status: { text: summary.status, kind: summary.statusKind },
      };
      setStatus(summary.status, summary.statusKind);
      return undefined;
    });
  });
}

/** The send handler stopped Send on a 409 (on-send.ts): the pane offers the same choice. */
function earlierFrom(context: PaneContext | null): Earlier | null {
  return context?.reason === 'earlier_sent' ? { messageId: context.messageId, best: false } : null;
}

/** What a failed send means for the clinician: only a refusal proves nothing was sent. */
function sendFailure(reason: ApiFailureReason, message: string): string {
  switch (reason) {
    case 'sign_in_failed':
      return `Sign-in failed. ${message} Nothing was sent.`;
    case 'rejected':
      return `${message} Nothing was sent.`;
    case 'unreachable':
    case 'server_error':
    case 'invalid_response':
      // The request may have been committed before the answer was lost. Retrying is safe: the
      // pane sends the same Idempotency-Key, so the server answers with the message it has (a
      // draft edited in between, or the other action, is refused, and the clinician asked).
      return `${reason === 'unreachable' ? 'The Attune server could not be reached' : 'The Attune server did not confirm the send'}, so the message may not have been sent. Try again: it will not be sent twice.`;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

void Office.onReady(() => {
  void main();
});
