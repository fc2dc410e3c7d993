import { loadConfigOrReport } from './load-config.ts';
import { seedDemo } from '../engagement/demo.ts';
import { practiceForCommand } from './practice-ref.ts';
import { openMigratingStore } from './open-store.ts';

const USAGE = 'usage: attune demo [--reset] [--patients N] [--seed N] [--practice PRACTICE]\n';

// `attune demo`: fills the store of DATA_DIR (or DATABASE_URL), the same one `npm start` uses, with a
// synthetic practice of simulated patients (two years of messages, replies, appointments, drops and
// a few crisis replies), then prints the demo clinician's email and how to get a token.
// Development only: demo patients do not belong in a production store.
export async function run(args: string[]): Promise<number> {
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const known = new Set(['--reset', '--patients', '--seed', '--practice']);
  const patients = flag('--patients') !== undefined ? Number(flag('--patients')) : 200;
  const seed = flag('--seed') !== undefined ? Number(flag('--seed')) : 2026;
  const stray = args.filter(
    (a, i) =>
      a.startsWith('-') &&
      !known.has(a) &&
      !(i > 0 && ['--patients', '--seed', '--practice'].includes(args[i - 1] ?? '')),
  );
  if (
    stray.length > 0 ||
    (args.includes('--practice') && !flag('--practice')) ||
    !Number.isInteger(patients) ||
    patients < 1 ||
    patients > 5000 ||
    !Number.isInteger(seed)
  ) {
    process.stderr.write(USAGE);
    return 2;
  }
  const config = loadConfigOrReport();
  if (!config) return 1;
  if (!config.isDevelopment) {
    process.stderr.write('attune: demo data is for development stores only (ATTUNE_ENV=development).\n');
    return 1;
  }
  const store = await openMigratingStore(config, 'demo');
  if (typeof store === 'number') return store;
  try {
    const practice = await practiceForCommand(store.db, config, args, { command: 'demo', create: true });
    if (!practice) return 1;
    const clinician = `demo.clinician@${practice.domain}`;
    const r = await seedDemo(store.db, practice.practiceId, {
      now: new Date(),
      patients,
      seed,
      reset: args.includes('--reset'),
      clinicianEmail: clinician,
    });
    const where = config.databaseUrl ? 'the PostgreSQL store (DATABASE_URL)' : `${config.dataDir}`;
    if (r.created) {
      process.stdout.write(
        `Demo practice "${practice.name}" written to ${where}:\n` +
          `  ${r.patients} simulated patients, ${r.events} engagement events over two years up to now, ` +
          `${r.crisisPatients} with a first-person crisis reply${r.removed ? ` (replaced ${r.removed} earlier demo events)` : ''}.\n`,
      );
    } else {
      process.stdout.write(
        `Demo data is already in ${where}: ${r.patients} patients, ${r.events} events up to ${r.asOf ?? 'unknown'}. ` +
          'Nothing added. Run `npx attune demo --reset` to regenerate it relative to today.\n',
      );
    }
    process.stdout.write(
      `\nSign in as the demo clinician: ${clinician}\n` +
        `  npm start                      (in another terminal)\n` +
        `  TOKEN=$(npx attune token --dev --email ${clinician})\n` +
        `  curl -H "Authorization: Bearer $TOKEN" ${config.publicUrl}/v1/caseload\n`,
    );
    return 0;
  } finally {
    await store.close();
  }
}
