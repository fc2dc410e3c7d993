import { z } from 'zod';
import { AUDIT, appendAudit } from '../../audit/index.ts';
import { isLoopback } from '../../config.ts';
import { ApiError } from '../errors.ts';
import { readJson } from '../validate.ts';
import type { RouteModule } from '../types.ts';

export const DevTokenRequestSchema = z
  .object({
    email: z.string().trim().toLowerCase().pipe(z.email().max(254)),
    /** Sign the token with the admin role (development only). */
    admin: z.boolean().default(false),
  })
  .strict();

export const DevTokenResponseSchema = z.object({ token: z.string(), expiresIn: z.number().int() }).strict();

/**
 * GET /.well-known/jwks.json: the development issuer's public key (empty outside development).
 * POST /v1/dev/token {email, admin?}: a development bearer token; 403 dev_tokens_disabled unless
 * ATTUNE_ENV=development. The email's domain must be a practice domain, or the token would be
 * useless; saying so here saves a newcomer a confusing 401 later.
 */
export const identityRoutes: RouteModule = {
  mount(app, deps) {
    app.get('/.well-known/jwks.json', function jwks(c) {
      c.header('Cache-Control', 'public, max-age=300');
      return c.json(deps.authenticator.devIssuer?.jwks ?? { keys: [] });
    });

    app.post('/v1/dev/token', async function devToken(c) {
      const issuer = deps.authenticator.devIssuer;
      if (!issuer)
        throw new ApiError(
          403,
          'dev_tokens_disabled',
          'Development tokens are available only when ATTUNE_ENV=development.',
        );
      // Only for this machine: a development server behind a reverse proxy on the same host sees
      // every caller as 127.0.0.1, so a request that came through a proxy is refused as well.
      const ip = c.get('ip').replace(/^::ffff:/, '');
      const proxied =
        c.req.header('x-forwarded-for') !== undefined ||
        c.req.header('forwarded') !== undefined ||
        c.req.header('x-real-ip') !== undefined;
      if (!deps.config.unsafeDevOnNetwork && (proxied || (ip !== 'local' && !isLoopback(ip))))
        throw new ApiError(
          403,
          'dev_tokens_disabled',
          'Development tokens are issued only to requests from this machine, not through a proxy (ATTUNE_UNSAFE_DEV_ON_NETWORK=true allows it).',
        );
      const body = await readJson(c, DevTokenRequestSchema);
      const domain = body.email.split('@')[1] ?? '';
      const owner = await deps.store.db
        .selectFrom('practice_domains')
        .select('practice_id')
        .where('domain', '=', domain)
        .executeTakeFirst();
      if (!owner) {
        const domains = await deps.store.db
          .selectFrom('practice_domains')
          .select('domain')
          .orderBy('domain')
          .limit(20)
          .execute();
        throw new ApiError(
          400,
          'validation_failed',
          `email: use an address in a practice domain (${domains.map((d) => d.domain).join(', ')}).`,
        );
      }
      const token = await issuer.sign({ email: body.email, admin: body.admin });
      await appendAudit(deps.store.db, {
        action: AUDIT.DEV_TOKEN_ISSUED,
        outcome: 'success',
        actor: { type: 'anonymous' },
        practiceId: owner.practice_id,
        ip: c.get('ip'),
        requestId: c.get('requestId'),
        details: { admin: body.admin },
      });
      return c.json({ token, expiresIn: deps.config.identity.dev.ttlSeconds });
    });
  },
};
