import { randomBytes } from 'node:crypto';
import {
  ERROR_CODES,
  MessageNoticeResponseSchema,
  MessageStatusResponseSchema,
  PatientSchema,
  PolicySchema,
  RecipientPatientsRequestSchema,
  RecipientPatientsResponseSchema,
  ScanRequestSchema,
  ScanResponseSchema,
  ReplySchema,
  SendMessageRequestSchema,
  SendMessageResponseSchema,
  UpsertPatientRequestSchema,
} from '@attune/shared/api';
import { DevTokenRequestSchema, DevTokenResponseSchema } from './identity.ts';
import { errors, json, pathParam, secured } from '../openapi-schema.ts';
import type { RouteModule } from '../types.ts';
import { ROUTE_MODULES } from './index.ts';

const idParam = pathParam('id');

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas the server validates with. Route
 * modules may add their own `openapi` paths (RouteModule.openapi); theirs win over the defaults here.
 */
export function buildOpenApi(
  serverUrl: string,
  modules: readonly RouteModule[] = [],
): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Attune API',
      version: '1',
      description: `Secure email for mental-health practices. Every error is {"error":{"code","message"}} with a stable code: ${ERROR_CODES.join(', ')}.`,
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'Microsoft Entra ID (Outlook, nested app authentication), Google ID token (Apps Script), or the development issuer.',
        },
      },
    },
    paths: {
      '/v1/patients': {
        post: {
          summary:
            "Create or update a patient of your practice (by email); creating makes you a member of the patient's care team",
          security: secured,
          requestBody: { required: true, content: json(UpsertPatientRequestSchema, 'input') },
          responses: {
            '200': { description: 'Updated', content: json(PatientSchema, 'output') },
            '201': { description: 'Created', content: json(PatientSchema, 'output') },
            ...errors(
              400,
              401,
              [
                403,
                "forbidden: the patient is in other clinicians' care (an admin can add you to the care team); audited",
              ],
              413,
              415,
              429,
            ),
          },
        },
      },
      '/v1/patients/{id}': {
        get: {
          summary: 'A patient in your care (or of your practice, under policy patientAccess practice)',
          security: secured,
          parameters: [idParam],
          responses: {
            '200': { description: 'The patient', content: json(PatientSchema, 'output') },
            ...errors(
              401,
              [
                404,
                'patient_not_found (also for another practice’s patient, or one outside your care; audited)',
              ],
              429,
            ),
          },
        },
      },
      '/v1/replies/{id}': {
        get: {
          summary:
            "A patient's secure reply, by the reference in the reply notice (decrypted for the message's sender and the patient's care team; audited)",
          security: secured,
          parameters: [idParam],
          responses: {
            '200': { description: 'The reply', content: json(ReplySchema, 'output') },
            ...errors(401, 404, 429),
          },
        },
      },
      '/v1/recipients/patients': {
        post: {
          summary:
            'Which of these addresses are patients of your practice (the send handler asks before content with findings goes out plain); audited',
          security: secured,
          requestBody: { required: true, content: json(RecipientPatientsRequestSchema, 'input') },
          responses: {
            '200': {
              description: 'The asked addresses that are patients',
              content: json(RecipientPatientsResponseSchema, 'output'),
            },
            ...errors(400, 401, 413, 415, 429),
          },
        },
      },
      '/v1/scan': {
        post: {
          summary:
            "Scan a draft with its attachments' contents (PDF, Office, RTF, HTML) under your practice's policy; nothing is stored; audited as phi.scan",
          security: secured,
          requestBody: { required: true, content: json(ScanRequestSchema, 'input') },
          responses: {
            '200': {
              description: 'The decision and its reasons',
              content: json(ScanResponseSchema, 'output'),
            },
            ...errors(400, 401, 413, 415, 429),
          },
        },
      },
      '/v1/policy': {
        get: {
          summary: "Your practice's effective send policy",
          security: secured,
          responses: {
            '200': { description: 'The policy', content: json(PolicySchema, 'output') },
            ...errors(401, 429),
          },
        },
        put: {
          summary: 'Replace the policy (practice admins); effective at once, audited',
          security: secured,
          requestBody: { required: true, content: json(PolicySchema, 'input') },
          responses: {
            '200': { description: 'The stored policy', content: json(PolicySchema, 'output') },
            ...errors(400, 401, 403, 413, 415, 429),
          },
        },
      },
      '/v1/messages': {
        post: {
          summary:
            'Send securely (PGP/MIME to patients with a key, otherwise a secure link); 202 once durable',
          security: secured,
          requestBody: { required: true, content: json(SendMessageRequestSchema, 'input') },
          responses: {
            '202': {
              description: 'Accepted and durable',
              content: json(SendMessageResponseSchema, 'output'),
            },
            ...errors(
              [
                400,
                'invalid_json, validation_failed (also when inReplyTo is not a message of your practice)',
              ],
              401,
              [
                409,
                'conflict: this Idempotency-Key was already used for a different message (other recipients, content, timing or delivery mode). error.messageId is the id of that message when you sent it: it stands (and may already be delivered) until revoked with POST /v1/messages/{id}/revoke; send the new message under a new key.',
              ],
              413,
              415,
              [422, 'blocked_by_policy: the practice policy does not allow this message, even securely'],
              429,
            ),
          },
        },
      },
      '/v1/messages/{id}': {
        get: {
          summary:
            'Delivery status per recipient (the sender, admins, and the care team of a recipient patient)',
          security: secured,
          parameters: [idParam],
          responses: {
            '200': { description: 'Status', content: json(MessageStatusResponseSchema, 'output') },
            ...errors(401, 404, 429),
          },
        },
      },
      '/v1/messages/{id}/revoke': {
        post: {
          summary: 'Revoke a message: its secure links stop working (the sender or an admin)',
          security: secured,
          parameters: [idParam],
          responses: {
            '200': { description: 'Revoked', content: json(MessageStatusResponseSchema, 'output') },
            ...errors(
              401,
              [403, "forbidden: a care-team colleague's message (only its sender or an admin revokes)"],
              404,
              429,
            ),
          },
        },
      },
      '/v1/messages/{id}/notice': {
        post: {
          summary:
            "Your message's notice again, as its 202 carried it (the same secure link, never a new one; audited): for keeping an earlier version after a lost answer, so the draft carries the link a client-delivered recipient would otherwise never get",
          security: secured,
          parameters: [idParam],
          responses: {
            '200': {
              description:
                'The notice; a recipient with delivery "client" gets its link only through a draft carrying this notice',
              content: json(MessageNoticeResponseSchema, 'output'),
            },
            ...errors(
              401,
              [404, "message_not_found: not a message of your practice, or a colleague's message"],
              [409, 'message_revoked or message_expired: its secure link no longer works'],
              429,
            ),
          },
        },
      },
      '/v1/dev/token': {
        post: {
          summary: 'Development bearer token (ATTUNE_ENV=development only)',
          requestBody: { required: true, content: json(DevTokenRequestSchema, 'input') },
          responses: {
            '200': { description: 'A token', content: json(DevTokenResponseSchema, 'output') },
            ...errors(400, 403, 429),
          },
        },
      },
      '/healthz': {
        get: {
          summary: 'Liveness and database reachability',
          responses: { '200': { description: 'OK' }, '503': { description: 'Database unreachable' } },
        },
      },
      ...(Object.assign({}, ...modules.map((m) => m.openapi ?? {})) as Record<string, unknown>),
    },
  };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** GET /openapi.json, GET /docs and GET / (small static pages; no scripts, so a strict CSP holds). */
