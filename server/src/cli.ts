// `attune` admin CLI. Each command lives in ./cli/<name>.ts and exports
// `run(args: string[]): Promise<number>` (the exit code), so commands load only what they use.

const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> }
> = {
  serve: { summary: 'start the server (what `npm start` runs)', load: () => import('./cli/serve.ts') },
  token: {
    summary: 'print a development bearer token: attune token --dev --email X [--admin]',
    load: () => import('./cli/token.ts'),
  },
  verify: {
    summary:
      'recompute the audit and archive hash chains and check their signed checkpoints: attune verify [--json] [--against FILE]; exit 1 at the first break',
    load: () => import('./cli/verify.ts'),
  },
  checkpoint: {
    summary: 'sign checkpoints of the chains now and print the latest of each, to keep elsewhere',
    load: () => import('./cli/checkpoint.ts'),
  },
  practice: {
    summary:
      'add and manage the practices of a deployment: attune practice list | add --name N --domain D | set-domains P --domain D | set P | care-team P list|add|remove PATIENT [CLINICIAN]',
    load: () => import('./cli/practice.ts'),
  },
  deliveries: {
    summary:
      "a practice's deliveries and why they failed, and a retry once fixed: attune deliveries PRACTICE [--status S] [--message ID] [--since ISO] [--limit N] [--show-addresses] [--json] | attune deliveries PRACTICE retry DELIVERY_ID",
    load: () => import('./cli/deliveries.ts'),
  },
  archive: {
    summary:
      "export a practice's archive, verified and decrypted: attune archive export --practice P --out FILE [--from ISO] [--to ISO] [--patient EMAIL] [--encrypt-to KEYFILE]; stored messages and replies the master key does not vouch for: attune archive content-macs P list | bind ID | quarantine ID",
    load: () => import('./cli/archive.ts'),
  },
  demo: {
    summary: 'fill the development store with a simulated practice: attune demo [--reset]',
    load: () => import('./cli/demo.ts'),
  },
  import: {
    summary: 'import engagement data: attune import fhir BUNDLE.json | attune import gmail --mailbox X',
    load: () => import('./cli/import.ts'),
  },
  scan: {
    summary: 'scan text for PHI: attune scan [--json|--jsonl] [FILE...]',
    load: () => import('./cli/scan.ts'),
  },
  gateway: {
    summary: 'run the SMTP gateway on its own (GATEWAY_* settings)',
    load: () => import('./cli/gateway.ts'),
  },
  manifest: {
    summary:
      'write the Outlook add-in manifest for a deployment: attune manifest --url https://HOST [--out FILE]',
    load: () => import('./cli/manifest.ts'),
  },
};

export function registerCommand(
  name: string,
  summary: string,
  load: () => Promise<{ run(args: string[]): Promise<number> }>,
): void {
  COMMANDS[name] = { summary, load };
}

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return `usage: attune <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`attune: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await cmd.load();
  return mod.run(rest);
}
