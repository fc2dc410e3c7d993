// Synthetic API responses (invented people, no benchmark data), checked against the shared zod
// schemas in the tests so they stay faithful to the contract.

import type { Caseload, CaseloadItem, Engagement, Reply, SendMessageResponse } from '@attune/shared/api';

export function engagementFixture(overrides: Partial<Engagement> = {}): Engagement {
  const base: Engagement = {
    patient: {
      id: 'pat_1',
      email: 'river.stone@example.org',
      name: 'River Stone',
      timeZone: 'America/Chicago',
    },
    asOf: '2026-11-20T15:00:00.000Z',
    data: { firstEventAt: '2026-06-01T10:00:00.000Z', events: 42, messagesSent: 20, replies: 12 },
    style: {
      style: 'declining',
      label: 'Declining',
      confidence: 0.72,
      reasons: ['Reply rate fell from 80% to 35% over 6 weeks'],
    },
    replyRate: { value: 0.6, n: 20, basis: 'Replies within 7 days / messages sent' },
    responseTime: {
      medianHours: 5.5,
      q1Hours: 2,
      q3Hours: 20,
      n: 12,
      trend: 'slower',
      recentMedianHours: 30,
      baselineMedianHours: 4,
      basis: 'Hours from delivery to reply',
      series: [
        { week: '2026-10-05', medianHours: 3 },
        { week: '2026-10-12', medianHours: 28 },
      ],
    },
    replyHours: {
      histogram: Array.from({ length: 24 }, (_, h) => (h === 19 ? 6 : h === 20 ? 3 : 0)),
      peakHour: 19,
      concentration: 0.81,
      timeZone: 'America/Chicago',
      n: 9,
      basis: 'Reply times in the patient time zone',
    },
    frequency: { value: 1.5, n: 20, basis: 'Messages per week' },
    topics: [{ topic: 'homework', sent: 6, opened: 5, replied: 4, replyRate: 0.67 }],
    inquiries: [{ type: 'scheduling', count: 3 }],
    tone: { trend: 'stable', points: [], basis: 'Lexicon score of replies' },
    appointments: {
      scheduled: 10,
      attended: 7,
      missed: 2,
      rescheduled: 1,
      cancelled: 0,
      noShowRate: 0.2,
      rescheduleRate: 0.1,
      basis: 'Appointments in the last 6 months',
    },
    alerts: [
      {
        kind: 'drop',
        severity: 'warning',
        since: '2026-10-12',
        message: 'Responsiveness dropped',
        reasons: ['Median reply time 30 h vs 4 h baseline'],
      },
      {
        kind: 'crisis',
        severity: 'urgent',
        since: '2026-11-19T22:10:00.000Z',
        message: 'Possible crisis language in a reply',
        sentence: 'Some nights I feel like giving up on everything.',
        grade: 'first_person',
        reasons: ['First-person statement matched the crisis lexicon'],
      },
    ],
    recommendations: {
      bestHour: {
        hour: 19,
        windowStart: 18,
        windowEnd: 20,
        timeZone: 'America/Chicago',
        confidence: 0.7,
        reasons: ['6 of 9 replies between 6 and 8 pm'],
      },
      approach: {
        kind: 'simplified',
        text: 'Keep messages short with one question.',
        reasons: ['Shorter messages got replies more often'],
      },
      checkIn: {
        subject: 'Checking in',
        template: 'Hi, I wanted to check in and see how this week is going.',
        reasons: ['No reply for 12 days'],
      },
    },
    charts: {
      responseTimeSvg: '<svg xmlns="http://www.w3.org/2000/svg"></svg>',
      replyHoursSvg: '<svg xmlns="http://www.w3.org/2000/svg"></svg>',
      pngUrl: 'https://attune.test/v1/charts/abc.png?sig=xyz&exp=1',
    },
    disclaimer: 'Decision support, not diagnosis.',
  };
  return { ...base, ...overrides };
}

export function caseloadItem(rank: number, overrides: Partial<CaseloadItem> = {}): CaseloadItem {
  return {
    patientId: `pat_${rank}`,
    email: `patient${rank}@example.org`,
    name: `Patient ${rank}`,
    rank,
    score: 1 / rank,
    crisis: false,
    style: 'steady',
    reasons: [`Reason for rank ${rank}`],
    lastReplyAt: '2026-11-01T12:00:00.000Z',
    ...overrides,
  };
}

export function caseloadFixture(page: number, pageSize: number, total: number): Caseload {
  const first = (page - 1) * pageSize + 1;
  const items: CaseloadItem[] = [];
  for (let r = first; r < first + pageSize && r <= total; r++) {
    items.push(
      caseloadItem(
        r,
        r === 1 ? { crisis: true, style: 'declining', reasons: ['Crisis language on 2026-11-19'] } : {},
      ),
    );
  }
  return { items, page, pageSize, total, disclaimer: 'Ranking is decision support, not diagnosis.' };
}

export function sendResponseFixture(overrides: Partial<SendMessageResponse> = {}): SendMessageResponse {
  return {
    id: 'msg_123',
    decision: 'encrypt',
    reasons: ['Contains a diagnosis'],
    recipients: [{ email: 'river.stone@example.org', method: 'link', status: 'queued' }],
    notice: {
      text: 'You have a secure message. Open: https://attune.test/m/abc',
      html: '<p>You have a secure message. <a href="https://attune.test/m/abc">Open it</a></p>',
    },
    ...overrides,
  };
}

/** GET /v1/replies/:id: an invented patient's reply on the secure page. */
export function replyFixture(overrides: Partial<Reply> = {}): Reply {
  return {
    id: '0193a5b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b',
    messageId: '0193a5b0-0000-7000-8000-000000000001',
    from: 'river.stone@example.org',
    otherSender: null,
    receivedAt: '2026-11-20T03:15:00.000Z',
    source: 'viewer',
    text: 'Thanks for checking in.\nThe new routine helps, and Thursday at 4 works for me.',
    crisis: false,
    ...overrides,
  };
}
