// Property-based fuzzing of the whole HTTP API through a real server (startServer: port 0, a temp
// DATA_DIR, SQLite, the real middleware chain and every route module). The route list comes from
// the app's own router, so a new route is fuzzed without anyone editing this file; a new route that
// takes a body must get a sample in BODY_SAMPLES (the test says so) to be fuzzed beyond the surface.
//
// For every request: no 5xx, no stack-trace text; JSON errors are {"error":{"code","message"}} with
// a code from ERROR_CODES; an invalid token on an authenticated route is a 401 before any handler
// runs; another practice's ids are never served; and a PHI-like marker placed in the input (a
// patient's name and email) never comes back in an error, and never reaches the logs (pino output
// captured for the whole run, set-up included).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, ErrorBodySchema } from '@attune/shared/api';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';
import { startApiFixture, type ApiFixture, type RouteKey } from './api-fixture.ts';

const PHI_NAME = 'Quillon Zarvenhalt';
const PHI_EMAIL = 'quillon.zarvenhalt@a.example.org';
/** Searched case-insensitively in error bodies and logs. */
const MARKERS = ['zarvenhalt', 'quillon'];

/** Stack traces, source locations and raw exception names: never in a response. */
const STACK =
  /\n\s+at\s|\bat [\w.<>]+ \(|node_modules|\.[cm]?[jt]s:\d+|\b(?:Type|Reference|Range|Syntax)Error\b|SqliteError|SQLITE_/;

// Bounded so the file stays under a minute on a loaded 2-core machine (~30 routes x 70 requests,
// plus the sweep); FUZZ_RUNS=300 (with a longer timeout) for a deeper run.
const RUNS_PER_ROUTE = Number(process.env['FUZZ_RUNS'] ?? 70);
const ERROR_CODE_SET = new Set<string>(ERROR_CODES);

type TokenKind =
  | 'none'
  | 'clinicianA'
  | 'adminA'
  | 'clinicianB'
  | 'adminB'
  | 'expired'
  | 'forged'
  | 'algNone'
  | 'unknownPractice'
  | 'garbage'
  | 'basic'
  | 'markerInToken'
  | 'oversized';
const VALID_TOKENS: TokenKind[] = ['clinicianA', 'adminA', 'clinicianB', 'adminB'];

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/fhir+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=zz',
  'multipart/form-data',
  'application/xml',
  'application/json;charset=utf-16',
  undefined,
] as const;

/** Strings that have broken parsers, routers, lookups and object maps elsewhere. */
const NASTY = [
  '',
  ' ',
  '..',
  '../../etc/passwd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..%2f..%2f',
  '%00',
  '%E0%A4%A',
  '%',
  '%25',
  '\u0000',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  "' OR 1=1 --",
  '<script>alert(1)</script>',
  '\u202e\ufeff\u200b',
  '😀'.repeat(40),
  PHI_NAME,
  PHI_EMAIL,
];

/** Valid bodies to mutate, per route; `null` = the route takes no body (asserted below). */
const BODY_SAMPLES: Record<
  string,
  (f: ApiFixture) => { kind: 'json' | 'form'; value: Record<string, unknown> } | null
