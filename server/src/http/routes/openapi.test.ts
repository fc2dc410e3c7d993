// The OpenAPI document against the router: every /v1 route the app really serves must be described
// in /openapi.json (and nothing described that the app does not serve), and the document must have
// the shape OpenAPI 3.1 requires of paths, operations, parameters and responses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../testing.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const PATH_ITEM_FIELDS = new Set<string>([
  ...METHODS,
  '$ref',
  'summary',
  'description',
  'servers',
  'parameters',
]);

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
}
interface Operation {
  summary?: string;
  deprecated?: boolean;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: unknown }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema: unknown }> }>;
  security?: Array<Record<string, string[]>>;
}
interface Doc {
  openapi: string;
  info: { title: string; version: string };
  components: { securitySchemes: Record<string, unknown> };
  paths: Record<string, Record<string, unknown>>;
}

/** Hono's `/v1/patients/:id/engagement` is OpenAPI's `/v1/patients/{id}/engagement`. */
const toOpenApiPath = (honoPath: string) => honoPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

describe('OpenAPI document', () => {
  let t: TestApp;
  let doc: Doc;
  beforeAll(async () => {
    t = await createTestApp('sqlite');
    const res = await t.app.request('/openapi.json');
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  /** Every (method, path) the router has a handler for under /v1 (middleware is method ALL). */
  const v1Routes = () => {
    const keys = new Set<string>();
    for (const r of t.app.routes)
      if (r.method !== 'ALL' && r.path.startsWith('/v1/'))
        keys.add(`${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`);
    return [...keys].sort();
  };

  it('describes every /v1 route the app serves', () => {
    const routes = v1Routes();
    expect(routes.length).toBeGreaterThan(15); // the router was really read
    const missing = routes.filter((k) => {
      const [method, path] = k.split(' ') as [string, string];
      return doc.paths[path]?.[method] === undefined;
    });
    expect(missing, 'routes absent from /openapi.json').toEqual([]);
  });

  it('describes no /v1 operation the app does not serve', () => {
    const routes = new Set(v1Routes());
    const stale = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, item]) => METHODS.filter((m) => item[m] !== undefined).map((m) => `${m} ${path}`))
      .filter((k) => !routes.has(k));
    expect(stale, 'documented but not routed').toEqual([]);
  });

  it('has the OpenAPI 3.1 shape: paths, operations, parameters, responses', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBeTruthy();
    const schemes = new Set(Object.keys(doc.components.securitySchemes));
    const problems: string[] = [];
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!path.startsWith('/')) problems.push(`${path}: a path must start with /`);
      for (const field of Object.keys(item))
        if (!PATH_ITEM_FIELDS.has(field)) problems.push(`${path}: unknown path item field ${field}`);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      for (const method of METHODS) {
        const op = item[method] as Operation | undefined;
        if (op === undefined) continue;
        const where = `${method.toUpperCase()} ${path}`;
        if (ids.has(where)) problems.push(`${where}: twice`);
        ids.add(where);
        if (!op.summary) problems.push(`${where}: no summary`);
        const params = op.parameters ?? [];
        for (const p of params) {
          if (!['path', 'query', 'header', 'cookie'].includes(p.in))
            problems.push(`${where}: parameter ${p.name} in ${p.in}`);
          if (p.schema === undefined) problems.push(`${where}: parameter ${p.name} has no schema`);
          if (p.in === 'path' && p.required !== true)
            problems.push(`${where}: path parameter ${p.name} must be required`);
          if (p.in === 'path' && !templated.includes(p.name))
            problems.push(`${where}: path parameter ${p.name} not in the path`);
        }
        for (const name of templated) {
          if (!params.some((p) => p.in === 'path' && p.name === name))
            problems.push(`${where}: {${name}} not declared`);
        }
        if (op.requestBody) {
          const types = Object.entries(op.requestBody.content);
          if (types.length === 0) problems.push(`${where}: empty request body content`);
          for (const [type, media] of types)
            if (typeof media.schema !== 'object') problems.push(`${where}: ${type} body has no schema`);
        }
        const responses = Object.entries(op.responses ?? {});
        if (!responses.some(([s]) => /^2\d\d$/.test(s))) problems.push(`${where}: no success response`);
        for (const [status, r] of responses) {
          if (!/^[1-5](\d\d|XX)$/.test(status) && status !== 'default')
            problems.push(`${where}: response key ${status}`);
          if (typeof r.description !== 'string')
            problems.push(`${where}: response ${status} has no description`);
          // /healthz answers its 503 in plain text; the API's errors are all the one JSON body.
          if (path.startsWith('/v1/') && /^[45]/.test(status) && !r.content?.['application/json'])
            problems.push(`${where}: error ${status} without the JSON error body`);
        }
        for (const req of op.security ?? [])
          for (const name of Object.keys(req))
            if (!schemes.has(name)) problems.push(`${where}: unknown security scheme ${name}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents the routes a bearer token protects as secured, with 401', () => {
    const open = new Set(['post /v1/dev/token', 'get /v1/charts/{file}']); // dev issuer; the signed URL is the credential
    for (const k of v1Routes()) {
      if (open.has(k)) continue;
      const [method, path] = k.split(' ') as [string, string];
      const op = doc.paths[path]![method] as Operation;
      expect(op.security, k).toEqual([{ bearer: [] }]);
      expect(op.responses['401'], k).toBeDefined();
    }
  });

  it('generates request and response schemas from the zod schemas (strict bodies, enums, error shape)', () => {
    const op = (path: string, method: string) => doc.paths[path]![method] as Operation;
    const body = (o: Operation) => JSON.stringify(o.requestBody?.content['application/json']?.schema);
    const ok = (o: Operation, status = '200') =>
      JSON.stringify(o.responses[status]?.content?.['application/json']?.schema);
    expect(body(op('/v1/events', 'post'))).toContain('"additionalProperties":false');
    expect(body(op('/v1/events', 'post'))).toContain('"appointment_missed"');
    expect(ok(op('/v1/events', 'post'), '201')).toContain('"duplicates"');
    expect(op('/v1/events', 'post').responses['422']).toBeDefined();
    expect(body(op('/v1/caseload/weights', 'put'))).toContain('"missedAppointment"');
    expect(ok(op('/v1/caseload', 'get'))).toContain('"disclaimer"');
    expect(
      op('/v1/caseload', 'get')
        .parameters?.map((p) => `${p.in}:${p.name}`)
        .sort(),
    ).toEqual(['query:page', 'query:pageSize', 'query:scope']);
    expect(ok(op('/v1/patients/{id}/engagement', 'get'))).toContain('"alerts"');
    expect(body(op('/v1/engagement/lookup', 'post'))).toContain('"email"');
    expect(body(op('/v1/engagement/settings', 'put'))).toContain('"mailboxBodies"');
    expect(op('/v1/engagement/settings', 'put').responses['403']).toBeDefined();
    expect(Object.keys(op('/v1/fhir', 'post').requestBody!.content).sort()).toEqual([
      'application/fhir+json',
      'application/json',
    ]);
    expect(ok(op('/v1/fhir', 'post'), '201')).toContain('"unmatched"');
    expect(op('/v1/messages', 'post').responses['400']?.description).toContain('inReplyTo');
    expect(body(op('/v1/messages', 'post'))).toContain('Id of a message of your practice');
    expect(op('/v1/charts/{file}', 'get').responses['200']?.content?.['image/png']).toBeDefined();
    expect(
      JSON.stringify(op('/v1/caseload', 'get').responses['401']?.content?.['application/json']?.schema),
    ).toContain('"code"');
  });

  it('marks the by-email engagement route deprecated in favour of POST /v1/engagement/lookup', () => {
    const byEmail = doc.paths['/v1/patients/by-email/{email}/engagement']!['get'] as Operation & {
      description?: string;
    };
    expect(byEmail.deprecated).toBe(true);
    expect(byEmail.description).toContain('POST /v1/engagement/lookup');
    const lookup = doc.paths['/v1/engagement/lookup']!['post'] as Operation;
    expect(lookup.deprecated).toBeUndefined();
  });

  it('says so at run time too: Deprecation and a successor Link on the by-email answer, not on the lookup', async () => {
    const token = await t.token('dr.a@a.example.org');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await t.app.request('/v1/patients', {
      method: 'POST',
      headers,
      body: JSON.stringify({ email: 'wren.ashdown@patients.example' }),
    });
    expect(created.status).toBe(201);
    const old = await t.app.request(
      `/v1/patients/by-email/${encodeURIComponent('wren.ashdown@patients.example')}/engagement`,
      { headers },
    );
    expect(old.status).toBe(200);
    expect(old.headers.get('deprecation')).toMatch(/^@\d+$/);
    expect(old.headers.get('link')).toBe('</v1/engagement/lookup>; rel="successor-version"');
    const lookup = await t.app.request('/v1/engagement/lookup', {
      method: 'POST',
      headers,
      body: JSON.stringify({ email: 'wren.ashdown@patients.example' }),
    });
    expect(lookup.status).toBe(200);
    expect(lookup.headers.get('deprecation')).toBeNull();
  });

  it('lists every documented operation on the docs page', async () => {
    const html = await (await t.app.request('/docs')).text();
    for (const path of [
      '/v1/caseload/weights',
      '/v1/engagement/lookup',
      '/v1/events',
      '/v1/fhir',
      '/v1/charts/{file}',
    ]) {
      expect(html).toContain(path);
    }
  });

  it("answers the server's own address with a page that says what it is and where to go", async () => {
    const res = await t.app.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('href="/docs"');
    expect(html).toContain('href="/healthz"');
    expect(html).not.toContain('<script');
  });
});
