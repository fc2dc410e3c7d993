import { writeCheckpoints } from '../audit/checkpoint-writer.ts';
import { checkCheckpoint, checkpointKeys } from '../audit/checkpoint.ts';
import { practiceSigner, readMasterKey } from '../checkpoints.ts';
import { cliActor } from './actor.ts';
import { commandFlags } from './exit.ts';
import { loadConfigOrReport } from './load-config.ts';
import { openServerStore } from './open-store.ts';

// `attune checkpoint [--quiet]`: signs a checkpoint of every chain that grew since its last one (as
// the server does every CHECKPOINT_INTERVAL_SECONDS), then prints the latest signed checkpoint of
// each chain: OpenPGP cleartext signatures to keep somewhere the database's writers cannot reach
// (a WORM bucket, a printout, an email to the practice's compliance officer). `gpg --verify` checks
// one with the practice's public signing key; `attune verify --against FILE` checks the chains
// against a file of them. Exit 0; 1 when a chain did not verify and was not signed; 2 on config errors.
const USAGE = `usage: attune checkpoint [--quiet]

Signs a checkpoint of every chain that grew since its last one, then prints the latest signed
checkpoint of each chain (--quiet: prints none) to keep where the database's writers cannot reach.
Exit 0; 1 when a chain did not verify and was not signed; 2 usage or setup.
`;

export async function run(args: string[]): Promise<number> {
  const flags = commandFlags('checkpoint', USAGE, args, { quiet: { type: 'boolean' } });
  if (typeof flags === 'number') return flags;
  const quiet = flags.quiet === true;
  const config = loadConfigOrReport();
  if (!config) return 2;
  const masterKey = readMasterKey(config);
  if (!masterKey) {
    process.stderr.write(
      'attune checkpoint: no master key (set ATTUNE_MASTER_KEY): checkpoints are signed with the practice key it seals\n',
    );
    return 2;
  }
  const store = await openServerStore(config, 'checkpoint', { current: true });
  if (typeof store === 'number') return store;
  try {
    const first = await store.db
      .selectFrom('practices')
      .select('id')
      .orderBy('created_at')
      .orderBy('id')
      .executeTakeFirst();
    if (!first) {
      process.stderr.write('attune checkpoint: no practice yet (start the server once)\n');
      return 2;
    }
    // Audited as the admin who ran it (the server's own runs are the system's).
    const run = await writeCheckpoints(store.db, practiceSigner(store.db, masterKey, first.id), {
      masterKey,
      actor: cliActor(),
    });
    for (const b of run.refused)
      process.stderr.write(
        `attune checkpoint: chain ${b.chain} does not verify at seq ${b.seq} (${b.reason}): not signed; run attune verify\n`,
      );
    if (!quiet) {
      const trusted = await checkpointKeys(store.db, masterKey);
      const rows = await store.db
        .selectFrom('chain_checkpoints')
        .select(['chain', 'seq', 'signed'])
        .orderBy('chain')
        .orderBy('seq', 'desc')
        .execute();
      const printed = new Set<string>();
      for (const r of rows) {
        if (printed.has(r.chain)) continue;
        if (!(await checkCheckpoint(r.signed, trusted)).ok) continue;
        printed.add(r.chain);
        process.stdout.write(`${r.signed.trimEnd()}\n\n`);
      }
    }
    process.stderr.write(`attune checkpoint: ${run.written.length} new signed checkpoint(s)\n`);
    return run.refused.length > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