> = {
  'POST /v1/patients': () => ({
    kind: 'json',
    value: { email: PHI_EMAIL, name: PHI_NAME, timeZone: 'America/New_York' },
  }),
  'POST /v1/recipients/patients': () => ({ kind: 'json', value: { emails: [PHI_EMAIL] } }),
  'PUT /v1/policy': () => ({ kind: 'json', value: policySample }),
  'POST /v1/scan': () => ({
    kind: 'json',
    value: {
      to: [PHI_EMAIL],
      subject: `Notes for ${PHI_NAME}`,
      text: `Dear ${PHI_NAME}, the form is attached.`,
      attachments: [
        { filename: `${PHI_NAME}.pdf`, contentType: 'application/pdf', contentBase64: 'JVBERi0xLjQK' },
      ],
    },
  }),
  'POST /v1/messages': () => ({
    kind: 'json',
    value: {
      to: [PHI_EMAIL],
      cc: [],
      subject: `Notes for ${PHI_NAME}`,
      text: `Dear ${PHI_NAME}, see you on Tuesday.`,
      topics: ['scheduling'],
      attachments: [{ filename: `${PHI_NAME}.txt`, contentType: 'text/plain', contentBase64: 'aGVsbG8=' }],
    },
  }),
  'POST /v1/messages/:id/revoke': () => null,
  'POST /v1/messages/:id/notice': () => null,
  'POST /v1/deliveries/:id/retry': () => null,
  'POST /v1/events': () => ({
    kind: 'json',
    value: {
      events: [
        {
          id: 'fz-1',
          patientId: PHI_EMAIL,
          type: 'appointment_missed',
          at: '2026-03-02T15:00:00Z',
          appointmentId: 'ap-1',
        },
      ],
    },
  }),
  'POST /v1/fhir': () => ({
    kind: 'json',
    value: {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        {
          fullUrl: 'urn:uuid:p1',
          resource: {
            resourceType: 'Patient',
            id: 'p1',
            name: [{ text: PHI_NAME }],
            telecom: [{ system: 'email', value: PHI_EMAIL }],
          },
        },
        {
          resource: {
            resourceType: 'Appointment',
            id: 'ap1',
            status: 'noshow',
            start: '2026-03-02T15:00:00Z',
            meta: { lastUpdated: '2026-03-02T16:00:00Z' },
            participant: [{ actor: { reference: 'Patient/p1', display: PHI_NAME } }],
          },
        },
      ],
    },
  }),
  'POST /v1/engagement/lookup': () => ({ kind: 'json', value: { email: PHI_EMAIL } }),
  'PUT /v1/engagement/settings': () => ({ kind: 'json', value: { mailboxBodies: false } }),
  'PUT /v1/caseload/weights': () => ({ kind: 'json', value: {} }),
  'PUT /v1/patients/:id/care-team/:email': () => null,
  'DELETE /v1/patients/:id/care-team/:email': () => null,
  'POST /v1/dev/token': () => ({ kind: 'json', value: { email: 'dr.a@a.example.org', admin: false } }),
  'POST /m/:token/code/send': () => ({ kind: 'form', value: { csrf: 'x' } }),
  'POST /m/:token/code': () => ({ kind: 'form', value: { csrf: 'x', code: '123456' } }),
  'POST /m/:token/reply': () => ({ kind: 'form', value: { csrf: 'x', text: `From ${PHI_NAME}: thank you` } }),
  'POST /m/:token/opened': () => ({ kind: 'form', value: { t: 'x' } }),
};
let policySample: Record<string, unknown> = {};

/** A JSON-ish value of the wrong type (or of the right type and hostile content). */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
  fc.integer({ min: 1000, max: 300_000 }).map((n) => `${PHI_NAME} `.repeat(Math.ceil(n / 19))),
  fc.constant(PHI_NAME),
  fc.constant(PHI_EMAIL),
);

/** Every path (list of keys) into a JSON value, the root included. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

type Mutation = { op: 'set' | 'delete' | 'addKey'; pathIndex: number; value: unknown; key: string };

function mutate(sample: unknown, m: Mutation): unknown {
  const copy = structuredClone(sample);
  const all = paths(copy);
  const p = all[m.pathIndex % all.length]!;
  if (p.length === 0) return m.op === 'set' ? m.value : copy;
  let parent = copy as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = p[p.length - 1]!;
  if (m.op === 'set') parent[last] = m.value;
  else if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (target && typeof target === 'object' && !Array.isArray(target))
      (target as Record<string, unknown>)[m.key] = m.value;
    else if (!Array.isArray(parent)) parent[m.key] = m.value;
  }
  return copy;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('set', 'set', 'delete', 'addKey'),
  pathIndex: fc.nat(),
  value: wrongValue,
  key: fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom('__proto__', 'constructor', 'isAdmin', 'practiceId', 'role'),
  ),
});

/** Raw bodies that are not JSON, or JSON that stresses the parser and the validators. */
const rawBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{',
    '{"email":',
    '[',
    'nul',
    "{'a':1}",
    '{"a":1}}',
    '{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}',
    '1e999999',
    '"\\ud800"',
    '\u0000',
    '',
    ' ',
    `{"email":"${PHI_EMAIL}","name":"${PHI_NAME}"`,
    `${PHI_NAME}`,
  ),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
);

