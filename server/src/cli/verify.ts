import { readFileSync } from 'node:fs';
import { signedBlocks } from '../audit/checkpoint.ts';
import { verifyChains } from '../audit/verify.ts';
import { readMasterKey } from '../checkpoints.ts';
import { commandFlags } from './exit.ts';
import { loadConfigOrReport } from './load-config.ts';
import { openServerStore } from './open-store.ts';

// `attune verify [--json] [--against FILE]`: recomputes the audit chain and every practice's archive
// chain from the first entry, checks them against the signed checkpoints stored with them (and those
// kept in FILE, `attune checkpoint` output saved elsewhere), and reports the first break. Exit 0 when
// intact, 1 on a break, 2 on usage/config errors. Read-only: it runs no migrations and writes nothing.
const USAGE = `usage: attune verify [--json] [--against FILE]

Recomputes the audit and archive hash chains and checks them against their signed checkpoints (and
those kept in FILE, saved attune checkpoint output). Exit 0 intact, 1 at the first break, 2 usage.
`;

export async function run(args: string[]): Promise<number> {
  const flags = commandFlags('verify', USAGE, args, {
    json: { type: 'boolean' },
    against: { type: 'string' },
  });
  if (typeof flags === 'number') return flags;
  const asJson = flags.json === true;
  let anchors: string[] = [];
  const file = flags.against;
  if (file !== undefined) {
    if (!file) {
      process.stderr.write('attune verify: --against needs a file of signed checkpoints\n');
      return 2;
    }
    try {
      anchors = signedBlocks(readFileSync(file, 'utf8'));
    } catch {
      process.stderr.write(`attune verify: cannot read ${file}\n`);
      return 2;
    }
    if (anchors.length === 0) {
      process.stderr.write(`attune verify: ${file} holds no signed checkpoints\n`);
      return 2;
    }
  }
  const config = loadConfigOrReport();
  if (!config) return 2;
  const masterKey = readMasterKey(config) ?? undefined;
  const store = await openServerStore(config, 'verify', { current: false });
  if (typeof store === 'number') return store;
  try {
    const report = await verifyChains(store.db, { ...(masterKey ? { masterKey } : {}), anchors });
    if (asJson) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const c of report.chains) {
        const root = c.merkleRoot ? `  merkle root ${c.merkleRoot}` : '';
        const signed = c.checkpointedTo
          ? `  signed to seq ${c.checkpointedTo.seq} at ${c.checkpointedTo.at}`
          : '  no signed checkpoint';
        process.stdout.write(
          `${c.break ? 'BROKEN' : 'ok    '} ${c.chain}: ${c.entries} entries intact, head ${c.head}${root}${signed}\n`,
        );
      }
      if (report.chains.length === 0) process.stdout.write('no chains yet (nothing audited or archived)\n');
      if (!report.storeHasCheckpoints)
        process.stdout.write(
          'no signed checkpoints: this store has not been migrated by this version yet (start the server once)\n',
        );
      process.stdout.write(
        report.checkpointKeys === 'authenticated'
          ? 'checkpoint keys: vouched for by the master key\n'
          : 'checkpoint keys: NOT authenticated (no master key here): signatures checked with the keys stored in the database\n',
      );
      if (report.rejectedKeys.length > 0)
        process.stdout.write(
          `signing keys the master key does not vouch for (ignored): ${report.rejectedKeys.join(', ')}\n`,
        );
      if (file !== undefined)
        process.stdout.write(
          `checked against ${report.anchorsChecked} of ${anchors.length} kept checkpoints\n`,
        );
      process.stdout.write(
        report.contentMacsChecked === null
          ? masterKey
            ? 'content MACs: not checked (this store has not been migrated by this version yet: start the server once)\n'
            : 'content MACs: NOT checked (no master key here)\n'
          : `content MACs: ${report.contentMacsChecked - report.contentMacFailures.length} of ${report.contentMacsChecked} stored messages and replies vouched for by the master key\n`,
      );
      for (const b of report.contentMacFailures)
        process.stdout.write(
          `CONTENT NOT VOUCHED FOR: message or reply ${b.ref} (${b.chain}): ${b.reason}\n`,
        );
      // Dealt with by an admin (attune archive content-macs quarantine): said, not a break.
      for (const b of report.quarantinedRows)
        process.stdout.write(`quarantined: message or reply ${b.ref} (${b.chain}): not shown or sent\n`);
      for (const c of report.chains)
        if (c.quarantined)
          process.stdout.write(
            `${c.chain}: signed checkpoints name entries ${c.quarantined.join(', ')} as quarantined (not vouched for)\n`,
          );
      if (report.firstBreak) {
        const b = report.firstBreak;
        process.stdout.write(
          `FIRST BREAK: chain ${b.chain} at seq ${b.seq}${b.id ? ` (row id ${b.id})` : ''}: ${b.reason}${b.ref ? ` (message or reply ${b.ref})` : ''}\n`,
        );
      }
    }
    // A kept checkpoint that is not valid (forged, or by a key the master key does not vouch for)
    // fails the check too: the admin asked for it to be checked.
    const anchorsOk = report.anchorsChecked === anchors.length;
    if (!anchorsOk && !asJson)
      process.stdout.write(
        `FAILED: ${anchors.length - report.anchorsChecked} kept checkpoint(s) are not validly signed by a practice key\n`,
      );
    return report.ok && anchorsOk ? 0 : 1;
  } finally {
    await store.close();
  }
}
