// What the server checks about its setting as it starts (and the CLI as it creates the store). The data folder holds patient data:
// folder open to others is tightened (the server says so at start).
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { testConfig } from './config.ts';
import { generateMasterKey } from './crypto/index.ts';
import { createLogger } from './log.ts';
import { startServer } from './index.ts';
import { ensurePrivateDir } from './store/private-dir.ts';
import { openStore } from './store/store.ts';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('start-up checks: a private data folder, a reply domain in production', () => {
  const dirs: string[] = [];
  const temp = () => {
    const d = mkdtempSync(join(tmpdir(), 'attune-dir-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('creates a missing folder 0700 whatever the umask, tightens an open one, leaves a private one', () => {
    const root = temp();
    const old = process.umask(0o000);
    try {
      expect(ensurePrivateDir(join(root, 'a', 'data'))).toBe('created');
    } finally {
      process.umask(old);
    }
    expect(mode(join(root, 'a', 'data'))).toBe(0o700);
    const open = join(root, 'open');
    mkdirSync(open, { mode: 0o755 });
    expect(ensurePrivateDir(open)).toBe('tightened');
    expect(mode(open)).toBe(0o700);
    expect(ensurePrivateDir(open)).toBe('private');
  });

  it('a CLI opening the embedded store first (attune demo before npm start) creates the folder 0700', async () => {
    const dataDir = join(temp(), 'data');
    const store = await openStore({ dataDir });
    try {
      expect(mode(dataDir)).toBe(0o700);
    } finally {
      await store.close();
    }
  });

  it('the server tightens a data folder left open to others, and says so', async () => {
    const dataDir = join(temp(), 'data');
    mkdirSync(dataDir, { mode: 0o755 });
    const server = await startServer(testConfig(dataDir));
    try {
      expect(mode(dataDir)).toBe(0o700);
      expect(server.notices.join('\n')).toMatch(/Data folder .* was open to other users: now 0700/);
    } finally {
      await server.close();
    }
  });

  it("warns at start, in production, when a practice has no reply domain (patients' email replies would be lost)", async () => {
    const start = async (extra: Record<string, string>) => {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString('utf8'));
          done();
        },
      });
      const server = await startServer(
        testConfig(join(temp(), 'data'), {
          ATTUNE_ENV: 'production',
          HOST: '127.0.0.1',
          PUBLIC_URL: 'https://attune.example.org',
          ATTUNE_MASTER_KEY: generateMasterKey(),
          SMTP_URL: 'smtp://127.0.0.1:9',
          GOOGLE_CLIENT_IDS: 'client.apps.googleusercontent.com',
          PRACTICE_DOMAINS: 'calm.example',
          GATEWAY_PORT: '0',
          ...extra,
        }),
        { logger: createLogger({ level: 'info', destination }) },
      );
      await server.close();
      return lines.join('');
    };
    expect(await start({})).toContain('"event":"no_reply_domain"');
    expect(await start({ PRACTICE_REPLY_DOMAIN: 'reply.calm.example' })).not.toContain('no_reply_domain');
  });
});