const segment = (valid: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...valid) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(...NASTY).map((s) => (s.includes('%') ? s : encodeURIComponent(s))),
    },
    { weight: 1, arbitrary: fc.uuid() },
    {
      weight: 2,
      arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map(encodeURIComponent),
    },
    { weight: 1, arbitrary: fc.integer({ min: 201, max: 6_000 }).map((n) => 'a'.repeat(n)) },
  );

const queryString: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    `?email=${encodeURIComponent(PHI_EMAIL)}`,
    `?name=${encodeURIComponent(PHI_NAME)}`,
    '?page=0',
    '?page=-1&pageSize=1e9',
    '?pageSize=abc',
    '?page=1&page=2',
    '?exp=1&sig=x',
    '?sent=1',
    '?%zz=1',
  ),
  fc
    .dictionary(
      fc.string({ minLength: 1, maxLength: 8 }),
      fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(...NASTY)),
      { maxKeys: 3 },
    )
    .map((d) => `?${new URLSearchParams(d).toString()}`),
);

interface FuzzCase {
  method: string;
  path: string;
  token: TokenKind;
  contentType: string | undefined;
  body: string | undefined;
  tokenIsValid: boolean;
  /** The path names one of practice A's objects (for the other-practice check). */
  namesObjectOfA: boolean;
}

