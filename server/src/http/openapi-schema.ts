// Building blocks for OpenAPI 3.1 `paths` entries, shared by routes/openapi.ts and the route modules
// that declare their own (RouteModule.openapi). A file of its own, outside routes/: a route module
// importing routes/openapi.ts would close the cycle openapi.ts -> routes/index.ts -> that module,
// and a test that imports the module first would see ROUTE_MODULES reference it before it exists.
import { z } from 'zod';
import { ErrorBodySchema } from '@attune/shared/api';

type Schema = z.ZodType;

/** A JSON Schema (2020-12, which OpenAPI 3.1 uses) of the request (`input`) or response (`output`) side. */
export const jsonSchema = (schema: Schema, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any' });

/** An OpenAPI `content` map with one JSON media type. */
export const json = (schema: Schema, io: 'input' | 'output', mediaType = 'application/json') => ({
  [mediaType]: { schema: jsonSchema(schema, io) },
});

/** What each status means across the API; a route overrides a description when it has its own. */
export const ERROR_TEXT: Record<number, string> = {
  400: 'invalid_json, validation_failed, invalid_public_key',
  401: 'unauthenticated: missing or invalid bearer token',
  403: 'forbidden / dev_tokens_disabled',
  404: 'not_found, patient_not_found, message_not_found (also for another practice’s ids)',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'patient_not_found',
  429: 'rate_limited (RateLimit and RateLimit-Policy headers, Retry-After)',
};

/**
 * Error responses, each the one error body ({"error":{"code","message"}}). A number takes the
 * description above; `[status, description]` says what that status means for this route.
 */
export const errors = (...statuses: Array<number | [number, string]>) =>
  Object.fromEntries(
    statuses.map((s) => {
      const [status, description] = typeof s === 'number' ? [s, ERROR_TEXT[s] ?? 'Error'] : s;
      return [String(status), { description, content: json(ErrorBodySchema, 'output') }];
    }),
  );

/** A required string path parameter. */
export const pathParam = (name: string, description?: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  ...(description ? { description } : {}),
});

/** Query parameters from a zod object schema (each property one `in: query` parameter). */
export function queryParams(schema: z.ZodObject): Array<Record<string, unknown>> {
  const s = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: 'query',
    required: s.required?.includes(name) ?? false,
    schema: prop,
  }));
}

/** Every /v1 route but the development token needs the bearer scheme declared in components. */
export const secured = [{ bearer: [] as string[] }];
