import { commandFlags } from './exit.ts';
import { loadConfigOrReport } from './load-config.ts';
import { startServer } from '../index.ts';
import { addinBuildProblems, addinDirOf } from '../http/routes/addin.ts';
import { warmEngagementCaches } from '../engagement/service.ts';

// `attune serve` (what `npm start` runs): validate the configuration, start everything, print where
// to go next, and shut down cleanly on Ctrl-C / SIGTERM.
export async function run(args: string[]): Promise<number> {
  // No flags: settings are environment variables. `attune serve --port 8080` must not start on 3000.
  const flags = commandFlags(
    'serve',
    'usage: attune serve\n\nConfiguration comes from environment variables (PORT, DATA_DIR, ...: see README).\n',
    args,
    {},
  );
  if (typeof flags === 'number') return flags;
  const config = loadConfigOrReport();
  if (!config) return 1;
  const server = await startServer(config);
  const domain = config.practice.domains[0] ?? 'example.org';
  const addinProblems = addinBuildProblems(addinDirOf(config.addinDir));
  const tlsNote = config.tls
    ? `HTTPS (${config.tls.source === 'office-addin-dev-certs' ? 'office-addin-dev-certs certificate' : 'TLS_CERT_FILE / TLS_KEY_FILE'})`
    : 'plain HTTP (Outlook needs HTTPS: set HTTPS=dev or TLS_CERT_FILE and TLS_KEY_FILE)';
  const lines = [
    '',
    `Attune is running at ${server.url}  (${config.env} mode)`,
    `  Data folder:   ${config.dataDir}`,
    `  Database:      ${server.store.dialect === 'sqlite' ? `SQLite in ${config.dataDir}/attune.db` : 'PostgreSQL (DATABASE_URL)'}`,
    `  Outgoing mail: ${config.smtpUrl ? 'SMTP relay (SMTP_URL)' : `${config.mailDir}  (one .eml file per email; set SMTP_URL to send for real)`}`,
    `  Practice:      ${config.practice.name} (${config.practice.domains.join(', ')})`,
    `  API docs:      ${server.url}/docs  ·  ${server.url}/openapi.json`,
    `  Transport:     ${tlsNote}`,
    `  Integrity:     ${
      config.checkpointIntervalSeconds > 0
        ? `signed chain checkpoints every ${formatInterval(config.checkpointIntervalSeconds)} and at shutdown`
        : 'signed chain checkpoints at shutdown (CHECKPOINT_INTERVAL_SECONDS=0)'
    }; keep copies: npx attune checkpoint > checkpoints.asc`,
    addinProblems.length === 0
      ? `  Outlook:       add-in at ${server.url}/addin/  ${
          !config.publicUrl.startsWith('https://')
            ? '(Outlook loads add-ins over HTTPS only)'
            : config.publicUrl === 'https://localhost:3000'
              ? '(sideload manifest.xml)'
              : `(manifest for this address: npx attune manifest --url ${config.publicUrl})`
        }`
      : `  Outlook:       add-in not built (${addinProblems[0]}): run  npm run build -w addin-outlook`,
    ...server.notices.map((n) => `  Note: ${n}`),
    '',
    ...(config.identity.dev.enabled
      ? [
          'Get a development token:',
          `  npx attune token --dev --email clinician@${domain}`,
          `  curl -s -X POST ${server.url}/v1/dev/token -H 'content-type: application/json' -d '{"email":"clinician@${domain}"}'`,
          'then call the API with  -H "Authorization: Bearer <token>"',
          '',
          'See the engagement sidebar with data: in another terminal run  npx attune demo',
          `  (a simulated practice of 200 patients), then  npx attune token --dev --email demo.clinician@${domain}`,
        ]
      : ['Development tokens are disabled (production mode): sign in through Outlook or Gmail.']),
    '',
  ];
  // The handlers go in before the banner: a supervisor (or a test) that reads the banner and sends
  // SIGTERM at once must get a clean stop, not Node's default death by signal.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.stdout.write(`Received ${signal}.\n`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  // In the background: the first sidebar and caseload reads then come from memory. A failure only
  // means a cold first read, so it is logged by name and never stops the server.
  const services = server.deps.services;
  if (services) {
    warmEngagementCaches(server.store.db, server.practiceId, services).catch((err: unknown) => {
      process.stderr.write(
        `attune: engagement cache warm-up skipped (${err instanceof Error ? err.name : 'error'})\n`,
      );
    });
  }

  await stopped;
  process.stdout.write('Stopping…\n');
  await server.close();
  return 0;
}

/** "1 h", "15 min", "90 s": a checkpoint interval for the banner. */
function formatInterval(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
