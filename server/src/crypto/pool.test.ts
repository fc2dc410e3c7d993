import { describe, expect, it } from 'vitest';
import {
  decryptFromArchive,
  encryptForArchive,
  generateKey,
  parseTrustedPrivateKey,
  parseTrustedPublicKey,
} from './pgp.ts';
import { archiveEncryptPool } from './pool.ts';

// The archive encryption thread (pool.ts) must produce what the inline path produces: ciphertext
// only the archive key opens, with the same settings (no compression, SEIPDv1 for gpg 2.2).

describe('archive encryption on a worker thread', () => {
  it('encrypts on the thread to bytes the archive key decrypts, concurrently and in order', async () => {
    const archive = await generateKey({ name: 'Archive' });
    const pub = await parseTrustedPublicKey(archive.publicKey);
    const priv = await parseTrustedPrivateKey(archive.privateKey);
    const texts = Array.from({ length: 20 }, (_, i) => `message ${i}: ${'x'.repeat(i * 50)}`);
    const sealed = await Promise.all(texts.map((t) => encryptForArchive(t, pub)));
    // The first use made the pool with pgp.ts's settings; it exists on more than one core.
    expect(archiveEncryptPool({})).not.toBeNull();
    for (const [i, ct] of sealed.entries()) {
      expect(Buffer.from(ct).includes(Buffer.from(texts[i]!))).toBe(false);
      const opened = await decryptFromArchive(ct, priv);
      expect(opened.ok && Buffer.from(opened.data).toString('utf8')).toBe(texts[i]);
    }
    const other = await parseTrustedPrivateKey((await generateKey({ name: 'Other' })).privateKey);
    expect((await decryptFromArchive(sealed[0]!, other)).ok).toBe(false);
  });

  it('rejects with a clear error when the key cannot be used, and keeps serving', async () => {
    const pool = archiveEncryptPool({});
    await expect(pool!.encrypt(new TextEncoder().encode('x'), 'not a key')).rejects.toThrow(
      /archive encryption failed/,
    );
    const archive = await generateKey({ name: 'Archive' });
    const ct = (await pool!.encrypt(new TextEncoder().encode('still here'), archive.publicKey)).data!;
    const opened = await decryptFromArchive(ct, await parseTrustedPrivateKey(archive.privateKey));
    expect(opened.ok && Buffer.from(opened.data).toString('utf8')).toBe('still here');
  });
});

describe('an encryption gated by a check on the same thread', () => {
  it('runs the check there, encrypts when it allows, and does not when it cancels, with the inline verdict', async () => {
    const { DEFAULT_POLICY } = await import('@attune/shared/api');
    const { scanGate, scanForSend } = await import('../delivery/scan-gate.ts');
    const archive = await generateKey({ name: 'Archive' });
    const priv = await parseTrustedPrivateKey(archive.privateKey);
    const policy = { ...DEFAULT_POLICY, blockTypes: ['SSN' as const] };
    const recipients = [{ email: 'pat@example.com', isPatient: true }];
    const allowed = {
      subject: 'Your visit',
      body: 'See you at 3 pm on Tuesday for your therapy session.',
      to: ['pat@example.com'],
    };
    const blocked = {
      subject: 'Form',
      body: 'My SSN is 512-48-3307 for the intake form.',
      to: ['pat@example.com'],
    };
    const pool = archiveEncryptPool({});
    for (const message of [allowed, blocked]) {
      const g = scanGate(policy, message, recipients);
      const r = await pool!.encrypt(new TextEncoder().encode('content'), archive.publicKey, g);
      // The verdict that crossed back is the one the same function gives here.
      expect(r.gate).toEqual(scanForSend(policy, message, recipients));
      if (message === blocked) {
        expect(r.gate).toMatchObject({ encrypt: false, decision: { decision: 'block' } });
        expect(r.data).toBeNull();
      } else {
        expect(r.gate).toMatchObject({ encrypt: true });
        const opened = await decryptFromArchive(r.data!, priv);
        expect(opened.ok && Buffer.from(opened.data).toString('utf8')).toBe('content');
      }
    }
  });
});
