// Rendering the engagement response (POST /v1/engagement/lookup) and the caseload.
// Text from the server goes through textContent only; charts through the SVG allow-list.
import type { Alert, Caseload, Engagement, Metric, Reply } from '@attune/shared/api';
import { h } from '../ui/dom.ts';
import { safeSvg } from '../ui/svg.ts';

const SEVERITY_ORDER: Record<Alert['severity'], number> = { urgent: 0, warning: 1, info: 2 };

/** Crisis first, then by severity: the banner a clinician must not miss comes first. */
export function orderAlerts(alerts: readonly Alert[]): Alert[] {
  return [...alerts].sort(
    (a, b) =>
      Number(b.kind === 'crisis') - Number(a.kind === 'crisis') ||
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity],
  );
}

function pct(v: number | null): string {
  return v === null ? '—' : `${Math.round(v * 100)}%`;
}

function hours(v: number | null): string {
  if (v === null) return '—';
  if (v < 1) return `${Math.round(v * 60)} min`;
  if (v < 48) return `${v.toFixed(v < 10 ? 1 : 0)} h`;
  return `${(v / 24).toFixed(1)} days`;
}

function hourLabel(hh: number | null): string {
  if (hh === null) return '—';
  const suffix = hh < 12 ? 'am' : 'pm';
  const twelve = hh % 12 === 0 ? 12 : hh % 12;
  return `${twelve} ${suffix}`;
}

function reasons(list: readonly string[], summary = 'Why'): HTMLElement | null {
  if (list.length === 0) return null;
  return h(
    'details',
    { class: 'reasons' },
    h('summary', {}, summary),
    h('ul', {}, ...list.map((r) => h('li', {}, r))),
  );
}

function metricRow(label: string, value: string, m: { n: number; basis: string }): HTMLElement {
  return h(
    'div',
    { class: 'metric' },
    h('dt', {}, label),
    h(
      'dd',
      {},
      h('span', { class: 'metric-value' }, value),
      h('span', { class: 'metric-basis' }, ` (n=${m.n}) ${m.basis}`),
    ),
  );
}

/** Titles for the alert kinds; a Record so a new kind in the contract fails the typecheck here. */
const ALERT_TITLES: Record<Alert['kind'], string> = {
  crisis: 'Crisis language',
  drop: 'Engagement drop',
  missed_appointments: 'Missed appointments',
  unanswered: 'Unanswered messages',
  tone: 'Change in tone',
};

