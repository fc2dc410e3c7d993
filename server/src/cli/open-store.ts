import type { Config } from '../config.ts';
import { readMasterKey } from '../checkpoints.ts';
import { contentMacUpgradeHooks, UpgradeNeedsMasterKeyError } from '../store/content-macs.ts';
import { openStore, schemaState, StoreNotFoundError, type Store } from '../store/index.ts';
import { USAGE_ERROR } from './exit.ts';

/**
 * The store of a server that has started (it migrates at start), for an admin command that must not
 * migrate or create one itself, or USAGE_ERROR after saying on stderr what is wrong: no store where
 * DATA_DIR / DATABASE_URL point (a wrong folder, or the server never started), a store an older
 * version wrote (when `current` is asked: the command needs this version's tables), or one a newer
 * version wrote (this version does not know its schema). Nothing is created or changed either way.
 */
export async function openServerStore(
  config: Config,
  command: string,
  opts: { current: boolean },
): Promise<Store | number> {
  const where = config.databaseUrl ? 'the database DATABASE_URL names' : `DATA_DIR (${config.dataDir})`;
  let store: Store;
  try {
    store = await openStore(config, { migrate: false, create: false });
  } catch (err) {
    if (!(err instanceof StoreNotFoundError)) throw err;
    return refuse(
      command,
      `no Attune store in ${where}: start the server once, or point DATA_DIR at the server's`,
    );
  }
  const state = await schemaState(store);
  const problem =
    state.state === 'empty'
      ? `no Attune store in ${where}: start the server once, or point ${config.databaseUrl ? 'DATABASE_URL' : 'DATA_DIR'} at the server's`
      : state.state === 'ahead'
        ? `this store was written by a newer version of Attune (migrations ${state.unknown.join(', ')}): run that version's attune`
        : state.state === 'behind' && opts.current
          ? 'this store has not been migrated by this version yet: start the server of this version once, then run this again'
          : undefined;
  if (problem) {
    await store.close();
    return refuse(command, problem);
  }
  return store;
}

function refuse(command: string, message: string): number {
  process.stderr.write(`attune ${command}: ${message}\n`);
  return USAGE_ERROR;
}

/**
 * The store for a command that migrates it when it is behind (import, demo, the mailbox sync), with
 * the same upgrade hooks as the server (store/content-macs.ts), or USAGE_ERROR after saying why the
 * upgrade could not run here (it needs ATTUNE_MASTER_KEY). Nothing was applied then.
 */
export async function openMigratingStore(config: Config, command: string): Promise<Store | number> {
  try {
    return await openStore(config, { beforeMigration: contentMacUpgradeHooks(readMasterKey(config)) });
  } catch (err) {
    if (!((err as Error).cause instanceof UpgradeNeedsMasterKeyError)) throw err;
    return refuse(command, ((err as Error).cause as Error).message);
  }
}
