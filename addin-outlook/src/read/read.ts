// The pinned read pane: insights about the sender of the selected message, and the caseload tab.
// Re-renders on ItemChanged (pinned panes stay open while the selection changes).
import { newIdempotencyKey } from '../compose/idempotency.ts';
import type { ApiClient } from '../core/api-client.ts';
import { officeCall } from '../core/office-async.ts';
import { clear, h, setStatus } from '../ui/dom.ts';
import { paneApi } from '../ui/pane-api.ts';
import { applyOfficeTheme } from '../ui/theme.ts';
import { renderCaseload, renderEngagement, renderReply } from './render.ts';

type Tab = 'patient' | 'caseload';

let generation = 0;
let tab: Tab = 'patient';

function senderEmail(): string | null {
  const item = Office.context.mailbox.item as Office.MessageRead | null | undefined;
  const from = item?.from?.emailAddress;
  return from ? from.trim().toLowerCase() : null;
}

/**
 * The reference of a secure reply when the selected message is Attune's notice of one (its subject
 * says "secure reply", its text "Reference: <id>"); null otherwise. Only such notices are read.
 */
async function replyReference(): Promise<string | null> {
  const item = Office.context.mailbox.item as Office.MessageRead | null | undefined;
  if (!item || !/secure reply/i.test(item.subject ?? '')) return null;
  try {
    const text = await officeCall<string>('body.getAsync', (cb) =>
      item.body.getAsync(Office.CoercionType.Text, cb),
    );
    return (
      /Reference: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(text)?.[1] ?? null
    );
  } catch {
    return null;
  }
}

function shell(): { panel: HTMLElement } {
  const app = document.getElementById('app');
  if (!app) throw new Error('no #app');
  clear(app);
  const tabs: [Tab, string][] = [
    ['patient', 'Patient'],
    ['caseload', 'Caseload'],
  ];
  const list = h('div', { role: 'tablist', 'aria-label': 'Attune views', class: 'tabs' });
  for (const [id, label] of tabs) {
    const b = h(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: `tab-${id}`,
        'aria-selected': String(tab === id),
        'aria-controls': 'panel',
        tabindex: tab === id ? '0' : '-1',
      },
      label,
    );
    b.addEventListener('click', () => select(id));
    b.addEventListener('keydown', (ev) => {
      // WAI-ARIA tabs pattern: arrows move between tabs.
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        ev.preventDefault();
        const next = tab === 'patient' ? 'caseload' : 'patient';
        select(next);
        document.getElementById(`tab-${next}`)?.focus();
      }
    });
    list.appendChild(b);
  }
  const panel = h('div', { id: 'panel', role: 'tabpanel', 'aria-labelledby': `tab-${tab}`, tabindex: '0' });
  app.append(h('p', { id: 'status', class: 'status', role: 'status', 'aria-live': 'polite' }), list, panel);
  return { panel };
}

let api: ApiClient;

function select(next: Tab): void {
  tab = next;
  void refresh();
}

async function refresh(): Promise<void> {
  const mine = ++generation;
  const { panel } = shell();
  const app = document.getElementById('app');
  app?.setAttribute('aria-busy', 'true');
  try {
    if (tab === 'caseload') {
      setStatus('Loading caseload…');
      const r = await api.getCaseload();
      if (mine !== generation) return;
      if (!r.ok) return void setStatus(`Could not load the caseload: ${r.message}`, 'error');
      panel.appendChild(renderCaseload(r.value));
      setStatus('');
      return;
    }
    let email = senderEmail();
    if (!email) return void setStatus('Select a message to see insights about its sender.');
    setStatus('Loading insights…');
    // The notice of a patient's secure reply: show the reply, then insights about that patient.
    const ref = await replyReference();
    if (mine !== generation) return;
    if (ref) {
      const reply = await api.getReply(ref);
      if (mine !== generation) return;
      if (reply.ok) {
        panel.appendChild(renderReply(reply.value));
        email = reply.value.from;
      } else if (reply.status !== 404) {
        setStatus(`Could not load the reply: ${reply.message}`, 'error');
      }
    }
    const r = await api.getEngagement(email);
    if (mine !== generation) return; // the selection changed while we waited
    if (!r.ok) {
      if (r.code === 'patient_not_found' || r.status === 404)
        return void setStatus(ref ? '' : 'The sender is not a patient of your practice.');
      return void setStatus(`Could not load insights: ${r.message}`, 'error');
    }
    // One key per check-in form: a retry after a lost answer is answered with the same message.
    const checkInKey = newIdempotencyKey(crypto, 'outlook-checkin');
    panel.appendChild(
      renderEngagement(r.value, {
        async sendCheckIn(subject, text) {
          const sent = await api.sendMessage(
            { to: [email], subject, text, checkIn: true },
            { idempotencyKey: checkInKey },
          );
          return sent.ok
            ? { ok: true, message: 'Check-in sent securely.' }
            : { ok: false, message: `Not sent: ${sent.message}` };
        },
      }),
    );
    setStatus('');
  } finally {
    if (mine === generation) app?.setAttribute('aria-busy', 'false');
  }
}

void Office.onReady(() => {
  applyOfficeTheme();
  api = paneApi();
  void refresh();
  Office.context.mailbox.addHandlerAsync(Office.EventType.ItemChanged, () => {
    tab = 'patient';
    void refresh();
  });
});