describe.each(dialectsUnderTest())('HTTP API under fuzzing (real server, %s)', (dialect) => {
  let f: ApiFixture;
  let schema: Awaited<ReturnType<typeof createTestSchema>> | null = null;
  let routes: RouteKey[];
  /** Routes that answer 401 without a token (probed once, not assumed). */
  const authenticated = new Set<RouteKey>();
  const failures: string[] = [];

  beforeAll(async () => {
    // PostgreSQL refuses what SQLite stores (a NUL in text, out-of-range integers): both are fuzzed.
    schema = dialect === 'postgres' ? await createTestSchema() : null;
    f = await startApiFixture({
      patientEmail: PHI_EMAIL,
      patientName: PHI_NAME,
      env: {
        TRUST_PROXY: 'true',
        // Development mode behind a proxy: refused at start-up unless said to be deliberate.
        ATTUNE_UNSAFE_DEV_ON_NETWORK: 'true',
        ...(schema ? { DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema } : {}),
      },
    });
    routes = f.routes();
    const p = await f.request('/v1/policy', { token: f.tokens.clinicianA });
    policySample = (await p.json()) as Record<string, unknown>;
    for (const r of routes) {
      const [method, pattern] = r.split(' ') as [string, string];
      const res = await f.request(
        concretePath(pattern, () => 'x'),
        { method },
      );
      await res.arrayBuffer();
      if (res.status === 401) authenticated.add(r);
    }
  }, 60_000);

  afterAll(async () => {
    await f?.close();
    await schema?.drop();
  });

  function tokenFor(kind: TokenKind): string | undefined {
    const raw: Partial<Record<TokenKind, string>> = {
      garbage: 'not-a-token.at.all',
      basic: 'dXNlcjpwYXNz',
      markerInToken: `${PHI_EMAIL}.${PHI_NAME}`,
      oversized: 'a'.repeat(9000),
    };
    if (kind === 'none') return undefined;
    return raw[kind] ?? f.tokens[kind as keyof ApiFixture['tokens']];
  }

  function validSegments(name: string): string[] {
    if (name === 'id') return [f.patientA.id, f.messageA.id, f.patientB.id];
    if (name === 'email')
      return [
        encodeURIComponent(f.patientA.email),
        encodeURIComponent(f.patientB.email),
        'nobody%40a.example.org',
      ];
    if (name === 'token') return [f.messageA.linkToken];
    if (name === 'index') return ['0', '1', '-1', '99999999999999999999'];
    if (name === 'file') return ['x.png', 'abc.png', `${encodeURIComponent(PHI_EMAIL)}.png`];
    return ['x'];
  }

  const requestCase = (key: RouteKey): fc.Arbitrary<FuzzCase> => {
    const [method, pattern] = key.split(' ') as [string, string];
    const names = [...pattern.matchAll(/:(\w+)|\*/g)].map((m) => m[1] ?? '*');
    const sample = BODY_SAMPLES[key]?.(f) ?? null;
    const wildcard = fc.oneof(
      fc.constantFrom(
        'taskpane.html',
        'x.js',
        '..%2f..%2fpackage.json',
        '%2e%2e/%2e%2e/etc/passwd',
        '.env',
        'a/b/../../../x.html',
        encodeURIComponent(PHI_EMAIL),
      ),
      fc.array(segment(['x']), { minLength: 1, maxLength: 3 }).map((s) => s.join('/')),
    );
    const params = fc.tuple(...names.map((n) => (n === '*' ? wildcard : segment(validSegments(n)))));
    const jsonBody: fc.Arbitrary<string> =
      sample?.kind === 'json'
        ? fc.oneof(
            { weight: 1, arbitrary: fc.constant(JSON.stringify(sample.value)) },
            {
              weight: 5,
              arbitrary: fc
                .array(mutation, { minLength: 1, maxLength: 3 })
                .map((ms) => JSON.stringify(ms.reduce((v, m) => mutate(v, m), sample.value as unknown))),
            },
            { weight: 2, arbitrary: rawBody },
          )
        : rawBody;
    const formBody: fc.Arbitrary<string> = fc
      .dictionary(
        fc.constantFrom('csrf', 'code', 'text', 'x', '__proto__'),
        fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'binary', maxLength: 50 })),
        { maxKeys: 4 },
      )
      .map((d) =>
        new URLSearchParams({
          ...(sample?.kind === 'form' ? (sample.value as Record<string, string>) : {}),
          ...d,
        }).toString(),
      );
    return fc
      .record({
        params,
        query: queryString,
        token: fc.constantFrom<TokenKind>(
          'none',
          'clinicianA',
          'clinicianA',
          'adminA',
          'adminA',
          'clinicianB',
          'adminB',
          'expired',
          'forged',
          'algNone',
          'unknownPractice',
          'garbage',
          'basic',
          'markerInToken',
          'oversized',
        ),
        contentType: fc.constantFrom(...CONTENT_TYPES),
        body: fc.oneof(jsonBody, formBody, fc.constant(undefined)),
        // A few requests use the route's path with a method it does not have.
        method: fc.oneof(
          { weight: 12, arbitrary: fc.constant(method) },
          { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') },
        ),
      })
      .map((r) => {
        let i = 0;
        const values = r.params;
        const path = concretePath(pattern, () => values[i++] ?? 'x') + r.query;
        const objectsOfA = [f.patientA.id, f.messageA.id, encodeURIComponent(f.patientA.email)];
        return {
          method: r.method,
          path,
          token: r.token,
          contentType: r.contentType,
          body: r.method === 'GET' ? undefined : r.body,
          tokenIsValid: VALID_TOKENS.includes(r.token),
          namesObjectOfA: values.some((v) => objectsOfA.includes(v)),
        };
      });
  };

  let prev = '';
  async function send(c: FuzzCase): Promise<{ res: Response; text: string }> {
    const headers: Record<string, string> = {
      // A different client address per request (TRUST_PROXY=true), so per-address brute-force
      // limits do not turn the rest of the run into 429s and hide the handlers.
      'x-forwarded-for': `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
    };
    if (c.contentType !== undefined) headers['content-type'] = c.contentType;
    const token = tokenFor(c.token);
    if (c.token === 'basic') headers['authorization'] = `Basic ${token}`;
    else if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    try {
      const res = await fetch(`${f.url}${c.path}`, {
        method: c.method,
        headers,
        ...(c.body !== undefined ? { body: c.body } : {}),
        redirect: 'manual',
      });
      const out = { res, text: await res.text() };
      prev = `${c.method} ${c.path.slice(0, 60)} ${c.contentType} body=${(c.body ?? '').length} -> ${res.status} ${out.text.slice(0, 60)}`;
      return out;
    } catch (err) {
      throw new Error(`after ${prev}`, { cause: err });
    }
  }

  function problems(key: RouteKey, c: FuzzCase, res: Response, text: string): string[] {
    const out: string[] = [];
    const type = res.headers.get('content-type') ?? '';
    if (res.status >= 500) out.push(`status ${res.status}`);
    if (STACK.test(text)) out.push('stack-trace-like text in the response');
    if (res.status >= 400) {
      const lower = text.toLowerCase();
      for (const m of MARKERS)
        if (lower.includes(m)) out.push(`PHI marker "${m}" echoed in a ${res.status} response`);
      if (type.startsWith('application/json')) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          out.push('error body is not JSON');
        }
        const parsed = ErrorBodySchema.safeParse(body);
        if (!parsed.success)
          out.push(`error body is not {"error":{"code","message"}}: ${text.slice(0, 120)}`);
        else {
          if (!ERROR_CODE_SET.has(parsed.data.error.code))
            out.push(`unstable error code ${parsed.data.error.code}`);
          if (parsed.data.error.message.trim() === '') out.push('empty error message');
        }
      } else if (!(type.startsWith('text/html') && c.path.startsWith('/m/'))) {
        // Only the patient's viewer answers with pages; everything else speaks the JSON error shape.
        out.push(`error with content-type "${type}"`);
      }
    }
    const sameRoute = c.method === key.split(' ')[0];
    if (
      sameRoute &&
      authenticated.has(key) &&
      !c.tokenIsValid &&
      ![401, 404, 413, 429, 431].includes(res.status)
    ) {
      out.push(`an invalid token (${c.token}) got ${res.status}, not 401`);
    }
    if (sameRoute && authenticated.has(key) && res.status === 401 && !text.includes('"unauthenticated"'))
      out.push('401 without code unauthenticated');
    if (
      sameRoute &&
      (c.token === 'clinicianB' || c.token === 'adminB') &&
      c.namesObjectOfA &&
      res.status < 300
    ) {
      out.push(`practice B got ${res.status} for an object of practice A`);
    }
    return out;
  }

  it('derives its route list from the router and has a body sample for every route that takes one', () => {
    // The known core must be there: if the derivation broke, the fuzzing below would silently shrink.
    for (const r of [
      'POST /v1/patients',
      'GET /v1/patients/:id',
      'POST /v1/messages',
      'GET /m/:token',
      'PUT /v1/policy',
    ] as RouteKey[]) {
      expect(routes).toContain(r);
    }
    const bodyless = routes.filter((r) => /^(POST|PUT|PATCH|DELETE) /.test(r) && !(r in BODY_SAMPLES));
    expect(bodyless, 'add a body sample (or null) to BODY_SAMPLES for these routes').toEqual([]);
  });

  it(
    'answers every route, under malformed and hostile input, with < 500, the error shape and no PHI',
    async () => {
      const counts = new Map<RouteKey, number>();
      for (const key of routes) {
        // fc.check, not fc.assert: one failing route must not stop the others from being fuzzed;
        // every failure is collected (first counterexample per route, no shrinking: HTTP is slow).
        const result = await fc.check(
          fc.asyncProperty(requestCase(key), async (c) => {
            const { res, text } = await send(c);
            counts.set(key, (counts.get(key) ?? 0) + 1);
            const p = problems(key, c, res, text);
            if (p.length > 0) {
              failures.push(
                `${key}: ${c.method} ${c.path.slice(0, 120)} [token ${c.token}, ${c.contentType ?? 'no type'}, body ${(c.body ?? '').slice(0, 80)}] -> ${res.status}: ${p.join('; ')}`,
              );
            }
            return p.length === 0;
          }),
          { numRuns: RUNS_PER_ROUTE, endOnFailure: true },
        );
        // A request that threw (connection reset, timeout) is a failure too, with its input.
        if (result.failed && result.errorInstance) {
          const c = result.counterexample?.[0];
          failures.push(
            `${key}: ${c ? `${c.method} ${c.path.slice(0, 120)} [token ${c.token}, ${c.contentType ?? 'no type'}, body ${(c.body ?? '').slice(0, 80)}]` : ''} threw ${describeError(result.errorInstance)}`,
          );
        }
      }
      // Every route was actually reached: the request log names the matched pattern.
      const logged = new Set(
        f.logs.flatMap((l) => {
          try {
            const e = JSON.parse(l) as { msg?: string; method?: string; route?: string };
            return e.msg === 'request' ? [`${e.method} ${e.route}`] : [];
          } catch {
            return [];
          }
        }),
      );
      expect(
        routes.filter((r) => !logged.has(r)),
        'routes the fuzzer never reached',
      ).toEqual([]);
      expect(routes.filter((r) => (counts.get(r) ?? 0) < Math.min(RUNS_PER_ROUTE, 20))).toEqual([]);
    },
    Math.max(120_000, RUNS_PER_ROUTE * 2_000),
  );

  it('survives every hostile value in every field of every body sample (a systematic sweep)', async () => {
    // Random mutation rarely hits one particular field with one particular string (a FHIR status of
    // "constructor" was a 500), so every leaf of every sample gets each of these once.
    const hostile: unknown[] = [
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
      '',
      '\u0000',
      `${PHI_NAME} `.repeat(6_000),
      PHI_EMAIL,
      -1,
      1e308,
      0.5,
      true,
      null,
      [],
      {},
      [PHI_NAME],
      { [PHI_NAME]: PHI_EMAIL },
    ];
    let sent = 0;
    for (const key of routes) {
      const sample = BODY_SAMPLES[key]?.(f);
      if (!sample || sample.kind !== 'json') continue;
      const [method, pattern] = key.split(' ') as [string, string];
      const all = paths(sample.value).filter((p) => p.length > 0);
      for (let pathIndex = 0; pathIndex < all.length + 1; pathIndex++) {
        for (const value of hostile) {
          const c: FuzzCase = {
            method,
            path: concretePath(pattern, () => 'x'),
            token: key.startsWith('PUT') ? 'adminA' : 'clinicianA',
            contentType: 'application/json',
            body: JSON.stringify(
              mutate(sample.value, { op: 'set', pathIndex: pathIndex + 1, value, key: '' }),
            ),
            tokenIsValid: true,
            namesObjectOfA: false,
          };
          const { res, text } = await send(c);
          sent++;
          const p = problems(key, c, res, text);
          if (p.length > 0)
            failures.push(
              `${key} sweep: ${JSON.stringify(all[pathIndex % all.length])} = ${JSON.stringify(value).slice(0, 40)} -> ${res.status}: ${p.join('; ')}`,
            );
        }
      }
    }
    expect(sent).toBeGreaterThan(100);
    expect(failures).toEqual([]);
  }, 60_000);

  it('closes the connection after answering a request whose body it did not read, so the next request works', async () => {
    const big = 'x'.repeat(900_000);
    for (let round = 0; round < 3; round++) {
      const r = await f.request('/v1/policy', {
        method: 'PUT',
        token: 'not-a-token.at.all',
        headers: { 'content-type': 'application/json' },
        body: big,
      });
      await r.text();
      expect(r.status).toBe(401);
      expect(r.headers.get('connection')).toBe('close');
      // node-server destroys an undrained socket after 500 ms: requests in that window must not fail.
      const until = Date.now() + 700;
      while (Date.now() < until) expect((await f.request('/healthz')).status).toBe(200);
    }
  }, 30_000);

  it('refuses an Idempotency-Key reused for a message to other recipients (409), instead of a 202 for a message never sent', async () => {
    const send = (to: string, key: string) =>
      f.request('/v1/messages', {
        method: 'POST',
        token: f.tokens.clinicianA,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ to: [to], text: 'See you Tuesday.' }),
      });
    const first = await send(PHI_EMAIL, 'fuzz-idem-0001');
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    const replay = await send(PHI_EMAIL.toUpperCase(), 'fuzz-idem-0001');
    expect(replay.status).toBe(202);
    expect(((await replay.json()) as { id: string }).id).toBe(id);
    const other = await send('someone.else@a.example.org', 'fuzz-idem-0001');
    expect(other.status).toBe(409);
    const body = (await other.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('conflict');
    expect(body.error.message.toLowerCase()).not.toContain('someone.else');
  });

  it('refuses an Idempotency-Key reused for other content to the same recipient (409), and still replays the same request', async () => {
    const send = (text: string, extra: Record<string, unknown> = {}) =>
      f.request('/v1/messages', {
        method: 'POST',
        token: f.tokens.clinicianA,
        headers: { 'content-type': 'application/json', 'idempotency-key': 'fuzz-idem-0002' },
        body: JSON.stringify({ to: [PHI_EMAIL], text, ...extra }),
      });
    const first = await send('Your next session is moved to Thursday.');
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    const again = await send('Your next session is moved to Thursday.');
    expect(again.status).toBe(202);
    expect(((await again.json()) as { id: string }).id).toBe(id);
    for (const [text, extra] of [
      ['Your next session is moved to Friday.', {}],
      ['Your next session is moved to Thursday.', { subject: 'Schedule' }],
      [
        'Your next session is moved to Thursday.',
        { attachments: [{ filename: 'plan.txt', contentType: 'text/plain', contentBase64: 'cGxhbg==' }] },
      ],
    ] as const) {
      const other = await send(text, extra);
      expect(other.status).toBe(409);
      const body = (await other.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('conflict');
      expect(body.error.message).not.toContain('Friday');
    }
    // A refusal does not spend the key: the original request still replays the first send.
    const last = await send('Your next session is moved to Thursday.');
    expect(((await last.json()) as { id: string }).id).toBe(id);
  });

  it('refuses custom patterns with nested or overlapping repetition (catastrophic backtracking on every send) with 400', async () => {
    const put = (customPatterns: string[]) =>
      f.request('/v1/policy', {
        method: 'PUT',
        token: f.tokens.adminA,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...policySample, customPatterns }),
      });
    for (const p of ['(a+)+$', '(\\w*)*x', '(x+){2,}', '(?:\\d+-?)+$', '([a-z]+\\s?)*$', '(\\w|\\d)*!']) {
      const r = await put([p]);
      expect(r.status, p).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    }
    for (const p of ['\\bMRN[: ]?\\d{6,10}\\b', '(\\d{3})-(\\d{4})', '[(a+)]+', '(ab)+'])
      expect((await put([p])).status, p).toBe(200);
    expect((await put([])).status).toBe(200);
  });

  it('never writes the PHI marker, a bearer token or an unhandled error to the logs', () => {
    const secrets = [...MARKERS, ...Object.values(f.tokens), f.messageA.linkToken, 'unhandled error'];
    const bad = f.logs.filter((l) => secrets.some((s) => l.toLowerCase().includes(s.toLowerCase())));
    expect(bad.map((l) => l.slice(0, 600))).toEqual([]);
  });

  it('found no failing request (each listed with its route, input summary and problem)', () => {
    expect(failures).toEqual([]);
  });
});

/** `/v1/patients/:id/engagement` with `next()` for each parameter (and for `*`). */
function concretePath(pattern: string, next: () => string): string {
  return pattern.replace(/:(\w+)|\*/g, () => next());
}

function describeError(e: unknown): string {
  if (!(e instanceof Error)) return 'a non-Error value';
  const cause = e.cause instanceof Error ? ` (${e.cause.message})` : '';
  return `${e.message.slice(0, 400)}${cause}`;
}