export function alertTitle(kind: Alert['kind']): string {
  return ALERT_TITLES[kind];
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The appointments row. Every appointment with an outcome counts (attended, missed, rescheduled,
 * cancelled: the server's "booked"), not `scheduled`, which counts only scheduling events and is
 * 0 for appointments imported with their outcome alone. The rates' own denominators are in the basis.
 */
export function appointmentsRow(a: Engagement['appointments']): { value: string; n: number } {
  const parts = [`${a.attended} attended`, `${a.missed} missed`];
  if (a.rescheduled > 0) parts.push(`${a.rescheduled} rescheduled`);
  if (a.cancelled > 0) parts.push(`${a.cancelled} cancelled`);
  const rates = [`no-show ${pct(a.noShowRate)}`];
  if (a.rescheduleRate !== null && a.rescheduled > 0) rates.push(`rescheduled ${pct(a.rescheduleRate)}`);
  return {
    value: `${parts.join(', ')}; ${rates.join(', ')}`,
    n: a.attended + a.missed + a.rescheduled + a.cancelled,
  };
}

function alertBanner(a: Alert): HTMLElement {
  const crisis = a.kind === 'crisis';
  return h(
    'section',
    {
      class: `banner banner-${crisis ? 'crisis' : a.severity}`,
      role: crisis || a.severity === 'urgent' ? 'alert' : 'note',
    },
    h('strong', {}, alertTitle(a.kind)),
    h('p', {}, a.message),
    a.sentence ? h('blockquote', { class: 'crisis-sentence' }, a.sentence) : null,
    a.since ? h('p', { class: 'muted' }, `Since ${new Date(a.since).toLocaleDateString()}`) : null,
    reasons(a.reasons),
  );
}

/**
 * A patient's secure reply, shown when the selected message is the PHI-free notice of it: who wrote,
 * when, and the words (as text, never markup). Crisis language is said first, as a banner would.
 */
export function renderReply(r: Reply): HTMLElement {
  return h(
    'section',
    {
      class: `card reply${r.crisis ? ' banner-crisis' : ''}`,
      'aria-labelledby': 'r-h',
      ...(r.crisis ? { role: 'alert' } : {}),
    },
    h('h2', { id: 'r-h' }, 'Secure reply'),
    r.crisis
      ? h(
          'p',
          {},
          h('strong', {}, 'Crisis language in this reply. '),
          "Follow your practice's crisis protocol.",
        )
      : null,
    h(
      'p',
      { class: 'muted' },
      `From ${r.from}, ${new Date(r.receivedAt).toLocaleString()}${r.source === 'email' ? ' (answered by email)' : ''}`,
    ),
    // Anyone who has seen the notice's reply address can write to it.
    r.otherSender
      ? h(
          'p',
          { class: 'reply-sender' },
          h('strong', {}, `Sent from ${r.otherSender}, `),
          'not from the address your message went to. Check who wrote it before acting on it.',
        )
      : null,
    h('p', { class: 'reply-text' }, r.text),
  );
}

export interface PatientActions {
  sendCheckIn(subject: string, text: string): Promise<{ ok: boolean; message: string }>;
}

export function renderEngagement(e: Engagement, actions: PatientActions): HTMLElement {
  const root = h('div', { class: 'patient' });
  for (const a of orderAlerts(e.alerts)) root.appendChild(alertBanner(a));

  root.appendChild(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'p-h' },
      h('h2', { id: 'p-h' }, e.patient.name ?? e.patient.email),
      h(
        'p',
        { class: 'style' },
        h('span', { class: `chip chip-${e.style.style}` }, e.style.label),
        ` ${Math.round(e.style.confidence * 100)}% confidence`,
      ),
      reasons(e.style.reasons),
      h(
        'p',
        { class: 'muted' },
        `${plural(e.data.messagesSent, 'message')} sent, ${plural(e.data.replies, 'reply', 'replies')}, since ${e.data.firstEventAt ? new Date(e.data.firstEventAt).toLocaleDateString() : '—'}`,
      ),
    ),
  );

  const rt = e.responseTime;
  const trend = {
    faster: 'getting faster',
    slower: 'getting slower',
    stable: 'stable',
    insufficient_data: 'not enough data yet',
  }[rt.trend];
  const best = e.recommendations.bestHour;
  root.appendChild(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'm-h' },
      h('h2', { id: 'm-h' }, 'Engagement'),
      h(
        'dl',
        { class: 'metrics' },
        metricRow('Reply rate', pct(e.replyRate.value), e.replyRate),
        metricRow(
          'Typical reply time',
          `${hours(rt.medianHours)} (IQR ${hours(rt.q1Hours)}–${hours(rt.q3Hours)}), ${trend}`,
          rt,
        ),
        metricRow('Messages per week', metricValue(e.frequency), e.frequency),
        metricRow(
          'Best hour to write',
          best.hour === null
            ? '—'
            : `${hourLabel(best.hour)} (${hourLabel(best.windowStart)}–${hourLabel(best.windowEnd)}, ${best.timeZone})`,
          { n: e.replyHours.n, basis: e.replyHours.basis },
        ),
        metricRow('Appointments', appointmentsRow(e.appointments).value, {
          n: appointmentsRow(e.appointments).n,
          basis: e.appointments.basis,
        }),
      ),
      reasons(best.reasons, 'Why this hour'),
    ),
  );

  const charts = h(
    'section',
    { class: 'card charts', 'aria-labelledby': 'c-h' },
    h('h2', { id: 'c-h' }, 'Charts'),
  );
  const rtSvg = safeSvg(e.charts.responseTimeSvg, 'Weekly median reply time');
  const hrSvg = safeSvg(e.charts.replyHoursSvg, 'Replies by hour of day');
  if (rtSvg) charts.appendChild(h('figure', {}, rtSvg, h('figcaption', {}, 'Reply time by week')));
  if (hrSvg) charts.appendChild(h('figure', {}, hrSvg, h('figcaption', {}, 'Replies by hour of day')));
  if (rtSvg || hrSvg) root.appendChild(charts);

  if (e.topics.length > 0) {
    root.appendChild(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 't-h' },
        h('h2', { id: 't-h' }, 'Topics that land'),
        h(
          'table',
          { class: 'topics' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Topic'),
              h('th', { scope: 'col' }, 'Sent'),
              h('th', { scope: 'col' }, 'Reply rate'),
            ),
          ),
          h(
            'tbody',
            {},
            ...[...e.topics]
              .sort((a, b) => (b.replyRate ?? -1) - (a.replyRate ?? -1))
              .map((t) =>
                h(
                  'tr',
                  {},
                  h('th', { scope: 'row' }, t.topic),
                  h('td', {}, t.sent),
                  h('td', {}, pct(t.replyRate)),
                ),
              ),
          ),
        ),
      ),
    );
  }

  root.appendChild(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'a-h' },
      h('h2', { id: 'a-h' }, 'Suggested approach'),
      h('p', {}, e.recommendations.approach.text),
      reasons(e.recommendations.approach.reasons),
    ),
  );

  if (e.recommendations.checkIn) root.appendChild(checkInForm(e.recommendations.checkIn, actions));
  root.appendChild(h('p', { class: 'disclaimer muted' }, e.disclaimer));
  return root;
}

