import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpgHome } from './gpg-cli.ts';
import {
  decryptAndVerify,
  encryptAndSign,
  encryptForArchive,
  generateKey,
  parseTrustedPrivateKey,
  parseTrustedPublicKey,
  readPublicKey,
  type PrivateKey,
  type PublicKey,
} from './pgp.ts';

// Interop with the real GnuPG 2.2 binary: what we send must decrypt and verify there, and keys made
// by gpg must work as patient keys (notes/security.md, "Interop").

let gpg: GpgHome;
let practicePriv: PrivateKey;
let practicePub: PublicKey;

beforeAll(async () => {
  gpg = await GpgHome.create();
  const practice = await generateKey({ name: 'Calm Practice', email: 'notices@calm.example' });
  practicePriv = await parseTrustedPrivateKey(practice.privateKey);
  practicePub = await parseTrustedPublicKey(practice.publicKey);
});
afterAll(async () => {
  await gpg.dispose();
});

describe('GnuPG 2.2 interop', () => {
  it('gpg decrypts a message we encrypt to our own key and verifies our signature', async () => {
    const patient = await generateKey({ name: 'Patient', email: 'pat@example.org' });
    await gpg.importKey(patient.privateKey);
    await gpg.importKey(practicePub.armor());
    const body = 'Content-Type: text/plain; charset=utf-8\r\n\r\nSee you Tuesday.\r\n';
    const armored = await encryptAndSign({
      data: body,
      encryptionKeys: await parseTrustedPublicKey(patient.publicKey),
      signingKey: practicePriv,
    });
    const r = await gpg.decrypt(armored);
    expect(r.code).toBe(0);
    expect(r.stdout.toString('utf8')).toBe(body);
    expect(r.status.some((l) => l.startsWith('[GNUPG:] GOODSIG'))).toBe(true);
    expect(
      r.status.some((l) => l.startsWith(`[GNUPG:] VALIDSIG ${practicePub.getFingerprint().toUpperCase()}`)),
    ).toBe(true);
    expect(r.status.some((l) => l.startsWith('[GNUPG:] DECRYPTION_OKAY'))).toBe(true);
  }, 30_000);

  it.each([
    ['future-default (ed25519/cv25519)', 'future-default', false],
    ['rsa3072 with an encryption subkey', 'rsa3072', true],
  ])(
    'accepts a gpg-made %s key as a patient key, and gpg decrypts what we send to it',
    async (_label, algo, sub) => {
      const made = await gpg.generateKey(`p-${algo}@example.org`, algo, 'never', sub);
      const r = await readPublicKey(made.publicKey);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.fingerprint).toBe(made.fingerprint);
      const armored = await encryptAndSign({
        data: 'binary \u00e9 data',
        encryptionKeys: r.key,
        signingKey: practicePriv,
      });
      const out = await gpg.decrypt(armored);
      expect(out.code).toBe(0);
      expect(out.stdout.toString('utf8')).toBe('binary \u00e9 data');
      expect(out.status.some((l) => l.startsWith('[GNUPG:] GOODSIG'))).toBe(true);
    },
    60_000,
  );

  it('refuses a gpg-made sign-only key (nothing to encrypt to)', async () => {
    const made = await gpg.generateKey('signonly@example.org', 'rsa3072');
    expect(await readPublicKey(made.publicKey)).toEqual({ ok: false, reason: 'no_encryption_key' });
  }, 60_000);

  it('decrypts and verifies a reply gpg signs and encrypts to our key', async () => {
    const made = await gpg.generateKey('replier@example.org');
    const ours = await generateKey({ name: 'Archive' });
    await gpg.importKey(ours.publicKey);
    const oursPub = await parseTrustedPublicKey(ours.publicKey);
    const enc = await gpg.run(
      [
        '--armor',
        '--trust-model',
        'always',
        '--local-user',
        made.fingerprint,
        '--sign',
        '--encrypt',
        '--recipient',
        oursPub.getFingerprint(),
      ],
      'reply from gpg',
    );
    expect(enc.code).toBe(0);
    const patientKey = await readPublicKey(made.publicKey);
    if (!patientKey.ok) throw new Error(patientKey.reason);
    const r = await decryptAndVerify({
      message: enc.stdout.toString('utf8'),
      decryptionKey: await parseTrustedPrivateKey(ours.privateKey),
      verificationKeys: [patientKey.key],
      expectSigned: true,
    });
    expect(r.ok && new TextDecoder().decode(r.data)).toBe('reply from gpg');
  }, 60_000);

  it('refuses a gpg key once it is revoked, and once it has expired', async () => {
    const made = await gpg.generateKey('short@example.org', 'future-default', '1d');
    expect((await readPublicKey(made.publicKey)).ok).toBe(true);
    const later = new Date(Date.now() + 3 * 86400_000);
    expect(await readPublicKey(made.publicKey, later)).toEqual({ ok: false, reason: 'expired' });
    await gpg.importKey(await gpg.revocationCertificate(made.fingerprint));
    const revoked = (await gpg.run(['--armor', '--export', made.fingerprint])).stdout.toString('utf8');
    expect(await readPublicKey(revoked)).toEqual({ ok: false, reason: 'revoked' });
  }, 60_000);

  it('gpg rejects our archive ciphertext when one byte is altered (MDC), and accepts it intact', async () => {
    const patient = await generateKey({ name: 'P2' });
    await gpg.importKey(patient.privateKey);
    const ct = await encryptForArchive('original text', await parseTrustedPublicKey(patient.publicKey));
    expect((await gpg.decrypt(ct)).stdout.toString('utf8')).toBe('original text');
    const tampered = new Uint8Array(ct);
    tampered[tampered.length - 5] = tampered[tampered.length - 5]! ^ 0x01;
    const r = await gpg.decrypt(tampered);
    // gpg streams plaintext as it goes and then fails the whole run; what matters is the failure status.
    expect(r.code).not.toBe(0);
    expect(r.status.some((l) => l.startsWith('[GNUPG:] DECRYPTION_FAILED') || l.includes('BADMDC'))).toBe(
      true,
    );
  }, 30_000);
});
