import type { Config } from '../config.ts';
import { createDelivery } from '../delivery/index.ts';
import { createLogger } from '../log.ts';
import type { Store } from '../store/index.ts';
import type { Pipeline } from './store-backend.ts';

// The delivery pipeline as a standalone gateway process uses it: the same secure send as
// POST /v1/messages and the same reply capture as the viewer (delivery/index.ts adapts them to the
// gateway's types), with the outbox worker running so notices actually go out. Inside `npm start`
// the server passes its own delivery's pipeline to startGateway instead.

export interface ClosablePipeline extends Pipeline {
  close(): Promise<void>;
}

export function createPipeline(opts: {
  config: Config;
  store: Store;
  startWorker?: boolean;
}): Promise<ClosablePipeline> {
  const delivery = createDelivery({
    config: opts.config,
    store: opts.store,
    logger: createLogger({ level: opts.config.logLevel }),
  });
  if (opts.startWorker !== false) delivery.start();
  return Promise.resolve({
    secureSend: (sender, request, ctx) => delivery.pipeline.secureSend(sender, request, ctx),
    acceptReply: (reply) => delivery.pipeline.acceptReply(reply),
    queueMail: (mail) => delivery.pipeline.queueMail(mail),
    relayedReference: (transactionKey) => delivery.pipeline.relayedReference(transactionKey),
    returnPathDelivery: (address) => delivery.pipeline.returnPathDelivery(address),
    acceptDeliveryReport: (report) => delivery.pipeline.acceptDeliveryReport(report),
    close: () => delivery.stop(),
  });
}
