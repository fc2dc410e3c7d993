import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ensurePrivateDir } from './store/private-dir.ts';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { MASTER_KEY_FILE, startCheckpoints } from './checkpoints.ts';
import type { Config } from './config.ts';
import { generateMasterKey, parseMasterKey, type MasterKey } from './crypto/index.ts';
import { createApp } from './http/app.ts';
import { onClientError } from './http/client-error.ts';
import { deliveryFor, ensurePracticeKeys } from './delivery/index.ts';
import { gatewayPortFor, startGateway, type RunningGateway } from './gateway/index.ts';
import type { App, AppDeps } from './http/types.ts';
import { createAuthenticator, loadDevIssuer } from './identity/index.ts';
import { createLogger, type Logger } from './log.ts';
import type { CheckpointRun } from './audit/index.ts';
import { backfillContentMacs, CONTENT_MAC_MIGRATION, contentMacUpgradeHooks } from './store/content-macs.ts';
import { ensurePractice, openStore, type Store } from './store/index.ts';

export { loadConfig, testConfig } from './config.ts';
export type { Config } from './config.ts';
export { createApp } from './http/app.ts';
export type { App, AppDeps, AppEnv } from './http/types.ts';

export { MASTER_KEY_FILE } from './checkpoints.ts';

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:53211 (the real port when config.port is 0). */
  url: string;
  app: App;
  store: Store;
  config: Config;
  deps: AppDeps;
  /** The bootstrapped practice. */
  practiceId: string;
  /** What start-up did that the operator should hear about (e.g. a new local master key). */
  notices: string[];
  close(): Promise<void>;
}

/**
 * The master key: ATTUNE_MASTER_KEY, or in development a local one kept in DATA_DIR/master.key
 * (mode 0600), created on first start. Production refuses to start without the variable (config).
 */
function resolveMasterKey(config: Config, notices: string[]): MasterKey {
  let raw = config.masterKey;
  if (!raw) {
    const file = join(config.dataDir, MASTER_KEY_FILE);
    if (!existsSync(file)) {
      writeFileSync(file, `${generateMasterKey()}\n`, { mode: 0o600, flag: 'wx' });
      notices.push(
        `Created a local master key in ${file} (mode 0600). For production set ATTUNE_MASTER_KEY instead.`,
      );
    }
    chmodSync(file, 0o600);
    raw = readFileSync(file, 'utf8').trim();
  }
  const parsed = parseMasterKey(raw);
  if (!parsed.ok)
    throw new Error(
      'ATTUNE_MASTER_KEY must be 32 random bytes, as 64 hex digits or base64 (e.g. `openssl rand -base64 32`).',
    );
  return parsed.masterKey;
}

/**
 * Starts the whole server in-process: data folder, master key, development issuer, migrations,
 * the configured practice and its keys, then HTTP on config.host:config.port (0 = any free port).
 * Used by `attune serve` and by integration tests (`startServer(testConfig(tmpDir))`).
 */
