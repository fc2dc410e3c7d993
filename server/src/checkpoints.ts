import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeCheckpoints, type CheckpointSigner } from './audit/index.ts';
import type { Config } from './config.ts';
import { parseMasterKey, type MasterKey } from './crypto/index.ts';
import { getKeyring } from './delivery/keyring.ts';
import type { Logger } from './log.ts';
import type { Db } from './store/index.ts';

// Signed chain checkpoints on a timer (CHECKPOINT_INTERVAL_SECONDS) and at shutdown: see
// audit/checkpoint.ts for what they prove.

/** Signs with a practice's signing key; the deployment's own chain with `defaultPracticeId`'s. */
export function practiceSigner(
  db: Db,
  masterKey: MasterKey,
  defaultPracticeId: string,
): (practiceId: string | null) => Promise<CheckpointSigner> {
  return async (practiceId) => {
    const ring = await getKeyring(db, masterKey, practiceId ?? defaultPracticeId);
    return { privateKey: ring.signing.privateKey, fingerprint: ring.signing.fingerprint };
  };
}

export interface CheckpointTimer {
  /** Writes checkpoints of the chains that grew (or joins the run under way); never throws (a failure is logged). */
  run(): Promise<number>;
  /** Stops the timer (a run under way goes on: await run() to wait for it). */
  stop(): void;
}

export function startCheckpoints(opts: {
  db: Db;
  masterKey: MasterKey;
  practiceId: string;
  intervalSeconds: number;
  logger: Logger;
}): CheckpointTimer {
  const signer = practiceSigner(opts.db, opts.masterKey, opts.practiceId);
  let running: Promise<number> | null = null;
  const run = (): Promise<number> => {
    // One run at a time: a slow run (many chains) is not overtaken by the next tick.
    running ??= writeCheckpoints(opts.db, signer, { masterKey: opts.masterKey })
      .then(({ written, refused }) => {
        if (written.length > 0)
          opts.logger.info({ checkpoints: written.length }, 'signed chain checkpoints written');
        // References only (chain, position, reason): never entry content.
        for (const b of refused)
          opts.logger.error(
            { chain: b.chain, seq: b.seq, reason: b.reason },
            'chain does not verify since its last checkpoint: not signed (run attune verify)',
          );
        return written.length;
      })
      .catch((err: unknown) => {
        opts.logger.error(
          { err: err instanceof Error ? err.message : String(err) },
          'chain checkpoint failed',
        );
        return 0;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = opts.intervalSeconds > 0 ? setInterval(() => void run(), opts.intervalSeconds * 1000) : null;
  timer?.unref();
  return {
    run,
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}

/** The development master key's file in DATA_DIR (production sets ATTUNE_MASTER_KEY). */
export const MASTER_KEY_FILE = 'master.key';

/**
 * The master key for an admin command: ATTUNE_MASTER_KEY, or in development the local
 * DATA_DIR/master.key if there is one (a command never creates it). Null when there is none.
 */
export function readMasterKey(config: Config): MasterKey | null {
  let raw = config.masterKey;
  if (!raw) {
    const file = join(config.dataDir, MASTER_KEY_FILE);
    if (!existsSync(file)) return null;
    raw = readFileSync(file, 'utf8').trim();
  }
  const parsed = parseMasterKey(raw);
  return parsed.ok ? parsed.masterKey : null;
}
