import type { Context } from 'hono';
import type { z, ZodError } from 'zod';
import { readBodyText } from './body.ts';
import { ApiError } from './errors.ts';
import type { AppEnv } from './types.ts';

/**
 * A PHI-free summary of validation issues: where (the field path) and what rule failed. zod 4's
 * messages name expected types and formats but never echo the input value.
 */
export function describeZodError(err: ZodError): string {
  const parts = err.issues.slice(0, 5).map((i) => {
    const path = i.path.map((k) => (typeof k === 'number' ? String(k) : fieldName(String(k)))).join('.');
    // zod quotes unknown keys verbatim, and a key is input: a client that sends a map keyed by
    // patient email or name would get it back. Our own fields are camelCase words; others are counted.
    const message =
      i.code === 'unrecognized_keys'
        ? `Unrecognized ${i.keys.length === 1 ? 'key' : 'keys'}: ${i.keys.map(fieldName).join(', ')}`
        : i.message;
    return path ? `${path}: ${message}` : message;
  });
  const more = err.issues.length > 5 ? ` (and ${err.issues.length - 5} more)` : '';
  return `Invalid request: ${parts.join('; ')}${more}.`;
}

/** A key as it may appear in an error message: our field names (camelCase words) or a placeholder. */
function fieldName(key: string): string {
  return /^[a-z][A-Za-z0-9_]{0,63}$/.test(key) ? key : '(a key that is not a field name)';
}

/** Parses `value` with `schema` or throws 400 validation_failed. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ApiError(400, 'validation_failed', describeZodError(r.error));
  return r.data;
}

/**
 * Reads a JSON body and validates it (strict schemas reject unknown fields: no mass assignment).
 * 415 unsupported_media_type unless the body is JSON, 400 invalid_json when it does not parse,
 * 400 validation_failed when it does not fit.
 */
export async function readJson<S extends z.ZodType>(c: Context<AppEnv>, schema: S): Promise<z.output<S>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new ApiError(415, 'unsupported_media_type', 'Send the request body as application/json.');
  }
  const text = await readBodyText(c);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_json', 'The request body is not valid JSON.');
  }
  // JSON can carry NUL only as the escape \u0000, so a body without one needs no walk.
  if (text.includes('\\u0000')) {
    const where = nulPath(value);
    if (where !== null) {
      throw new ApiError(
        400,
        'validation_failed',
        `Invalid request: ${where || 'body'}: text must not contain the NUL character (U+0000).`,
      );
    }
  }
  return validate(schema, value);
}

/**
 * Where a NUL character sits in a parsed JSON value (a string or a key), or null. PostgreSQL cannot
 * store U+0000 in text (error 22021, a 500) and no field of ours has a use for it, so every JSON body
 * is refused with it before any schema or query sees it (ASVS 2.2.1).
 */
function nulPath(root: unknown): string | null {
  // Iterative, with parent links: a deeply nested body must not overflow the stack (a 500).
  interface Node {
    value: unknown;
    key: string;
    parent: Node | null;
  }
  const pathOf = (n: Node | null): string => {
    const keys: string[] = [];
    for (let p = n; p?.parent; p = p.parent) keys.push(p.key);
    return keys.reverse().join('.');
  };
  const stack: Node[] = [{ value: root, key: '', parent: null }];
  for (let n = stack.pop(); n; n = stack.pop()) {
    const { value } = n;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return pathOf(n);
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], key: String(i), parent: n });
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, v] of Object.entries(value)) {
        if (key.includes('\u0000')) return [pathOf(n), '(a key)'].filter(Boolean).join('.');
        stack.push({ value: v, key: fieldName(key), parent: n });
      }
    }
  }
  return null;
}