export async function startServer(config: Config, opts: { logger?: Logger } = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const notices: string[] = [];
  for (const [dir, what] of [
    [config.dataDir, 'Data folder'],
    [config.mailDir, 'Mail folder'],
  ] as const) {
    const state = ensurePrivateDir(dir);
    if (state === 'tightened')
      notices.push(`${what} ${dir} was open to other users: now 0700 (it holds patient data).`);
    if (state === 'open')
      logger.warn(
        { event: 'data_dir_open', dir },
        `${what} is open to other users and could not be made 0700: fix its owner and mode`,
      );
  }
  const masterKey = resolveMasterKey(config, notices);
  const devIssuer = config.identity.dev.enabled
    ? await loadDevIssuer({
        dataDir: config.dataDir,
        issuer: config.identity.dev.issuer,
        audience: config.identity.dev.audience,
        ttlSeconds: config.identity.dev.ttlSeconds,
      })
    : undefined;

  // The upgrade to content MACs signs the archive chains as it finds them, just before 0008 is
  // applied, so a crash before every old row is bound is resumed at the next start
  // (store/content-macs.ts).
  let upgradeCheckpoints: CheckpointRun | null = null;
  const store = await openStore(config, {
    beforeMigration: contentMacUpgradeHooks(masterKey, (run) => {
      upgradeCheckpoints = run;
    }),
  });
  let server: Awaited<ReturnType<typeof listen>> | null = null;
  try {
    // Bind before building the app: with PORT=0 the address is known only now, and the links in
    // notices, the OpenAPI server URL and the add-in's allowed list are built from PUBLIC_URL.
    // Requests that arrive in between get a 503 (nothing can know the port before this returns).
    let ready: App | null = null;
    server = await listen(
      (req, env) => (ready ? ready.fetch(req, env) : new Response('Starting.', { status: 503 })),
      config,
    );
    const { port } = server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const url = `${config.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    // Development without PUBLIC_URL derives it from PORT, so PORT=0 gave http://localhost:0 (links
    // nobody can open). Port 0 is never a real public address: use the bound one instead.
    if (config.isDevelopment && new URL(config.publicUrl).port === '0')
      config = { ...config, publicUrl: url };

    const { practiceId, created } = await ensurePractice(store.db, config.practice);
    if (created)
      notices.push(`Created practice "${config.practice.name}" for ${config.practice.domains.join(', ')}.`);
    const { generated } = await ensurePracticeKeys(store.db, masterKey, practiceId, {
      ...(config.mailFrom ? { email: config.mailFrom } : {}),
    });
    for (const k of generated) notices.push(`Generated the practice's ${k.purpose} key ${k.fingerprint}.`);
    // Patients' email replies to a notice go to reply+<token>@<reply domain>, which only reaches
    // Attune when that domain's mail comes to the gateway. Without one, the practice's own domain is
    // used, whose MX is usually Google's or Microsoft's: say so, in production, at every start.
    if (!config.isDevelopment) {
      const noReplyDomain = await store.db
        .selectFrom('practices')
        .select('id')
        .where('reply_domain', 'is', null)
        .execute();
      if (noReplyDomain.length > 0 && !config.practice.replyDomain)
        logger.warn(
          { event: 'no_reply_domain', practices: noReplyDomain.length },
          "practices without a reply domain: patients' email replies go to reply+…@ their own mail domain and are lost unless that mail is routed to the gateway; set PRACTICE_REPLY_DOMAIN or attune practice set --reply-domain",
        );
    }
    // Rows stored before content MACs (migration 0008) get theirs, if the archive vouches for them;
    // a read refuses a row without one. After the first start of this version, a cheap probe, and a
    // row found without one then is bound only if a signed checkpoint covers it (content-macs.ts).
    const upgraded = upgradeCheckpoints as CheckpointRun | null;
    if (upgraded && upgraded.written.length > 0)
      notices.push(`Signed ${upgraded.written.length} archive checkpoints for the upgrade to content MACs.`);
    // References only (chain, position, reason).
    for (const b of upgraded?.refused ?? [])
      logger.error(
        { event: 'content_mac_upgrade_unsigned', chain: b.chain, seq: b.seq, reason: b.reason },
        'archive chain does not verify at the upgrade to content MACs: not signed (run attune verify)',
      );
    const macs = await backfillContentMacs(store.db, masterKey, {
      upgrade: store.migrated.includes(CONTENT_MAC_MIGRATION),
    });
    if (macs.bound > 0)
      notices.push(`Bound ${macs.bound} stored messages and replies to the master key (content MACs).`);
    if (macs.refused > 0)
      logger.error(
        { event: 'content_mac_refused', rows: macs.refused },
        'stored messages or replies the archive does not vouch for were left unreadable: check the store with attune verify',
      );

    const authenticator = createAuthenticator({ config, store, devIssuer, logger });
    const deps: AppDeps = { config, store, logger, authenticator, services: { masterKey, practiceId } };
    const app = createApp(deps);
    // WORKERS (delivery owner): start the outbox worker here with `deps`, and stop it in close().
    const delivery = deliveryFor(deps);
    delivery.start();
    notices.push(`Outgoing mail: ${delivery.services.transport.description}.`);
    // SMTP gateway (outbound enforcement, plain-email replies) on GATEWAY_PORT, 2525 by default.
    const gwPort = gatewayPortFor(config);
    let gateway: RunningGateway | null = null;
    if (gwPort !== null) {
      gateway = await startGateway({
        config: { ...config, gatewayPort: gwPort },
        store,
        pipeline: delivery.pipeline,
        log: (e) => logger.info(e, 'gateway'),
      }).catch(async (err: unknown) => {
        await delivery.stop();
        throw err;
      });
      notices.push(`SMTP gateway listening on port ${gateway.port}.`);
    }

    // Signed checkpoints of the audit and archive chains: on a timer, and a last one at shutdown.
    const checkpoints = startCheckpoints({
      db: store.db,
      masterKey,
      practiceId,
      intervalSeconds: config.checkpointIntervalSeconds,
      logger,
    });
    ready = app;
    const listening = server;
    let closed = false;
    return {
      url,
      app,
      store,
      config,
      deps,
      practiceId,
      notices,
      async close() {
        if (closed) return;
        closed = true;
        await closeServer(listening);
        await gateway?.close();
        await delivery.stop();
        // A last checkpoint, bounded: a database that stopped answering must not hold up shutdown.
        checkpoints.stop();
        await Promise.race([checkpoints.run(), new Promise((r) => setTimeout(r, 10_000).unref())]);
        await store.close();
      },
    };
  } catch (err) {
    if (server) await closeServer(server);
    await store.close();
    throw err;
  }
}

function closeServer(server: ServerType): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    // Keep-alive connections would hold close() open; end them.
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

function listen(
  fetch: App['fetch'],
  config: Config,
): Promise<ServerType & { address(): AddressInfo | string | null }> {
  return new Promise((resolve, reject) => {
    // With TLS files (TLS_CERT_FILE/TLS_KEY_FILE or HTTPS=dev) node:https serves the same app:
    // Office loads add-in pages only over HTTPS.
    const tls = config.tls
      ? { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }
      : undefined;
    const server = tls
      ? serve(
          {
            fetch,
            port: config.port,
            hostname: config.host,
            createServer: createHttpsServer,
            serverOptions: { ...tls, minVersion: 'TLSv1.2' },
          },
          () => resolve(server),
        )
      : serve({ fetch, port: config.port, hostname: config.host }, () => resolve(server));
    server.once('error', reject);
    server.on('clientError', onClientError);
  });
}
