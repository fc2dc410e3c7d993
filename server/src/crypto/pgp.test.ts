import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decryptAndVerify,
  decryptFromArchive,
  encryptAndSign,
  encryptForArchive,
  generateKey,
  parseTrustedPrivateKey,
  parseTrustedPublicKey,
  readPublicKey,
  type PrivateKey,
  type PublicKey,
} from './pgp.ts';
import { generatePracticeKeys, loadPrivateKey, loadPublicKey, KeyUnsealError } from './practice-keys.ts';
import { generateMasterKey, parseMasterKey, type MasterKey } from './seal.ts';

// This test imports openpgp directly only to build keys our wrapper refuses to make (v6, RFC 9580
// algorithms, expired): production code goes through ./pgp.ts.

let practicePriv: PrivateKey;
let practicePub: PublicKey;
let patientPriv: PrivateKey;
let patientPub: PublicKey;

beforeAll(async () => {
  const practice = await generateKey({ name: 'Practice', email: 'notices@practice.example' });
  practicePriv = await parseTrustedPrivateKey(practice.privateKey);
  practicePub = await parseTrustedPublicKey(practice.publicKey);
  const patient = await generateKey({ name: 'Patient' });
  patientPriv = await parseTrustedPrivateKey(patient.privateKey);
  patientPub = await parseTrustedPublicKey(patient.publicKey);
});

describe('generateKey', () => {
  it('makes v4 keys on curve25519Legacy (readable by GnuPG 2.2)', async () => {
    const k = await generateKey({ name: 'P' });
    const key = await parseTrustedPrivateKey(k.privateKey);
    expect(key.keyPacket.version).toBe(4);
    expect(key.getAlgorithmInfo()).toMatchObject({ algorithm: 'eddsaLegacy', curve: 'ed25519Legacy' });
    const sub = key.subkeys[0]!;
    expect(sub.getAlgorithmInfo()).toMatchObject({ algorithm: 'ecdh', curve: 'curve25519Legacy' });
    expect(k.fingerprint).toMatch(/^[0-9A-F]{40}$/);
  });

  it('leaves the global openpgp.config untouched', async () => {
    const before = JSON.stringify({ ...openpgp.config, rejectCurves: [...openpgp.config.rejectCurves] });
    await generateKey({ name: 'P' });
    await encryptForArchive('x', patientPub);
    expect(JSON.stringify({ ...openpgp.config, rejectCurves: [...openpgp.config.rejectCurves] })).toBe(
      before,
    );
  });
});

