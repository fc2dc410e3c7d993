import type { Config } from '../config.ts';
import type { Store } from '../store/index.ts';
import { loadGatewayConfig, type GatewayConfig } from './config.ts';
import { markerSecretFor } from './marker.ts';
import { createRelay } from './relay.ts';
import { createGateway, type Gateway, type GatewayLog } from './server.ts';
import { createStoreBackend, type Pipeline } from './store-backend.ts';

export { loadGatewayConfig, GatewayConfigError, type GatewayConfig } from './config.ts';
export { createGateway, type Gateway, type GatewayLog, type GatewayStats } from './server.ts';
export { createStoreBackend, type Pipeline } from './store-backend.ts';
export type { GatewayBackend } from './backend.ts';

export interface RunningGateway {
  gateway: Gateway;
  port: number;
  config: GatewayConfig;
  close(): Promise<void>;
}

/**
 * The port `npm start` runs the gateway on: GATEWAY_PORT when set (0 = any free port); otherwise 2525,
 * except when the HTTP server itself asked for any free port (tests), which then get no gateway.
 */
export function gatewayPortFor(config: Config): number | null {
  if (config.gatewayPort !== undefined) return config.gatewayPort;
  return config.port === 0 ? null : 2525;
}

/**
 * Starts the SMTP gateway beside the HTTP server (what `npm start` does): the server's store and
 * delivery pipeline, the gateway's own settings from GATEWAY_* (port from the server config's
 * GATEWAY_PORT, default 2525).
 */
export async function startGateway(opts: {
  config: Config;
  store: Store;
  pipeline: Pipeline;
  log?: GatewayLog;
  env?: Record<string, string | undefined>;
}): Promise<RunningGateway> {
  const env = opts.env ?? process.env;
  const gwConfig = loadGatewayConfig(env);
  if (opts.config.gatewayPort !== undefined) gwConfig.port = opts.config.gatewayPort;
  // Bind like the HTTP server (loopback in development) unless told otherwise.
  if (!env['GATEWAY_HOST']) gwConfig.host = opts.config.host;
  // One marker key for every gateway process of the deployment (and across restarts), so each
  // recognises the others' output; derived from the master key, never the key itself.
  gwConfig.markerSecret = markerSecretFor(gwConfig.markerSecret, opts.config.masterKey);
  const relay = createRelay(opts.config);
  const backend = createStoreBackend({
    store: opts.store,
    relay,
    pipeline: opts.pipeline,
    autoProvision: opts.config.autoProvisionClinicians,
    serviceAddresses: [opts.config.mailFrom, gwConfig.dsnFrom].filter((a): a is string => !!a),
  });
  // Notices use each practice's own reply domain when it has one: accept replies at all of them
  // (re-read while the gateway runs: server.ts).
  let addr;
  let gateway: Gateway;
  try {
    for (const d of await backend.replyDomains()) {
      if (!gwConfig.replyDomains.includes(d)) gwConfig.replyDomains.push(d);
    }
    gateway = createGateway(gwConfig, backend, opts.log);
    addr = await gateway.listen();
  } catch (err) {
    await relay.close();
    throw err;
  }
  return {
    gateway,
    port: addr.port,
    config: gwConfig,
    async close() {
      await gateway.close();
      await relay.close();
    },
  };
}
