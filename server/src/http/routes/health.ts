import type { RouteModule } from '../types.ts';

/** GET /healthz: liveness and database reachability, for load balancers. No data, no auth. */
export const health: RouteModule = {
  mount(app, deps) {
    app.get('/healthz', async function healthz(c) {
      try {
        await deps.store.db.selectFrom('practices').select('id').limit(1).execute();
        return c.json({ status: 'ok', database: deps.store.dialect });
      } catch {
        return c.json({ status: 'unavailable', database: deps.store.dialect }, 503);
      }
    });
  },
};
