import { AUDIT, appendAudit } from '../../audit/index.ts';
import { openChartToken, renderChartPng } from '../../engagement/charts.ts';
import { EngagementEventCache } from '../../engagement/cache.ts';
import { engagementCacheFor, patientEngagement } from '../../engagement/service.ts';
import { findPatient } from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { chartKeysFor } from './engagement.ts';
import { errors, pathParam } from '../openapi-schema.ts';
import type { RouteModule } from '../types.ts';

/**
 * GET /v1/charts/<opaque>.png?exp=&sig=: the sidebar charts as a PNG for Gmail cards, which load
 * images by URL without our bearer token (Google's image proxy fetches them). The signed, short-lived
 * URL is the authorization: it was minted for one patient during an authenticated, audited
 * engagement read. Every fetch is audited too (phi.read, actor "system" = the URL holder).
 * Failures are one 404 (which check failed is not the caller's business), and nothing is cached by
 * shared caches.
 */
export const charts: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    const now = deps.now ?? (() => new Date());
    const keys = chartKeysFor(deps);
    const cache = engagementCacheFor(deps.services, () => new EngagementEventCache());

    app.get('/v1/charts/:file', async function chartPng(c) {
      const file = c.req.param('file');
      // The signed URL is a credential, like a viewer link: a refused one is an authentication
      // failure, recorded with the reason only (never the URL, its token or the patient). The
      // anonymous per-address rate limit bounds how many such rows one caller can cause.
      const gone = async (reason: string, practiceId?: string) => {
        await appendAudit(db, {
          action: AUDIT.AUTH_FAILURE,
          outcome: 'failure',
          actor: { type: 'anonymous' },
          practiceId: practiceId ?? null,
          ip: c.get('ip'),
          requestId: c.get('requestId'),
          details: { reason, credential: 'chart_url' },
        });
        return new ApiError(404, 'not_found', 'This chart link is invalid or has expired.');
      };
      if (!file.endsWith('.png')) throw await gone('malformed');
      const t = now();
      const token = openChartToken(keys, file.slice(0, -4), c.req.query('exp'), c.req.query('sig'), t);
      if (!token.ok) throw await gone(token.reason);
      const row = await findPatient(db, token.practiceId, token.patientId);
      // The URL was genuine (its MAC held) but the patient is gone: the practice is known.
      if (!row) throw await gone('unknown_patient', token.practiceId);
      const e = await patientEngagement(db, token.practiceId, row, t, { cache });
      const png = renderChartPng(e.charts);
      await appendAudit(db, {
        action: AUDIT.PHI_READ,
        outcome: 'success',
        actor: { type: 'system', id: 'signed-chart-url' },
        practiceId: token.practiceId,
        ip: c.get('ip'),
        requestId: c.get('requestId'),
        target: { type: 'patient', id: row.id },
        details: { view: 'chart_png' },
      });
      return c.body(new Uint8Array(png), 200, {
        'Content-Type': 'image/png',
        'Cache-Control': 'private, no-store',
        'Content-Length': String(png.length),
      });
    });
  },
  openapi: {
    '/v1/charts/{file}': {
      get: {
        summary:
          'The engagement charts of one patient as a PNG (for Gmail cards); the signed URL is the authorization',
        description:
          'Use the `pngUrl` of an engagement response as given: it is minted for one patient and valid for minutes. No bearer token. Every fetch is audited (phi.read); a refused URL is audited as auth.failure.',
        parameters: [
          pathParam('file', '`<opaque>.png`, as in pngUrl'),
          {
            name: 'exp',
            in: 'query',
            required: true,
            schema: { type: 'string', pattern: '^\\d{1,12}$' },
            description: 'Expiry (Unix seconds), as in pngUrl',
          },
          {
            name: 'sig',
            in: 'query',
            required: true,
            schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
            description: 'Signature, as in pngUrl',
          },
        ],
        responses: {
          '200': {
            description: 'The charts',
            content: { 'image/png': { schema: { type: 'string', contentMediaType: 'image/png' } } },
          },
          ...errors(
            [404, 'not_found: the link is invalid, altered or expired, or the patient no longer exists'],
            429,
          ),
        },
      },
    },
  },
};