function metricValue(m: Metric): string {
  return m.value === null ? '—' : m.value.toFixed(1);
}

function checkInForm(
  c: NonNullable<Engagement['recommendations']['checkIn']>,
  actions: PatientActions,
): HTMLElement {
  const subject = h('input', { id: 'ci-subject', type: 'text', value: c.subject, maxlength: '200' });
  const text = h('textarea', { id: 'ci-text', rows: '6' });
  text.value = c.template;
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send check-in securely');
  const form = h(
    'form',
    { class: 'checkin', hidden: true, 'aria-labelledby': 'ci-h' },
    h('label', { for: 'ci-subject' }, 'Subject'),
    subject,
    h('label', { for: 'ci-text' }, 'Message'),
    text,
    send,
    status,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    send.disabled = true;
    status.textContent = 'Sending…';
    void actions
      .sendCheckIn(subject.value, text.value)
      .then((r) => {
        status.textContent = r.message;
        status.className = `status status-${r.ok ? 'success' : 'error'}`;
        // Sent is final: a second click would send a second check-in.
        send.disabled = r.ok;
      })
      .catch(() => {
        status.textContent = 'Not sent: something went wrong.';
        status.className = 'status status-error';
        send.disabled = false;
      });
  });
  const open = h(
    'button',
    { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'ci-form' },
    'Send a check-in',
  );
  form.id = 'ci-form';
  open.addEventListener('click', () => {
    form.hidden = !form.hidden;
    open.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) text.focus();
  });
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'ci-h' },
    h('h2', { id: 'ci-h' }, 'Check in'),
    reasons(c.reasons),
    open,
    form,
  );
}

export function renderCaseload(c: Caseload): HTMLElement {
  if (c.items.length === 0) return h('p', { class: 'muted' }, 'No patients in your caseload yet.');
  return h(
    'div',
    { class: 'caseload' },
    h(
      'ol',
      { class: 'triage', 'aria-label': 'Caseload ranked by need' },
      ...c.items.map((i) =>
        h(
          'li',
          { class: i.crisis ? 'crisis' : '' },
          h('span', { class: 'rank' }, `${i.rank}.`),
          h('span', { class: 'who' }, i.name ?? i.email),
          i.crisis ? h('span', { class: 'chip chip-crisis' }, 'Crisis') : null,
          h('span', { class: `chip chip-${i.style}` }, i.style.replace('_', '-')),
          reasons(i.reasons),
        ),
      ),
    ),
    h('p', { class: 'muted' }, `${plural(c.total, 'patient')}. ${c.disclaimer}`),
  );
}
