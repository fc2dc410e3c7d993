// The pinned read pane: insights about the sender of the selected message, and the caseload tab.
// Re-renders on ItemChanged (pinned panes stay open while the selection changes).
import { newIdempotencyKey } from '../compose/idempotency.ts';
import type { ApiClient } from '../core/api-client.ts';
import { clear, h, setStatus } from '../ui/dom.ts';
import { paneApi } from '../ui/pane-api.ts';
import { applyOfficeTheme } from '../ui/theme.ts';
import { renderCaseload, renderEngagement } from './render.ts';

type Tab = 'patient' | 'caseload';

let generation = 0;
let tab: Tab = 'patient';

function senderEmail(): string | null {
  const item = Office.context.mailbox.item as Office.MessageRead | null | undefined;
  const from = item?.from?.emailAddress;
  return from ? from.trim().toLowerCase() : null;
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
    const email = senderEmail();
    if (!email) return void setStatus('Select a message to see insights about its sender.');
    setStatus('Loading insights…');
    const r = await api.getEngagement(email);
    if (mine !== generation) return; // the selection changed while we waited
    if (!r.ok) {
      if (r.code === 'patient_not_found' || r.status === 404)
        return void setStatus('The sender is not a patient of your practice.');
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
