import { parseArgs, type ParseArgsConfig } from 'node:util';

// Exit codes and the usage error shared by the admin commands (`attune practice`, `attune archive`):
// 0 done, 1 refused (the store or a check said no), 2 usage or setup.
export const OK = 0;
export const REFUSED = 1;
export const USAGE_ERROR = 2;

/** Bad arguments: the command prints its usage with the message and exits USAGE_ERROR. */
export class UsageError extends Error {}

/**
 * Strict flags for a command with no subcommands: unknown flags and stray arguments are usage
 * errors (a misspelled `--againts` must not run a check other than the one asked for), and
 * `--help`/`-h` prints the usage and does nothing else. Returns the flags, or the exit code to end with.
 */
export function commandFlags<O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  usage: string,
  args: string[],
  options: O,
): ReturnType<typeof parseArgs<{ options: O; strict: true }>>['values'] | number {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage);
    return OK;
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    process.stderr.write(`attune ${command}: ${(err as Error).message}\n\n${usage}`);
    return USAGE_ERROR;
  }
}
