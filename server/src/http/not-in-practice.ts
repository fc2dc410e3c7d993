import type { Context } from 'hono';
import type { ErrorCode } from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../audit/index.ts';
import type { Db } from '../store/index.ts';
import { ApiError } from './errors.ts';
import type { AppEnv } from './types.ts';

/**
 * The answer for an object that is not in the caller's practice: a 404 exactly like an unknown id
 * (no way to probe other tenants), and, when the id does exist in another practice, an audited
 * authorization failure. `id` is looked up only when it has the shape of an id (`valid`).
 */
export async function notInPractice(
  c: Context<AppEnv>,
  db: Db,
  opts: {
    table: 'patients' | 'messages' | 'replies' | 'deliveries';
    id: string;
    valid: boolean;
    target: string;
    code: ErrorCode;
    message: string;
  },
): Promise<never> {
  const elsewhere = opts.valid
    ? await db.selectFrom(opts.table).select('id').where('id', '=', opts.id).executeTakeFirst()
    : undefined;
  if (elsewhere) {
    await appendAudit(db, {
      ...auditContext(c),
      action: AUDIT.AUTHZ_FAILURE,
      outcome: 'failure',
      target: { type: opts.target, id: opts.id },
      details: { reason: 'other_practice' },
    });
  }
  throw new ApiError(404, opts.code, opts.message);
}
