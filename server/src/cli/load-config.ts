import { ConfigError, loadConfig, type Config } from '../config.ts';

/**
 * The configuration for a CLI command, or null after telling the admin on stderr which variables are
 * wrong (never their values). Bugs other than a bad configuration still throw.
 */
export function loadConfigOrReport(): Config | null {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`attune: ${err.message}\n`);
      return null;
    }
    throw err;
  }
}
