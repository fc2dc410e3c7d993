// The route-table audit test (notes/security.md: "every route must declare its audit subtype").
// ROUTE_AUDIT below is that declaration: every route the app's router has must appear in it, with
// the audit action a successful call records, or `none` and why. A new route fails this test until
// its author says what it records. Then each declared route is called for real (startServer, SQLite)
// and the audit trail is read back by the response's request id: who (actor), what (action,
// target), when (UTC, within the call), where (client address), outcome, request id, and no PHI in
// any column. Authorization failures (another practice's ids, a non-admin on an admin route), logins
// (first use of a token), token refusals and the patient's second factor are checked the same way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT, type AuditAction } from '../audit/index.ts';
import { recordDeliveryReport } from '../delivery/delivery-report.ts';
import { deliveryFor } from '../delivery/index.ts';
import type { AuditEventsTable } from '../store/schema.ts';
import {
  linkTokens,
  mailTexts,
  startApiFixture,
  waitForLinkToken,
  type ApiFixture,
  type RouteKey,
} from './api-fixture.ts';

const PHI_NAME = 'Marisol Quenneville';
const PHI_EMAIL = 'marisol.quenneville@a.example.org';
const SUBJECT = 'Quenneville intake follow-up';
const TEXT = 'Marisol, your panic episodes are charted.';

type Actor = 'clinician' | 'patient' | 'system' | 'anonymous';

interface Ctx {
  f: ApiFixture;
  /** A message of practice A with an attachment, and its secure-link token. */
  message: { id: string; token: string };
  chartPath: string;
  /** A reply of the patient to that message (through the viewer). */
  replyId: string;
  /** A delivery of practice A the patient's mail server returned (a 5.x.x report): failed, retryable. */
  bouncedDelivery: string;
}

interface Call {
  path: (x: Ctx) => string;
  method?: string;
  body?: (x: Ctx) => unknown;
  form?: (x: Ctx) => Promise<Record<string, string>>;
  token?: 'clinicianA' | 'adminA' | 'none';
  status: number;
}

type Spec =
  | {
      audit: AuditAction;
      actor: Actor;
      target?: string;
      call: Call;
      /** Practice B's clinician asks for practice A's object: 404, audited as authz.failure. */
      crossPractice?: Omit<Call, 'status' | 'token'>;
      /** An admin-only route: a clinician is refused (403), audited as authz.failure. */
      adminOnly?: boolean;
    }
  | { audit: 'none'; why: string };

const json = (value: unknown) => value;