export const openapi: RouteModule = {
  mount(app, deps) {
    let doc: Record<string, unknown> | undefined;
    // ROUTE_MODULES is read lazily (first request), after every module has loaded: the import
    // cycle routes/index.ts -> openapi.ts -> routes/index.ts is then harmless.
    const document = () => (doc ??= buildOpenApi(deps.config.publicUrl, ROUTE_MODULES));

    app.get('/openapi.json', function openapiJson(c) {
      return c.json(document());
    });

    // What someone who opens the server's address in a browser finds (an admin checking a
    // deployment): what this is and where to go, instead of a bare 404. Nothing about the practice.
    app.get('/', function home(c) {
      const nonce = randomBytes(16).toString('base64');
      c.header(
        'Content-Security-Policy',
        `default-src 'none'; style-src 'nonce-${nonce}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
      );
      return c.html(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Attune</title>
<style nonce="${nonce}">body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}</style>
</head><body><h1>Attune</h1><p>This is an Attune server: secure email for clinicians. Clinicians use it from the Outlook add-in or the Gmail add-on; patients open their messages from the link in the email they received.</p>
<ul><li><a href="/docs">API reference</a> (<a href="/openapi.json">OpenAPI 3.1</a>)</li><li><a href="/healthz">Health check</a></li></ul></body></html>`);
    });

    app.get('/docs', function docs(c) {
      const nonce = randomBytes(16).toString('base64');
      const paths = document()['paths'] as Record<
        string,
        Record<string, { summary?: string; requestBody?: { content: Record<string, { schema: unknown }> } }>
      >;
      const rows = Object.entries(paths)
        .flatMap(([path, ops]) =>
          Object.entries(ops).map(([method, op]) => {
            const body = op.requestBody?.content['application/json']?.schema;
            return `<section><h2><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h2><p>${escapeHtml(op.summary ?? '')}</p>${
              body
                ? `<details><summary>Request body schema</summary><pre>${escapeHtml(JSON.stringify(body, null, 2))}</pre></details>`
                : ''
            }</section>`;
          }),
        )
        .join('\n');
      c.header(
        'Content-Security-Policy',
        `default-src 'none'; style-src 'nonce-${nonce}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
      );
      return c.html(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Attune API</title>
<style nonce="${nonce}">body{font:15px/1.5 system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem}code,pre{font:13px ui-monospace,monospace}pre{background:#f4f4f4;padding:.75rem;overflow:auto}h2{font-size:1rem;margin-bottom:0}</style>
</head><body><h1>Attune API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>. Errors are <code>{"error":{"code","message"}}</code>.</p>
${rows}</body></html>`);
    });
  },
};
