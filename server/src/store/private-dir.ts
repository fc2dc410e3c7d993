import { chmodSync, mkdirSync, statSync } from 'node:fs';

/**
 * Makes `dir` (and any missing parents) a folder only its owner can enter: it holds patient data
 * (the SQLite store, the master key, the mail folder), so whichever command creates it first (the
 * server, `attune demo`, `attune token --dev`) creates it 0700, and a folder that exists open to
 * others is tightened. 'tightened' tells the caller to say so; 'open' means it could not be (another
 * owner's folder): the caller should warn.
 */
export function ensurePrivateDir(dir: string): 'created' | 'private' | 'tightened' | 'open' {
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) {
    // The mode is masked by the umask: a permissive one cannot widen 0700, but say it exactly.
    chmodSync(dir, 0o700);
    return 'created';
  }
  if ((statSync(dir).mode & 0o077) === 0) return 'private';
  try {
    chmodSync(dir, 0o700);
    return 'tightened';
  } catch {
    return 'open';
  }
}
