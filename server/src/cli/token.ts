import { loadConfigOrReport } from './load-config.ts';
import { loadDevIssuer } from '../identity/dev-issuer.ts';

const USAGE = 'usage: attune token --dev --email clinician@example.org [--admin]\n';

// `attune token --dev --email X`: prints a development bearer token signed by the local issuer
// (the key in DATA_DIR), exactly what POST /v1/dev/token returns. Refused outside development.
export async function run(args: string[]): Promise<number> {
  const emailAt = args.indexOf('--email');
  const email = emailAt >= 0 ? args[emailAt + 1] : undefined;
  if (!args.includes('--dev') || !email || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    process.stderr.write(USAGE);
    return 2;
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
  const token = await issuer.sign({ email, admin: args.includes('--admin') });
  process.stdout.write(`${token}\n`);
  return 0;
}