const ROUTE_AUDIT: Record<RouteKey, Spec> = {
  'GET /healthz': { audit: 'none', why: 'liveness; no data' },
  'GET /openapi.json': { audit: 'none', why: 'public API description' },
  'GET /docs': { audit: 'none', why: 'public API description' },
  'GET /': { audit: 'none', why: 'static page saying what the server is; no data' },
  'GET /.well-known/jwks.json': { audit: 'none', why: 'public key of the development issuer' },
  'GET /.well-known/microsoft-officeaddins-allowed.json': {
    audit: 'none',
    why: 'public list of add-in origins',
  },
  'GET /addin/*': { audit: 'none', why: 'static files of the Outlook add-in' },
  'GET /v1/policy': { audit: 'none', why: "the practice's send rules: configuration, no patient data" },
  'GET /v1/engagement/settings': { audit: 'none', why: 'one practice switch, no patient data' },
  'GET /v1/caseload/weights': { audit: 'none', why: 'triage weights of the practice, no patient data' },
  'POST /m/:token/code/send': {
    audit: 'none',
    why: 'queues a one-time code to the address on file; rate limited; reveals nothing',
  },
  'POST /m/:token/opened': {
    audit: 'none',
    why: "the page's open beacon: records the engagement `opened` event; reads nothing (the page GET audits the read)",
  },
  'POST /v1/dev/token': {
    audit: AUDIT.DEV_TOKEN_ISSUED,
    actor: 'anonymous',
    call: {
      method: 'POST',
      path: () => '/v1/dev/token',
      body: () => json({ email: 'new.dev@a.example.org' }),
      token: 'none',
      status: 200,
    },
  },
  'POST /v1/patients': {
    audit: AUDIT.PHI_WRITE,
    actor: 'clinician',
    target: 'patient',
    call: {
      method: 'POST',
      path: () => '/v1/patients',
      body: () => json({ email: PHI_EMAIL, name: PHI_NAME, timeZone: 'Europe/Paris' }),
      status: 201,
    },
  },
  'POST /v1/recipients/patients': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'recipients',
    call: {
      method: 'POST',
      path: () => '/v1/recipients/patients',
      body: () => json({ emails: [PHI_EMAIL, 'stranger@b.example.org'] }),
      status: 200,
    },
  },
  'POST /v1/scan': {
    audit: AUDIT.PHI_SCAN,
    actor: 'clinician',
    target: 'draft',
    call: {
      method: 'POST',
      path: () => '/v1/scan',
      body: () =>
        json({
          to: [PHI_EMAIL],
          subject: SUBJECT,
          text: TEXT,
          attachments: [
            {
              filename: 'note.txt',
              contentType: 'text/plain',
              contentBase64: Buffer.from(TEXT).toString('base64'),
            },
          ],
        }),
      status: 200,
    },
  },
  'GET /v1/patients/:id': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'patient',
    call: { path: (x) => `/v1/patients/${x.f.patientA.id}`, status: 200 },
    crossPractice: { path: (x) => `/v1/patients/${x.f.patientA.id}` },
  },
  'GET /v1/patients/:id/engagement': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'patient',
    call: { path: (x) => `/v1/patients/${x.f.patientA.id}/engagement`, status: 200 },
    crossPractice: { path: (x) => `/v1/patients/${x.f.patientA.id}/engagement` },
  },
  'GET /v1/patients/by-email/:email/engagement': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'patient',
    call: {
      path: (x) => `/v1/patients/by-email/${encodeURIComponent(x.f.patientA.email)}/engagement`,
      status: 200,
    },
    crossPractice: {
      path: (x) => `/v1/patients/by-email/${encodeURIComponent(x.f.patientA.email)}/engagement`,
    },
  },
  'POST /v1/engagement/lookup': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'patient',
    call: {
      method: 'POST',
      path: () => '/v1/engagement/lookup',
      body: (x) => json({ email: x.f.patientA.email }),
      status: 200,
    },
    crossPractice: {
      method: 'POST',
      path: () => '/v1/engagement/lookup',
      body: (x) => json({ email: x.f.patientA.email }),
    },
  },
  'PUT /v1/engagement/settings': {
    audit: AUDIT.POLICY_CHANGE,
    actor: 'clinician',
    adminOnly: true,
    call: {
      method: 'PUT',
      path: () => '/v1/engagement/settings',
      body: () => json({ mailboxBodies: false }),
      token: 'adminA',
      status: 200,
    },
  },
  'GET /v1/caseload': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'caseload',
    call: { path: () => '/v1/caseload', status: 200 },
  },
  'GET /v1/patients/:id/care-team': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'patient',
    adminOnly: true,
    call: { path: (x) => `/v1/patients/${x.f.patientA.id}/care-team`, token: 'adminA', status: 200 },
  },
  // The admin adds and removes themselves, so clinicianA's care of patientA (the other calls) stays.
  'PUT /v1/patients/:id/care-team/:email': {
    audit: AUDIT.CARE_CHANGE,
    actor: 'clinician',
    target: 'patient',
    adminOnly: true,
    call: {
      method: 'PUT',
      path: (x) => `/v1/patients/${x.f.patientA.id}/care-team/${encodeURIComponent('boss@a.example.org')}`,
      token: 'adminA',
      status: 200,
    },
  },
  'DELETE /v1/patients/:id/care-team/:email': {
    audit: AUDIT.CARE_CHANGE,
    actor: 'clinician',
    target: 'patient',
    adminOnly: true,
    call: {
      method: 'DELETE',
      path: (x) => `/v1/patients/${x.f.patientA.id}/care-team/${encodeURIComponent('boss@a.example.org')}`,
      token: 'adminA',
      status: 200,
    },
  },
  'GET /v1/deliveries': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'deliveries',
    adminOnly: true,
    call: { path: () => '/v1/deliveries', token: 'adminA', status: 200 },
  },
  'POST /v1/deliveries/:id/retry': {
    audit: AUDIT.DELIVERY_RETRY,
    actor: 'clinician',
    target: 'delivery',
    adminOnly: true,
    call: {
      method: 'POST',
      path: (x) => `/v1/deliveries/${x.bouncedDelivery}/retry`,
      token: 'adminA',
      status: 200,
    },
  },
  'PUT /v1/caseload/weights': {
    audit: AUDIT.POLICY_CHANGE,
    actor: 'clinician',
    adminOnly: true,
    call: {
      method: 'PUT',
      path: () => '/v1/caseload/weights',
      body: () => json({}),
      token: 'adminA',
      status: 200,
    },
  },
  'PUT /v1/policy': {
    audit: AUDIT.POLICY_CHANGE,
    actor: 'clinician',
    target: 'policy',
    adminOnly: true,
    call: {
      method: 'PUT',
      path: () => '/v1/policy',
      body: () => json({ linkExpiryDays: 30 }),
      token: 'adminA',
      status: 200,
    },
  },
  'POST /v1/events': {
    audit: AUDIT.PHI_WRITE,
    actor: 'clinician',
    call: {
      method: 'POST',
      path: () => '/v1/events',
      body: (x) =>
        json({
          events: [
            {
              id: 'audit-1',
              patientId: x.f.patientA.email,
              type: 'appointment_missed',
              at: '2026-03-02T15:00:00Z',
            },
          ],
        }),
      status: 201,
    },
  },
  'POST /v1/fhir': {
    audit: AUDIT.PHI_WRITE,
    actor: 'clinician',
    call: {
      method: 'POST',
      path: () => '/v1/fhir',
      body: (x) =>
        json({
          resourceType: 'Bundle',
          entry: [
            {
              fullUrl: 'urn:uuid:p1',
              resource: {
                resourceType: 'Patient',
                id: 'p1',
                name: [{ text: PHI_NAME }],
                telecom: [{ system: 'email', value: x.f.patientA.email }],
              },
            },
            {
              resource: {
                resourceType: 'Appointment',
                id: 'ap-audit',
                status: 'fulfilled',
                start: '2026-03-03T15:00:00Z',
                participant: [{ actor: { reference: 'Patient/p1' } }],
              },
            },
          ],
        }),
      status: 201,
    },
  },
  'GET /v1/charts/:file': {
    audit: AUDIT.PHI_READ,
    actor: 'system',
    target: 'patient',
    call: { path: (x) => x.chartPath, token: 'none', status: 200 },
  },
  'POST /v1/messages': {
    audit: AUDIT.MESSAGE_SEND,
    actor: 'clinician',
    call: {
      method: 'POST',
      path: () => '/v1/messages',
      body: (x) => json({ to: [x.f.patientA.email], subject: SUBJECT, text: TEXT }),
      status: 202,
    },
  },
  'GET /v1/messages/:id': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'message',
    call: { path: (x) => `/v1/messages/${x.message.id}`, status: 200 },
    crossPractice: { path: (x) => `/v1/messages/${x.message.id}` },
  },
  'GET /v1/replies/:id': {
    audit: AUDIT.PHI_READ,
    actor: 'clinician',
    target: 'reply',
    call: { path: (x) => `/v1/replies/${x.replyId}`, status: 200 },
    crossPractice: { path: (x) => `/v1/replies/${x.replyId}` },
  },
  'GET /m/:token': {
    audit: AUDIT.VIEWER_OPEN,
    actor: 'patient',
    target: 'message',
    call: { path: (x) => `/m/${x.message.token}`, token: 'none', status: 200 },
  },
  'GET /m/:token/a/:index': {
    audit: AUDIT.PHI_READ,
    actor: 'patient',
    target: 'message',
    call: { path: (x) => `/m/${x.message.token}/a/0`, token: 'none', status: 200 },
  },
  'POST /m/:token/reply': {
    audit: AUDIT.VIEWER_REPLY,
    actor: 'patient',
    call: {
      method: 'POST',
      path: (x) => `/m/${x.message.token}/reply`,
      form: async (x) => ({ csrf: await csrfOf(x, `/m/${x.message.token}`), text: `Thanks. ${PHI_NAME}` }),
      token: 'none',
      status: 303,
    },
  },
  'POST /m/:token/code': {
    audit: AUDIT.LOGIN,
    actor: 'patient',
    call: { method: 'POST', path: () => '/unused', status: 303 }, // exercised by its own test below
  },
  // Before the revoke: a revoked message has no notice to hand out (409).
  'POST /v1/messages/:id/notice': {
    audit: AUDIT.MESSAGE_NOTICE,
    actor: 'clinician',
    target: 'message',
    call: { method: 'POST', path: (x) => `/v1/messages/${x.message.id}/notice`, status: 200 },
    crossPractice: { method: 'POST', path: (x) => `/v1/messages/${x.message.id}/notice` },
  },
  // Last: it ends the message's links.
  'POST /v1/messages/:id/revoke': {
    audit: AUDIT.MESSAGE_REVOKE,
    actor: 'clinician',
    target: 'message',
    call: { method: 'POST', path: (x) => `/v1/messages/${x.message.id}/revoke`, status: 200 },
    crossPractice: { method: 'POST', path: (x) => `/v1/messages/${x.message.id}/revoke` },
  },
};

