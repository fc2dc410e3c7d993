// Builds the add-in into a temporary folder (ATTUNE_OUT_DIR), so tests never race the dist/ that a
// running server serves, nor each other.
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const BUILD = fileURLToPath(new URL('../../build.mjs', import.meta.url));

export async function buildInto(env: Record<string, string> = {}): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'attune-addin-'));
  await promisify(execFile)(process.execPath, [BUILD], {
    env: { ...process.env, ...env, ATTUNE_OUT_DIR: out },
  });
  return out;
}
