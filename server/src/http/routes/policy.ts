import { PolicySchema } from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { requireAdmin, requireClinician } from '../../identity/middleware.ts';
import { getPolicy, putPolicy } from '../../store/index.ts';
import { practiceDomainList } from '../../store/practices.ts';
import { ApiError } from '../errors.ts';
import { hasCatastrophicRepetition } from '../regex-risk.ts';
import { readJson } from '../validate.ts';
import type { RouteModule } from '../types.ts';

/**
 * GET /v1/policy: the caller's practice policy (what the add-ins apply before send): the stored
 * policy with the practice's own domains among its internal domains.
 * PUT /v1/policy: an admin replaces it; validated (PolicySchema, and every custom pattern must
 * compile), stored with its audit event in one transaction, effective for the next request; answers
 * the effective policy, as GET does. The practice's own domains are not stored with it: they are
 * internal while they are the practice's (a GET, edit, PUT round trip carries them back), and a
 * domain the practice later gives up (attune practice set-domains) must not stay internal.
 */
export const policy: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;

    app.get('/v1/policy', requireClinician(deps), async function readPolicy(c) {
      const { policy } = await getPolicy(db, c.get('auth').practiceId);
      return c.json(policy);
    });

    app.put('/v1/policy', requireAdmin(deps), async function replacePolicy(c) {
      const next = await readJson(c, PolicySchema);
      next.customPatterns.forEach((source, i) => {
        try {
          new RegExp(source, 'u');
        } catch {
          throw new ApiError(
            400,
            'validation_failed',
            `customPatterns.${i}: not a valid regular expression.`,
          );
        }
        if (hasCatastrophicRepetition(source)) {
          throw new ApiError(
            400,
            'validation_failed',
            `customPatterns.${i}: a repeated group that itself repeats (like (a+)+) or whose alternatives overlap (like (\\w|\\d)+) can take exponential time on a message; write it without the nesting, or with a character class.`,
          );
        }
      });
      const { practiceId, clinicianId } = c.get('auth');
      const saved = await db.transaction().execute(async (tx) => {
        const before = await getPolicy(tx, practiceId);
        const own = new Set(await practiceDomainList(tx, practiceId));
        const stored = {
          ...next,
          internalDomains: next.internalDomains.filter((d) => !own.has(d.toLowerCase())),
        };
        const saved = await putPolicy(tx, practiceId, stored, clinicianId);
        const changed = Object.keys(next).filter(
          (k) =>
            JSON.stringify(next[k as keyof typeof next]) !==
            JSON.stringify(before.policy[k as keyof typeof next]),
        );
        await appendAudit(tx, {
          ...auditContext(c),
          action: AUDIT.POLICY_CHANGE,
          outcome: 'success',
          target: { type: 'policy', id: practiceId },
          // Field names only: custom keywords and allow-list entries could name people.
          details: { version: saved.version, changed: changed.join(',') },
        });
        return { version: saved.version, policy: (await getPolicy(tx, practiceId)).policy };
      });
      c.header('X-Policy-Version', String(saved.version));
      return c.json(saved.policy);
    });
  },
};
