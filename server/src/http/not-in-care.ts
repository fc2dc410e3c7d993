import type { Context } from 'hono';
import type { ErrorCode } from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../audit/index.ts';
import type { CareCaller, Db } from '../store/index.ts';
import { ApiError } from './errors.ts';
import type { AppEnv } from './types.ts';

/** The signed-in clinician, as the care checks (store/care.ts) take them. */
export function careCaller(c: Context<AppEnv>): CareCaller {
  const { practiceId, clinicianId, role } = c.get('auth');
  return { practiceId, clinicianId, role };
}

/**
 * The answer for a patient's object the caller is not in the care team of (policy patientAccess
 * 'care-team'): the same 404 as an unknown id (the route's own code and message), so nobody learns
 * whether a colleague's patient exists, and an audited authorization failure (reason
 * `not_care_team`, references only), like another practice's id (not-in-practice.ts).
 */
export async function notInCare(
  c: Context<AppEnv>,
  db: Db,
  opts: {
    target: string;
    id: string;
    code: ErrorCode;
    message: string;
    details?: Record<string, string>;
  },
): Promise<never> {
  await appendAudit(db, {
    ...auditContext(c),
    action: AUDIT.AUTHZ_FAILURE,
    outcome: 'failure',
    target: { type: opts.target, id: opts.id },
    details: { reason: 'not_care_team', ...opts.details },
  });
  throw new ApiError(404, opts.code, opts.message);
}
