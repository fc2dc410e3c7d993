// Types for build.mjs, so the TypeScript tests can drive the real build.
export interface Manifest {
  timeZone: string;
  runtimeVersion: string;
  oauthScopes: string[];
  urlFetchWhitelist: string[];
  addOns: {
    common: { name: string; logoUrl: string; homepageTrigger: { runFunction: string } };
    gmail: {
      contextualTriggers: { unconditional: Record<string, never>; onTriggerFunction: string }[];
      composeTrigger: { selectActions: { text: string; runFunction: string }[]; draftAccess: string };
    };
  };
}
export const BUNDLE_BUDGET_BYTES: number;
export function serverUrlFromEnv(env?: Record<string, string | undefined>): string;
export function manifest(serverUrl: string): Manifest;
export function triggerNames(m: Manifest): string[];
export function bundle(opts?: { serverUrl?: string; outDir?: string; write?: boolean }): Promise<{
  code: string;
  manifest: Manifest;
  handlers: string[];
  size: number;
}>;
