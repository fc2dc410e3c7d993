import { verifyChains } from '../audit/verify.ts';
import { loadConfigOrReport } from './load-config.ts';
import { openStore } from '../store/index.ts';

// `attune verify`: recomputes the audit chain and every practice's archive chain from the first
// entry and reports the first break. Exit 0 when intact, 1 on a break, 2 on usage/config errors.
// Read-only: it runs no migrations and writes nothing.
export async function run(args: string[]): Promise<number> {
  const asJson = args.includes('--json');
  const config = loadConfigOrReport();
  if (!config) return 2;
  const store = await openStore(config, { migrate: false });
  try {
    const report = await verifyChains(store.db);
    if (asJson) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const c of report.chains) {
        const root = c.merkleRoot ? `  merkle root ${c.merkleRoot}` : '';
        process.stdout.write(
          `${c.break ? 'BROKEN' : 'ok    '} ${c.chain}: ${c.entries} entries intact, head ${c.head}${root}\n`,
        );
      }
      if (report.chains.length === 0) process.stdout.write('no chains yet (nothing audited or archived)\n');
      if (report.firstBreak) {
        const b = report.firstBreak;
        process.stdout.write(
          `FIRST BREAK: chain ${b.chain} at seq ${b.seq}${b.id ? ` (row id ${b.id})` : ''}: ${b.reason}\n`,
        );
      }
    }
    return report.ok ? 0 : 1;
  } finally {
    await store.close();
  }
}
