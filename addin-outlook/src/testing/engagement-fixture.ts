// A complete engagement response (checked against the shared schema in the test) for a demo patient
// with a crisis alert and a drop, used to drive the read pane. Synthetic data, written for tests.
import { EngagementSchema } from '@attune/shared/api';
import type { Caseload, Engagement } from '@attune/shared/api';

export const DEMO_PATIENT = 'sam.rivera@example.net';
export const CRISIS_SENTENCE = "Some nights I don't see the point of going on.";

// The chart carries things the sanitizer must drop: a script, an event handler, an external link.
export const HOSTILE_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 40" onload="window.__svgOnload=1">' +
  '<script>window.__svgScript=1</script><a href="https://evil.example/"><rect x="0" y="0" width="10" height="10"/></a>' +
  '<polyline points="0,30 20,25 40,28 60,15 80,10 100,12" fill="none" stroke="#0f6cbd" stroke-width="2"/>' +
  '<text x="2" y="38" font-size="6">weeks</text></svg>';

export function demoEngagement(): Engagement {
  const e: Engagement = {
    patient: { id: 'pat_demo', email: DEMO_PATIENT, name: 'Sam Rivera', timeZone: 'America/Chicago' },
    asOf: '2026-11-20T12:00:00.000Z',
    data: { firstEventAt: '2026-05-01T12:00:00.000Z', events: 80, messagesSent: 30, replies: 18 },
    style: {
      style: 'declining',
      label: 'Declining',
      confidence: 0.78,
      reasons: ['Reply rate fell from 80% to 35% over 6 weeks.'],
    },
    replyRate: { value: 0.6, n: 30, basis: 'replies within 7 days / messages sent' },
    responseTime: {
      medianHours: 9.5,
      q1Hours: 3,
      q3Hours: 20,
      n: 18,
      trend: 'slower',
      recentMedianHours: 22,
      baselineMedianHours: 6,
      basis: 'hours from our message to the reply',
      series: [
        { week: '2026-W40', medianHours: 5 },
        { week: '2026-W45', medianHours: 22 },
      ],
    },
    replyHours: {
      histogram: Array.from({ length: 24 }, (_, h) => (h === 19 ? 6 : h === 20 ? 4 : h === 8 ? 2 : 0)),
      peakHour: 19,
      concentration: 0.7,
      timeZone: 'America/Chicago',
      n: 18,
      basis: 'hour of each reply in the patient time zone',
    },
    frequency: { value: 1.4, n: 30, basis: 'messages per week, last 12 weeks' },
    topics: [
      { topic: 'homework', sent: 8, opened: 7, replied: 6, replyRate: 0.75 },
      { topic: 'scheduling', sent: 10, opened: 9, replied: 4, replyRate: 0.4 },
    ],
    inquiries: [{ type: 'scheduling', count: 5 }],
    tone: { trend: 'more_negative', points: [], basis: 'lexicon score of replies' },
    appointments: {
      scheduled: 12,
      attended: 8,
      missed: 3,
      rescheduled: 1,
      cancelled: 0,
      noShowRate: 0.25,
      rescheduleRate: 0.08,
      basis: 'appointments in the last 6 months',
    },
    alerts: [
      {
        kind: 'drop',
        severity: 'warning',
        since: '2026-10-01T00:00:00.000Z',
        message: 'Replies have slowed sharply since October.',
        reasons: ['Median reply time rose from 6 h to 22 h.'],
      },
      {
        kind: 'crisis',
        severity: 'urgent',
        since: '2026-11-19T02:10:00.000Z',
        message: 'A recent reply contains crisis language.',
        sentence: CRISIS_SENTENCE,
        grade: 'first_person',
        reasons: ['First-person hopelessness in the reply of Nov 19.'],
      },
    ],
    recommendations: {
      bestHour: {
        hour: 19,
        windowStart: 18,
        windowEnd: 21,
        timeZone: 'America/Chicago',
        confidence: 0.7,
        reasons: ['Most replies arrive between 6 and 9 pm.'],
      },
      approach: {
        kind: 'simplified',
        text: 'Keep messages short, with one clear question.',
        reasons: ['Short messages got replies twice as often.'],
      },
      checkIn: {
        subject: 'Checking in',
        template: 'Hi Sam, I wanted to check in after our last session. How are you doing this week?',
        reasons: ['No reply in 12 days.'],
      },
    },
    charts: {
      responseTimeSvg: HOSTILE_SVG,
      replyHoursSvg: HOSTILE_SVG.replace('weeks', 'hours'),
      pngUrl: null,
    },
    disclaimer: 'Decision support, not diagnosis.',
  };
  return EngagementSchema.parse(e);
}

export function demoCaseload(): Caseload {
  return {
    items: [
      {
        patientId: 'pat_demo',
        email: DEMO_PATIENT,
        name: 'Sam Rivera',
        rank: 1,
        score: 0.97,
        crisis: true,
        style: 'declining',
        reasons: ['Crisis language in a reply.'],
        lastReplyAt: '2026-11-19T02:10:00.000Z',
      },
      {
        patientId: 'pat_2',
        email: 'alex@example.net',
        name: 'Alex Kim',
        rank: 2,
        score: 0.6,
        crisis: false,
        style: 'sporadic',
        reasons: ['Two missed appointments.'],
        lastReplyAt: null,
      },
    ],
    page: 1,
    pageSize: 50,
    total: 2,
    disclaimer: 'Ranked by need; decision support, not diagnosis.',
  };
}