describe('readPublicKey', () => {
  it('accepts a v4 curve25519Legacy public key and reports its fingerprint', async () => {
    const r = await readPublicKey(patientPub.armor());
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.fingerprint).toBe(patientPub.getFingerprint().toUpperCase());
  });

  it('accepts an RSA 3072 key', async () => {
    const { publicKey } = await openpgp.generateKey({ type: 'rsa', rsaBits: 3072, userIDs: [{ name: 'R' }] });
    expect((await readPublicKey(publicKey)).ok).toBe(true);
  }, 30_000);

  it('refuses a private key given as a public key', async () => {
    expect(await readPublicKey(patientPriv.armor())).toEqual({ ok: false, reason: 'private_key' });
  });

  it('refuses a v6 key (GnuPG 2.2 cannot import it)', async () => {
    const { publicKey } = await openpgp.generateKey({
      type: 'curve25519',
      userIDs: [{ name: 'V6' }],
      config: { v6Keys: true },
    });
    expect(await readPublicKey(publicKey)).toEqual({ ok: false, reason: 'unsupported_version' });
  });

  it('refuses an RFC 9580 X25519/Ed25519 v4 key (GnuPG 2.2: "Invalid public key algorithm")', async () => {
    const { publicKey } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ name: 'New' }] });
    expect(await readPublicKey(publicKey)).toEqual({ ok: false, reason: 'unsupported_algorithm' });
  });

  it('refuses an expired key', async () => {
    const { publicKey } = await openpgp.generateKey({
      type: 'ecc',
      userIDs: [{ name: 'Old' }],
      keyExpirationTime: 3600,
      date: new Date(Date.now() - 48 * 3600_000),
    });
    expect(await readPublicKey(publicKey)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a revoked key', async () => {
    const { privateKey } = await openpgp.generateKey({
      type: 'ecc',
      userIDs: [{ name: 'Gone' }],
      format: 'object',
    });
    const { publicKey } = await openpgp.revokeKey({ key: privateKey });
    expect(await readPublicKey(publicKey)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('refuses two keys in one block and text that is not a key', async () => {
    const two = patientPub.armor() + '\n' + practicePub.armor();
    expect(await readPublicKey(two)).toEqual({ ok: false, reason: 'multiple_keys' });
    expect(await readPublicKey('hello')).toEqual({ ok: false, reason: 'unreadable' });
    expect(await readPublicKey('')).toEqual({ ok: false, reason: 'unreadable' });
  });
});

describe('encryptAndSign / decryptAndVerify', () => {
  it('round-trips and verifies the practice signature', async () => {
    const armored = await encryptAndSign({
      data: 'Session notes follow.',
      encryptionKeys: patientPub,
      signingKey: practicePriv,
    });
    expect(armored).toContain('-----BEGIN PGP MESSAGE-----');
    const r = await decryptAndVerify({
      message: armored,
      decryptionKey: patientPriv,
      verificationKeys: [practicePub],
      expectSigned: true,
    });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(new TextDecoder().decode(r.data)).toBe('Session notes follow.');
      expect(r.signerFingerprints).toEqual([practicePub.getFingerprint().toUpperCase()]);
    }
  });

  it('uses SEIPDv1 for a recipient key that does not advertise SEIPDv2', async () => {
    const armored = await encryptAndSign({ data: 'x', encryptionKeys: patientPub, signingKey: practicePriv });
    const msg = await openpgp.readMessage({ armoredMessage: armored });
    const tags = msg.packets.map((p) => (p.constructor as unknown as { tag: number }).tag);
    expect(tags).toContain(openpgp.enums.packet.symEncryptedIntegrityProtectedData);
    const seipd = msg.packets.find(
      (p) => (p.constructor as unknown as { tag: number }).tag === 18,
    ) as unknown as {
      version: number;
    };
    expect(seipd.version).toBe(1);
  });

  it('fails expectSigned when the signer is not the expected key', async () => {
    const armored = await encryptAndSign({ data: 'x', encryptionKeys: patientPub, signingKey: practicePriv });
    const r = await decryptAndVerify({
      message: armored,
      decryptionKey: patientPriv,
      verificationKeys: [patientPub],
      expectSigned: true,
    });
    expect(r.ok).toBe(false);
  });

  it('fails expectSigned on an unsigned message', async () => {
    const bin = await encryptForArchive('x', patientPub);
    const r = await decryptAndVerify({
      message: bin,
      decryptionKey: patientPriv,
      verificationKeys: [practicePub],
      expectSigned: true,
    });
    expect(r).toEqual({ ok: false, reason: 'unsigned' });
  });

  it('fails with the wrong decryption key, and on garbage', async () => {
    const bin = await encryptForArchive('x', patientPub);
    expect(await decryptFromArchive(bin, practicePriv)).toEqual({ ok: false, reason: 'decrypt_failed' });
    expect(await decryptFromArchive(new Uint8Array([1, 2, 3]), practicePriv)).toEqual({
      ok: false,
      reason: 'unreadable',
    });
    expect(await decryptFromArchive('not armored', practicePriv)).toEqual({
      ok: false,
      reason: 'unreadable',
    });
  });

  it('never returns modified plaintext when any bit of the ciphertext is flipped', async () => {
    const plaintext = 'Take 50 mg sertraline daily.';
    const ct = await encryptForArchive(plaintext, patientPub);
    let accepted = 0;
    for (let i = 0; i < ct.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = new Uint8Array(ct);
        flipped[i] = flipped[i]! ^ (1 << bit);
        const r = await decryptFromArchive(flipped, patientPriv);
        if (r.ok) {
          accepted++;
          expect(new TextDecoder().decode(r.data)).toBe(plaintext);
        }
      }
    }
    // Almost every flip must be rejected outright (the openpgp/gpg sweep accepted 1 of 160 positions).
    expect(accepted).toBeLessThan(ct.length);
  }, 60_000);

  it('never returns modified plaintext when a signed message is altered', async () => {
    const armored = await encryptAndSign({
      data: 'hello',
      encryptionKeys: patientPub,
      signingKey: practicePriv,
    });
    const bin = (await openpgp.readMessage({ armoredMessage: armored })).write();
    for (let i = 0; i < bin.length; i += 3) {
      const flipped = new Uint8Array(bin);
      flipped[i] = flipped[i]! ^ 0x10;
      const r = await decryptAndVerify({
        message: flipped,
        decryptionKey: patientPriv,
        verificationKeys: [practicePub],
        expectSigned: true,
      });
      if (r.ok) expect(new TextDecoder().decode(r.data)).toBe('hello');
    }
  }, 60_000);
});

describe('practice keys', () => {
  function mk(): MasterKey {
    const r = parseMasterKey(generateMasterKey());
    if (!r.ok) throw new Error(r.reason);
    return r.masterKey;
  }

  it('generates a signing and an archive key, sealed, that work together', async () => {
    const masterKey = mk();
    const keys = await generatePracticeKeys({ practiceId: 'p1', practiceName: 'Calm Practice', masterKey });
    expect(keys.signing.sealedPrivateKey).not.toContain('PRIVATE KEY');
    expect(keys.signing.fingerprint).not.toBe(keys.archive.fingerprint);
    const archivePriv = await loadPrivateKey(masterKey, 'p1', 'archive', keys.archive.sealedPrivateKey);
    const archivePub = await loadPublicKey(keys.archive.publicKey);
    const ct = await encryptForArchive('content', archivePub);
    const r = await decryptFromArchive(ct, archivePriv);
    expect(r.ok && new TextDecoder().decode(r.data)).toBe('content');
  });

  it('refuses to unseal with another master key or for another practice', async () => {
    const masterKey = mk();
    const keys = await generatePracticeKeys({ practiceId: 'p1', practiceName: 'X', masterKey });
    await expect(loadPrivateKey(mk(), 'p1', 'signing', keys.signing.sealedPrivateKey)).rejects.toBeInstanceOf(
      KeyUnsealError,
    );
    await expect(
      loadPrivateKey(masterKey, 'p2', 'signing', keys.signing.sealedPrivateKey),
    ).rejects.toBeInstanceOf(KeyUnsealError);
  });
});
