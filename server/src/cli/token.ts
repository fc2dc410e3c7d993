import { commandFlags, USAGE_ERROR } from './exit.ts';
import { loadConfigOrReport } from './load-config.ts';
import { loadDevIssuer } from '../identity/dev-issuer.ts';

const USAGE = 'usage: attune token --dev --email clinician@example.org [--admin]\n';

// `attune token --dev --email X`: prints a development bearer token signed by the local issuer
// (the key in DATA_DIR), exactly what POST /v1/dev/token returns. Refused outside development.
export async function run(args: string[]): Promise<number> {
  // Strict: a misspelled `--admn` must not print a token without the role asked for.
  const flags = commandFlags('token', USAGE, args, {
    dev: { type: 'boolean' },
    email: { type: 'string' },
    admin: { type: 'boolean' },
  });
  if (typeof flags === 'number') return flags;
  const email = flags.email;
  if (!flags.dev || !email || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    process.stderr.write(USAGE);
    return USAGE_ERROR;
  }
  const config = loadConfigOrReport();
  if (!config) return 1;
  if (!config.identity.dev.enabled) {
    process.stderr.write(
      'attune: dev_tokens_disabled: development tokens are available only when ATTUNE_ENV=development.\n',
    );
    return 1;
  }
  const issuer = await loadDevIssuer({
    dataDir: config.dataDir,
    issuer: config.identity.dev.issuer,
    audience: config.identity.dev.audience,
    ttlSeconds: config.identity.dev.ttlSeconds,
  });
  const token = await issuer.sign({ email, admin: flags.admin === true });
  process.stdout.write(`${token}\n`);
  return 0;
}