async function csrfOf(x: Ctx, pagePath: string): Promise<string> {
  const html = await (await x.f.request(pagePath)).text();
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no CSRF token on ${pagePath}`);
  return m[1]!;
}

describe('route-table audit (real server, SQLite)', () => {
  let x: Ctx;
  let f: ApiFixture;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    f = await startApiFixture({ patientEmail: 'pat.audit@a.example.org', patientName: PHI_NAME });
    const known = new Set(linkTokens(f.server.config.mailDir));
    const sent = await f.request('/v1/messages', {
      method: 'POST',
      token: f.tokens.clinicianA,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        to: [f.patientA.email],
        subject: SUBJECT,
        text: TEXT,
        attachments: [
          {
            filename: 'plan.txt',
            contentType: 'text/plain',
            contentBase64: Buffer.from(TEXT).toString('base64'),
          },
        ],
      }),
    });
    expect(sent.status).toBe(202);
    const id = ((await sent.json()) as { id: string }).id;
    const token = await waitForLinkToken(f.server.config.mailDir, known);
    const eng = await f.request(`/v1/patients/${f.patientA.id}/engagement`, { token: f.tokens.clinicianA });
    const body = (await eng.json()) as { charts?: { pngUrl?: string } };
    const png = new URL(body.charts?.pngUrl ?? 'http://invalid/none');
    x = {
      f,
      message: { id, token },
      chartPath: `${png.pathname}${png.search}`,
      replyId: '',
      bouncedDelivery: '',
    };
    const replied = await f.request(`/m/${token}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
      body: new URLSearchParams({
        csrf: await csrfOf(x, `/m/${token}`),
        text: 'Thank you, see you then.',
      }).toString(),
    });
    expect(replied.status).toBe(303);
    x.replyId = (
      await f.server.store.db
        .selectFrom('replies')
        .select('id')
        .where('message_id', '=', id)
        .executeTakeFirstOrThrow()
    ).id;
    // A second message, sent, then returned by the patient's mail server: a delivery to retry.
    const before = new Set(linkTokens(f.server.config.mailDir));
    const second = await f.request('/v1/messages', {
      method: 'POST',
      token: f.tokens.clinicianA,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: [f.patientA.email], subject: SUBJECT, text: TEXT }),
    });
    expect(second.status).toBe(202);
    const secondId = ((await second.json()) as { id: string }).id;
    await waitForLinkToken(f.server.config.mailDir, before);
    x.bouncedDelivery = (
      await f.server.store.db
        .selectFrom('deliveries')
        .select('id')
        .where('message_id', '=', secondId)
        .executeTakeFirstOrThrow()
    ).id;
    const bounced = await recordDeliveryReport(deliveryFor(f.server.deps).services, {
      deliveryId: x.bouncedDelivery,
      action: 'failed',
      status: '5.1.1',
      diagnostic: null,
      receivedAt: new Date(),
    });
    expect(bounced).toMatchObject({ ok: true, outcome: 'failed' });
    // First use provisions each clinician (and is their audited login).
    for (const t of [f.tokens.adminA, f.tokens.clinicianB])
      expect((await f.request('/v1/policy', { token: t })).status).toBe(200);
    for (const email of ['dr.a@a.example.org', 'boss@a.example.org', 'dr.b@b.example.org']) {
      const row = await f.server.store.db
        .selectFrom('clinicians')
        .select('id')
        .where('email', '=', email)
        .executeTakeFirstOrThrow();
      ids[email] = row.id;
    }
  }, 60_000);

  afterAll(async () => {
    await f?.close();
  });

  const tokenOf = (t: Call['token']) =>
    t === 'none' ? undefined : t === 'adminA' ? f.tokens.adminA : f.tokens.clinicianA;

  async function call(
    c: Call | Omit<Call, 'status' | 'token'>,
    token: string | undefined,
  ): Promise<{ res: Response; requestId: string; before: string; after: string }> {
    const before = new Date().toISOString();
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (c.body) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(c.body(x));
    } else if (c.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(await c.form(x)).toString();
    }
    const res = await f.request(c.path(x), {
      method: c.method ?? 'GET',
      headers,
      redirect: 'manual',
      ...(token ? { token } : {}),
      ...(body !== undefined ? { body } : {}),
    });
    await res.arrayBuffer();
    const requestId = res.headers.get('x-request-id') ?? '';
    return { res, requestId, before, after: new Date().toISOString() };
  }

  const auditRows = (requestId: string): Promise<AuditEventsTable[]> =>
    f.server.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', requestId)
      .orderBy('seq')
      .execute();

  /** No column of any audit row carries the patient's name or email, the subject, the text or a clinician's email. */
  function expectNoPhi(rows: AuditEventsTable[]) {
    const text = JSON.stringify(rows).toLowerCase();
    for (const s of [
      PHI_NAME,
      PHI_EMAIL,
      f.patientA.email,
      f.patientB.email,
      SUBJECT,
      TEXT,
      'dr.a@a.example.org',
      'boss@a.example.org',
      'dr.b@b.example.org',
      'quenneville',
      'marisol',
    ]) {
      expect(text.includes(s.toLowerCase()), `audit rows contain "${s}"`).toBe(false);
    }
  }

  function expectWhoWhatWhen(row: AuditEventsTable, t: { before: string; after: string; requestId: string }) {
    expect(row.request_id).toBe(t.requestId);
    expect(row.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(row.at >= t.before.slice(0, 19) && row.at.slice(0, 19) <= t.after.slice(0, 19)).toBe(true);
    expect(row.ip).toBeTruthy();
  }

  it('declares an audit subtype (or none, with a reason) for every route of the router, and nothing else', () => {
    const routes = f.routes();
    expect(
      routes.filter((r) => !(r in ROUTE_AUDIT)),
      'routes without a declaration in ROUTE_AUDIT',
    ).toEqual([]);
    expect(
      Object.keys(ROUTE_AUDIT).filter((r) => !routes.includes(r as RouteKey)),
      'declarations of routes that no longer exist',
    ).toEqual([]);
  });

  it('records who, what, when, where, outcome and request id for every successful call of a declared route, without PHI', async () => {
    const problems: string[] = [];
    for (const [route, spec] of Object.entries(ROUTE_AUDIT)) {
      if (spec.audit === 'none' || route === 'POST /m/:token/code') continue;
      const t = await call(spec.call, tokenOf(spec.call.token));
      if (t.res.status !== spec.call.status) {
        problems.push(`${route}: answered ${t.res.status}, expected ${spec.call.status}`);
        continue;
      }
      const rows = await auditRows(t.requestId);
      const row = rows.find((r) => r.action === spec.audit);
      if (!row) {
        problems.push(
          `${route}: no ${spec.audit} event (got ${rows.map((r) => r.action).join(', ') || 'none'})`,
        );
        continue;
      }
      expect(row.outcome, route).toBe('success');
      expect(row.actor_type, route).toBe(spec.actor);
      if (spec.actor === 'clinician') {
        const who = spec.call.token === 'adminA' ? 'boss@a.example.org' : 'dr.a@a.example.org';
        expect(row.actor_id, route).toBe(ids[who]);
      }
      expect(row.practice_id, route).toBe(f.practiceA);
      if (spec.target) expect(row.target_type, route).toBe(spec.target);
      expectWhoWhatWhen(row, t);
      expectNoPhi(rows);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  it('audits a refused secure link (unknown, or revoked above) as an authentication failure, without the token', async () => {
    for (const [token, status, reason] of [
      ['A'.repeat(43), 404, 'unknown_token'],
      [x.message.token, 410, 'revoked'],
    ] as const) {
      const t = await call({ path: () => `/m/${token}` }, undefined);
      expect(t.res.status).toBe(status);
      const rows = await auditRows(t.requestId);
      expect(rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([`${AUDIT.AUTH_FAILURE}:failure`]);
      expect(JSON.parse(rows[0]!.details)).toMatchObject({ reason });
      expectWhoWhatWhen(rows[0]!, t);
      expect(JSON.stringify(rows)).not.toContain(token);
    }
  });

  it("answers another practice's ids with 404 and audits the attempt as an authorization failure", async () => {
    const problems: string[] = [];
    for (const [route, spec] of Object.entries(ROUTE_AUDIT)) {
      if (spec.audit === 'none' || !spec.crossPractice) continue;
      const t = await call(spec.crossPractice, f.tokens.clinicianB);
      if (t.res.status !== 404) problems.push(`${route}: practice B got ${t.res.status}`);
      const rows = await auditRows(t.requestId);
      const row = rows.find((r) => r.action === AUDIT.AUTHZ_FAILURE);
      if (!row) {
        problems.push(`${route}: no authz.failure event`);
        continue;
      }
      expect(row.outcome).toBe('failure');
      expect(row.actor_type).toBe('clinician');
      expect(row.actor_id).toBe(ids['dr.b@b.example.org']);
      expect(row.practice_id).toBe(f.practiceB);
      expectWhoWhatWhen(row, t);
      expectNoPhi(rows);
      expect(
        rows.some((r) => r.action === AUDIT.PHI_READ || r.action === AUDIT.MESSAGE_REVOKE),
        `${route}: a refused call recorded as a success`,
      ).toBe(false);
    }
    expect(problems).toEqual([]);
  }, 30_000);

  it('refuses admin routes to clinicians with 403, audited as an authorization failure', async () => {
    for (const [route, spec] of Object.entries(ROUTE_AUDIT)) {
      if (spec.audit === 'none' || !spec.adminOnly) continue;
      const t = await call({ ...spec.call, token: 'clinicianA' }, f.tokens.clinicianA);
      expect(t.res.status, route).toBe(403);
      const rows = await auditRows(t.requestId);
      const row = rows.find((r) => r.action === AUDIT.AUTHZ_FAILURE);
      expect(row, route).toBeDefined();
      expect(row!.actor_id).toBe(ids['dr.a@a.example.org']);
      expectWhoWhatWhen(row!, t);
      expect(
        rows.some((r) => r.action === AUDIT.POLICY_CHANGE),
        route,
      ).toBe(false);
    }
  });

  it('audits the first use of a token as a login, and later uses not again', async () => {
    const token = await f.devIssuer.sign({ email: 'first.login@a.example.org' });
    const first = await call({ path: () => '/v1/policy' }, token);
    expect(first.res.status).toBe(200);
    const rows = await auditRows(first.requestId);
    const login = rows.find((r) => r.action === AUDIT.LOGIN);
    expect(login).toBeDefined();
    expect(login!.outcome).toBe('success');
    expect(login!.actor_type).toBe('clinician');
    expect(login!.practice_id).toBe(f.practiceA);
    expectWhoWhatWhen(login!, first);
    expect(JSON.stringify(rows)).not.toContain('first.login@');
    const again = await call({ path: () => '/v1/policy' }, token);
    expect((await auditRows(again.requestId)).map((r) => r.action)).toEqual([]);
  });

  it('audits every refused token (forged, expired, alg none, unknown practice) without the token or the address in it', async () => {
    for (const kind of ['forged', 'expired', 'algNone', 'unknownPractice'] as const) {
      const t = await call({ path: () => '/v1/policy' }, f.tokens[kind]);
      expect(t.res.status, kind).toBe(401);
      const rows = await auditRows(t.requestId);
      expect(
        rows.map((r) => `${r.action}:${r.outcome}`),
        kind,
      ).toEqual([`${AUDIT.AUTH_FAILURE}:failure`]);
      expectWhoWhatWhen(rows[0]!, t);
      const text = JSON.stringify(rows);
      expect(text).not.toContain(f.tokens[kind].slice(-20));
      expect(text).not.toContain('dr.a@');
      expect(text).not.toContain('nowhere.example.net');
    }
  });

  it('audits credentials that are not a bearer token (another scheme, too short, oversized); a request without any is not a login attempt', async () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer short', `Bearer ${'a'.repeat(9000)}`, 'Bearer']) {
      const res = await f.request('/v1/policy', { headers: { authorization: header } });
      expect(res.status, header.slice(0, 20)).toBe(401);
      const rows = await auditRows(res.headers.get('x-request-id') ?? '');
      expect(
        rows.map((r) => `${r.action}:${r.outcome}`),
        header.slice(0, 20),
      ).toEqual([`${AUDIT.AUTH_FAILURE}:failure`]);
      expect(JSON.stringify(rows)).not.toContain('dXNlcjpwYXNz');
    }
    const none = await f.request('/v1/policy');
    expect(none.status).toBe(401);
    expect(await auditRows(none.headers.get('x-request-id') ?? '')).toEqual([]);
  });

  it("audits the patient's one-time code: a wrong code as an authentication failure, the right one as a login", async () => {
    const put = await call(
      { method: 'PUT', path: () => '/v1/policy', body: () => ({ viewerSecondFactor: true }) },
      f.tokens.adminA,
    );
    expect(put.res.status).toBe(200);
    const known = new Set(linkTokens(f.server.config.mailDir));
    const sent = await call(
      { method: 'POST', path: () => '/v1/messages', body: () => ({ to: [f.patientA.email], text: TEXT }) },
      f.tokens.clinicianA,
    );
    expect(sent.res.status).toBe(202);
    const token = await waitForLinkToken(f.server.config.mailDir, known);
    const page = `/m/${token}`;
    const mailsBefore = mailTexts(f.server.config.mailDir).length;
    const ask = await call(
      {
        method: 'POST',
        path: () => `${page}/code/send`,
        form: async () => ({ csrf: await csrfOf(x, page) }),
      },
      undefined,
    );
    expect(ask.res.status).toBe(303);
    let code: string | undefined;
    for (let i = 0; i < 200 && !code; i++) {
      const mails = mailTexts(f.server.config.mailDir);
      if (mails.length > mailsBefore)
        code = mails.map((m) => /one-time code is: (\d{4,12})/.exec(m)?.[1]).find((c) => c !== undefined);
      if (!code) await new Promise((r) => setTimeout(r, 25));
    }
    expect(code).toBeDefined();
    const wrongCode = code!.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
    const wrong = await call(
      {
        method: 'POST',
        path: () => `${page}/code`,
        form: async () => ({ csrf: await csrfOf(x, page), code: wrongCode }),
      },
      undefined,
    );
    expect(wrong.res.status).toBe(400);
    const failRows = await auditRows(wrong.requestId);
    const failure = failRows.find((r) => r.action === AUDIT.AUTH_FAILURE);
    expect(failure, 'a wrong one-time code is not audited').toBeDefined();
    expect(failure!.actor_type).toBe('patient');
    expectWhoWhatWhen(failure!, wrong);
    const right = await call(
      {
        method: 'POST',
        path: () => `${page}/code`,
        form: async () => ({ csrf: await csrfOf(x, page), code: code! }),
      },
      undefined,
    );
    expect(right.res.status).toBe(303);
    const okRows = await auditRows(right.requestId);
    const login = okRows.find((r) => r.action === AUDIT.LOGIN);
    expect(login, 'a verified one-time code is not audited').toBeDefined();
    expect(login!.actor_type).toBe('patient');
    expect(login!.outcome).toBe('success');
    expectWhoWhatWhen(login!, right);
    expectNoPhi([...failRows, ...okRows]);
  }, 30_000);

  it('keeps PHI out of the whole audit trail', async () => {
    expectNoPhi(await f.server.store.db.selectFrom('audit_events').selectAll().execute());
  });
});
