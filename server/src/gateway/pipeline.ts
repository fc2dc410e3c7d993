import type { Config } from '../config.ts';
import type { Store } from '../store/index.ts';
import type { Pipeline } from './store-backend.ts';

// The delivery pipeline as the gateway calls it: secure send (POST /v1/messages' core) and reply
// capture (the viewer's reply core), adapted to the gateway's types.

export interface ClosablePipeline extends Pipeline {
  close(): Promise<void>;
}

export function createPipeline(_opts: { config: Config; store: Store }): Promise<ClosablePipeline> {
  // Wired to delivery/secure-send once it lands; until then PHI mail gets a 451 (the sender retries).
  return Promise.resolve({
    secureSend: () => Promise.reject(new Error('secure send not available')),
    acceptReply: () => Promise.reject(new Error('reply capture not available')),
    close: () => Promise.resolve(),
  });
}
