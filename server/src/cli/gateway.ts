import { commandFlags } from './exit.ts';

// `attune gateway`: the SMTP gateway as its own process (when it should live apart from the HTTP
// server, or run as several processes: GATEWAY_PROCESSES). Same environment as `attune serve`.

export async function run(args: string[]): Promise<number> {
  // No flags: settings are environment variables (GATEWAY_*), as for `attune serve`.
  const flags = commandFlags(
    'gateway',
    'usage: attune gateway\n\n' +
      "Runs the SMTP gateway (outbound enforcement and plain-email replies) with the server's store and\n" +
      'delivery pipeline. Settings: GATEWAY_PORT, GATEWAY_ALLOWED_SOURCES, GATEWAY_AUTH_USERS,\n' +
      'GATEWAY_TLS_CERT/KEY, GATEWAY_REQUIRE_TLS, GATEWAY_REPLY_DOMAIN, GATEWAY_PROCESSES (see README).\n',
    args,
    {},
  );
  if (typeof flags === 'number') return flags;
  await import('../gateway/child.ts');
  // The gateway serves until SIGTERM/SIGINT, which exit the process.
  return new Promise<number>(() => {});
}
