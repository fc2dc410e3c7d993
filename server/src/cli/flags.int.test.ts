// The long-running and token commands take no unknown flags: `attune serve --port 8080` would
// otherwise start on the environment's port, `attune token --dev --email x --admn` print a token
// without the role asked for. --help prints the usage and exits 0. The real binary, as admins run it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { attune } from './testing.ts';

describe('strict flags of attune serve, gateway and token (real CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attune-flags-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { DATA_DIR: dir, ATTUNE_ENV: 'development', PRACTICE_DOMAINS: 'calm.example' };

  it.each([
    ['serve', '--port', '8080'],
    ['gateway', '--port', '2525'],
    ['token', '--dev', '--email', 'dr.lee@calm.example', '--admn'],
    ['token', '--devv', '--email', 'dr.lee@calm.example'],
  ])(
    'refuses attune %s with an unknown flag (exit 2, usage), doing nothing',
    async (...args) => {
      const r = await attune(args, env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/Unknown option '--/);
      expect(r.stderr).toContain(`usage: attune ${args[0]}`);
      expect(r.stdout).toBe('');
    },
    60_000,
  );

  it.each(['serve', 'gateway', 'token'])(
    'prints the usage of attune %s for --help and exits 0',
    async (cmd) => {
      const r = await attune([cmd, '--help'], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: attune ${cmd}`);
    },
    60_000,
  );

  it('still prints a token for the documented flags, with the admin role when asked', async () => {
    const r = await attune(['token', '--dev', '--email', 'dr.lee@calm.example', '--admin'], env);
    expect(r.code).toBe(0);
    const payload = JSON.parse(Buffer.from(r.stdout.trim().split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(payload['email']).toBe('dr.lee@calm.example');
    expect(JSON.stringify(payload)).toContain('admin');
  }, 60_000);
});
