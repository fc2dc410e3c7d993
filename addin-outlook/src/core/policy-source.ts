// The practice policy as the add-in sees it: fetched from the server, cached in memory (the policy
// is not PHI, but memory is enough and keeps all storage rules simple), and, when the server cannot
// be asked, the shared default. The default is used to *decide* only: anything that must be sent
// securely still needs the server.
import { DEFAULT_POLICY } from '@attune/shared/policy';
import type { Policy } from '@attune/shared/policy';
import type { ApiClient, ApiFailure } from './api-client.ts';

export type PolicyState =
  { source: 'server' | 'cache'; policy: Policy } | { source: 'default'; policy: Policy; failure: ApiFailure };

export interface PolicySource {
  get(): Promise<PolicyState>;
}

export function createPolicySource(
  api: Pick<ApiClient, 'getPolicy'>,
  ttlMs = 5 * 60_000,
  now: () => number = Date.now,
): PolicySource {
  let cached: { policy: Policy; at: number } | null = null;
  return {
    async get() {
      if (cached && now() - cached.at < ttlMs) return { source: 'cache', policy: cached.policy };
      const r = await api.getPolicy();
      if (r.ok) {
        cached = { policy: r.value, at: now() };
        return { source: 'server', policy: r.value };
      }
      // A stale practice policy is closer to the truth than the default.
      if (cached) return { source: 'cache', policy: cached.policy };
      return { source: 'default', policy: DEFAULT_POLICY, failure: r };
    },
  };
}
