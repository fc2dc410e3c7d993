// The compose task pane: findings listed and highlighted in a preview, each with its reason; one
// click to send securely (then the draft is discarded), to schedule at the patient's best hour, or
// to redact (placeholders written back into the draft) and then send normally.
import { scanMessage } from '@attune/shared/phi';
import type { FieldFindings, Finding, MessageScan } from '@attune/shared/phi';
import type { ApiClient, ApiFailureReason } from '../core/api-client.ts';
import { collectAttachments } from '../core/attachments.ts';
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
import { paneSendKey, sendUnderPaneKey } from './secure-send.ts';
import { summarize } from './summary.ts';

type StatusKind = 'info' | 'error' | 'success';

/**
 * Terminal: the server accepted the message. The pane never offers to send again, and says
 * whether the draft (which still holds the original text) was discarded.
 */
interface Sent {
  scheduledFor: string | null;
  draftDiscarded: boolean;
}

interface State {
  api: ApiClient;
  policy: PolicyState;
  draft: Draft;
  text: string;
  evaluation: Evaluation;
  preview: MessageScan;
  context: { reason?: string } | null;
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
): Promise<Omit<State, 'context' | 'busy' | 'status' | 'sent'>> {
  const item = composeItem();
  const [draft, text, policy] = await Promise.all([
    readDraft(item),
    officeCall<string>('body.getAsync', (cb) => item.body.getAsync(Office.CoercionType.Text, cb)),
    policySource.get(),
  ]);
  const names = draft.attachments.map((a) => a.name);
  const evaluation = evaluateDraft(policy.policy, { ...draft, attachmentNames: names });
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

async function initializationContext(): Promise<{ reason?: string } | null> {
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
function parseContext(raw: string | undefined): { reason?: string } | null {
  try {
    const parsed: unknown = raw ? JSON.parse(raw) : null;
    if (!parsed || typeof parsed !== 'object') return null;
    const reason = (parsed as Record<string, unknown>).reason;
    return typeof reason === 'string' ? { reason } : {};
  } catch {
    return null;
  }
}

/**
 * Calls `onChange` when Smart Alerts hands this open pane a new context (Send was blocked again and
 * its action chosen): Outlook then raises InitializationContextChanged (Mailbox 1.15) instead of
 * loading the pane afresh. Hosts without the event keep the pane as loaded.
 */
function onContextChanged(onChange: (context: { reason?: string } | null) => void): void {
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
  if (state.sent && !state.sent.draftDiscarded) {
    append(app, [
      h(
        'p',
        { class: 'banner banner-warning', role: 'alert' },
        'This draft could not be discarded and still holds the original text. Discard it yourself; do not send it.',
      ),
    ]);
  }
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
        state.sent ? (state.sent.scheduledFor ? 'Scheduled' : 'Sent') : summary.heading,
      ),
      h(
        'p',
        {},
        state.sent
          ? 'Attune holds the message; the recipients get a notice with a secure link. Nothing more to do here.'
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
  const locked = state.busy || state.sent !== null;
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
      if (state.sent) return;
      void run(async () => {
        const item = composeItem();
        const draft = await readDraft(item);
        if (draft.to.length + draft.cc.length + draft.bcc.length === 0) return fail('Add a recipient first.');
        const collected = await collectAttachments(item, draft.attachments);
        if (!collected.ok)
          return fail(
            'A shared-link (cloud) attachment cannot be sent securely. Attach a copy of the file instead.',
          );
        say(best ? 'Scheduling securely…' : 'Sending securely…');
        const r = await sendUnderPaneKey(
          state.api,
          {
            to: draft.to.length > 0 ? draft.to : [...draft.cc, ...draft.bcc].slice(0, 1),
            cc: draft.to.length > 0 ? [...draft.cc, ...draft.bcc] : [...draft.cc, ...draft.bcc].slice(1),
            subject: draft.subject,
            html: draft.html,
            attachments: collected.attachments,
            // The draft is discarded below, so the server emails the notices itself.
            delivery: 'server',
            ...(best ? { sendAt: 'best' as const } : {}),
          },
          sendKey,
        );
        if (!r.ok) return fail(sendFailure(r.reason, r.message));
        const sent: Sent = {
          scheduledFor: best && r.value.sendAt ? r.value.sendAt : null,
          draftDiscarded: false,
        };
        // Terminal from here on, whatever happens to the draft: the server holds the message.
        state = { ...state, sent };
        const done = sent.scheduledFor
          ? `Scheduled securely for ${new Date(sent.scheduledFor).toLocaleString()}.`
          : 'Sent securely.';
        say(`${done} Closing the draft…`, 'success');
        // The content now lives on the server; discard the draft so no clear copy can be sent.
        try {
          await officeCall<void>('closeAsync', (cb) =>
            (
              item as Office.MessageCompose & {
                closeAsync(o: { discardItem: boolean }, cb: (r: Office.AsyncResult<void>) => void): void;
              }
            ).closeAsync({ discardItem: true }, cb),
          );
          state = { ...state, sent: { ...sent, draftDiscarded: true } };
          say(done, 'success');
        } catch {
          say(`${done} Discard this draft yourself (it still holds the original text).`, 'success');
        }
        return undefined;
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
      state = { ...state, ...loaded, context, status: { text: summary.status, kind: summary.statusKind } };
      setStatus(summary.status, summary.statusKind);
      return undefined;
    });
  });
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
      // draft edited in between is a new message, sent under a new key: secure-send.ts).
      return `${reason === 'unreachable' ? 'The Attune server could not be reached' : 'The Attune server did not confirm the send'}, so the message may not have been sent. Try again: it will not be sent twice.`;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

void Office.onReady(() => {
  void main();
});
