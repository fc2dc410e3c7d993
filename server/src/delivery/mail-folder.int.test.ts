import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { testConfig } from '../config.ts';
import { loadDevIssuer } from '../identity/index.ts';
import { startServer } from '../index.ts';

// The embedded default for `npm start`: with no SMTP_URL, each outgoing email is one .eml file in
// DATA_DIR/mail, and start-up says so.
it('writes what a patient would receive to DATA_DIR/mail when no SMTP relay is configured', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'attune-mailfolder-'));
  const server = await startServer(
    testConfig(dataDir, { PRACTICE_NAME: 'Calm Waters Counseling', PRACTICE_DOMAINS: 'calm.example' }),
  );
  try {
    expect(server.notices.join('\n')).toContain(`mail folder ${join(dataDir, 'mail')}`);
    const issuer = await loadDevIssuer({
      dataDir,
      issuer: server.config.identity.dev.issuer,
      audience: server.config.identity.dev.audience,
      ttlSeconds: 600,
    });
    const token = await issuer.sign({ email: 'dr.lee@calm.example' });
    const r = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: ['pat@patient.example'], subject: 'Results', text: 'Your A1C is 6.1.' }),
    });
    expect(r.status).toBe(202);
    const dir = join(dataDir, 'mail');
    let files: string[] = [];
    for (let i = 0; i < 200 && files.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 25));
      files = readdirSync(dir).filter((f) => f.endsWith('.eml'));
    }
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^notice-[0-9a-f]{16}\.eml$/);
    const eml = readFileSync(join(dir, files[0]!), 'utf8');
    expect(eml).toContain('Subject: You have a secure message from Calm Waters Counseling');
    expect(eml).toContain('To: pat@patient.example');
    expect(eml).not.toContain('A1C');
    expect(eml).not.toContain('Results');
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
