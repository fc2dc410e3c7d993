// build.mjs picks the server address the send handler calls with the server's own rule:
// ATTUNE_PUBLIC_URL, else PUBLIC_URL, else https://localhost:${PORT ?? 3000}.
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInto } from './testing/build-once.ts';

const BUILD = fileURLToPath(new URL('../build.mjs', import.meta.url));
const built: string[] = [];
afterAll(async () => {
  await Promise.all(built.map((d) => rm(d, { recursive: true, force: true })));
});

/** Builds with exactly these address settings (the test runner's own PORT/PUBLIC_URL cleared). */
async function handlerFor(env: Record<string, string>): Promise<string> {
  const dir = await buildInto({ PORT: '', PUBLIC_URL: '', ATTUNE_PUBLIC_URL: '', ...env });
  built.push(dir);
  return readFile(join(dir, 'launchevent.js'), 'utf8');
}

describe('build.mjs server address', () => {
  it('follows PORT when no public URL is set, like the server', async () => {
    const js = await handlerFor({ PORT: '3443' });
    expect(js).toContain('"https://localhost:3443"');
    expect(js).not.toContain('localhost:3000');
  }, 60_000);

  it('defaults to https://localhost:3000 without PORT', async () => {
    expect(await handlerFor({})).toContain('"https://localhost:3000"');
  }, 60_000);

  it('uses PUBLIC_URL over PORT, and ATTUNE_PUBLIC_URL over both', async () => {
    expect(await handlerFor({ PORT: '3443', PUBLIC_URL: 'https://attune.example.org/' })).toContain(
      '"https://attune.example.org"',
    );
    expect(
      await handlerFor({
        PORT: '3443',
        PUBLIC_URL: 'https://attune.example.org',
        ATTUNE_PUBLIC_URL: 'https://addin.example.org',
      }),
    ).toContain('"https://addin.example.org"');
  }, 60_000);

  it('refuses a PORT that is not a port number', async () => {
    const run = promisify(execFile)(process.execPath, [BUILD], {
      env: {
        ...process.env,
        PORT: 'eighty',
        PUBLIC_URL: '',
        ATTUNE_PUBLIC_URL: '',
        ATTUNE_OUT_DIR: join(fileURLToPath(new URL('.', import.meta.url)), 'never-built'),
      },
    });
    await expect(run).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('PORT must be a port number') as unknown,
    });
  }, 60_000);
});
