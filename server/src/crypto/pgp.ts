import * as openpgp from 'openpgp';
import type { Config, PartialConfig, PrivateKey, PublicKey } from 'openpgp';
import { archiveEncryptPool, type EncryptGate, type GatedResult } from './pool.ts';
import { installSyncWebCrypto, syncWebCryptoEnabled } from './sync-webcrypto.ts';

// The one place that imports openpgp (CONVENTIONS 7). Every call passes PGP_CONFIG explicitly; the
// global openpgp.config is never mutated, so nothing else in the process can weaken it.
//
// Interop rule (notes/security.md, tested against GnuPG 2.2.40): v4 keys only, curve25519Legacy for
// our own keys, aeadProtect and v6Keys off. With those settings OpenPGP.js produces PKESK v3 + SEIPDv1
// (CFB + MDC) unless *every* recipient key advertises SEIPDv2, which gpg 2.2 keys never do.
// SEIPDv1 is a documented deviation from ASVS 11.3.3 (approved AEAD), accepted for interop.

export type { PrivateKey, PublicKey } from 'openpgp';

// X25519, AES key wrap and Ed25519 run synchronously through node:crypto instead of as WebCrypto
// thread-pool jobs (sync-webcrypto.ts); the encryption thread does the same (pool.ts). ATTUNE_SYNC_WEBCRYPTO=0
// leaves OpenPGP.js on WebCrypto.
if (syncWebCryptoEnabled()) installSyncWebCrypto();

const PGP_CONFIG: PartialConfig = Object.freeze({
  aeadProtect: false,
  v6Keys: false,
  // No compression: avoids decompression bombs on the way in and compression oracles on the way out.
  preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed,
  preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256,
  preferredHashAlgorithm: openpgp.enums.hash.sha256,
  minRSABits: 2047,
  showVersion: false,
  showComment: false,
  allowUnauthenticatedMessages: false,
  allowUnauthenticatedStream: false,
  // Messages we decrypt are ours (archive) or patients' replies: 64 MiB is well above the 25 MB
  // attachment limit and bounds memory on hostile input.
  maxDecompressedMessageSize: 64 * 1024 * 1024,
});

/** The full config some Key methods require: defaults overlaid by ours, built without mutation. */
const FULL_CONFIG: Config = Object.freeze({ ...openpgp.config, ...PGP_CONFIG });

// Algorithms and curves GnuPG 2.2 can use. RFC 9580's X25519/Ed25519 (25/27), X448/Ed448 and the
// post-quantum algorithms are unknown to it ("Invalid public key algorithm").
const GPG22_ALGORITHMS = new Set<string>([
  'rsaEncryptSign',
  'rsaEncrypt',
  'rsaSign',
  'elgamal',
  'dsa',
  'ecdh',
  'ecdsa',
  'eddsaLegacy',
]);
const GPG22_CURVES = new Set<string>([
  'curve25519Legacy',
  'ed25519Legacy',
  'nistP256',
  'nistP384',
  'nistP521',
  'brainpoolP256r1',
  'brainpoolP384r1',
  'brainpoolP512r1',
  'secp256k1',
]);

export type PublicKeyRejection =
  | 'unreadable'
  | 'multiple_keys'
  | 'private_key'
  | 'unsupported_version'
  | 'unsupported_algorithm'
  | 'weak_key'
  | 'revoked'
  | 'expired'
  | 'no_encryption_key';

export type PublicKeyResult =
  | { ok: true; key: PublicKey; fingerprint: string; armored: string }
  | { ok: false; reason: PublicKeyRejection };

/** PHI-free, human explanation of each rejection, for 4xx messages. */
export const PUBLIC_KEY_REJECTION_MESSAGES: Record<PublicKeyRejection, string> = {
  unreadable: 'The text is not an ASCII-armored OpenPGP public key.',
  multiple_keys: 'Provide exactly one public key.',
  private_key: 'This is a private key. Provide the public key only, and keep the private key secret.',
  unsupported_version: 'Only version 4 OpenPGP keys are supported (GnuPG 2.2 cannot read version 6 keys).',
  unsupported_algorithm: 'The key uses an algorithm GnuPG 2.2 cannot use (e.g. RFC 9580 X25519/Ed25519).',
  weak_key: 'The key is too weak (RSA keys need at least 2048 bits).',
  revoked: 'The key has been revoked.',
  expired: 'The key has expired.',
  no_encryption_key: 'The key has no valid encryption subkey.',
};

function algorithmUsable(info: {
  algorithm: string;
  bits?: number;
  curve?: string;
}): PublicKeyRejection | null {
  if (!GPG22_ALGORITHMS.has(info.algorithm)) return 'unsupported_algorithm';
  if (info.curve !== undefined && !GPG22_CURVES.has(info.curve)) return 'unsupported_algorithm';
  if (info.algorithm.startsWith('rsa') && (info.bits ?? 0) < 2047) return 'weak_key';
  return null;
}

/**
 * Validates a patient's (or anyone's) ASCII-armored public key for sending: one v4 key, not private,
 * algorithms GnuPG 2.2 can use, not revoked or expired, with a usable encryption (sub)key.
 * Expected failures are values (CONVENTIONS 5).
 */
export async function readPublicKey(armored: string, now: Date = new Date()): Promise<PublicKeyResult> {
  // readKeys reads only the first armored block: a second block pasted after it would be silently
  // dropped, so count the blocks ourselves.
  const blocks = armored.match(/-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----/g) ?? [];
  if (blocks.some((b) => b.includes('PRIVATE'))) return { ok: false, reason: 'private_key' };
  if (blocks.length > 1) return { ok: false, reason: 'multiple_keys' };
  let keys: openpgp.Key[];
  try {
    keys = await openpgp.readKeys({ armoredKeys: armored, config: PGP_CONFIG });
  } catch {
    return { ok: false, reason: 'unreadable' };
  }
  if (keys.length !== 1) return { ok: false, reason: keys.length === 0 ? 'unreadable' : 'multiple_keys' };
  const key = keys[0]!;
  if (key.isPrivate()) return { ok: false, reason: 'private_key' };
  if (key.keyPacket.version !== 4) return { ok: false, reason: 'unsupported_version' };
  const primaryProblem = algorithmUsable(key.getAlgorithmInfo());
  if (primaryProblem) return { ok: false, reason: primaryProblem };
  try {
    if (await key.isRevoked(undefined, undefined, now, FULL_CONFIG)) return { ok: false, reason: 'revoked' };
  } catch {
    return { ok: false, reason: 'unreadable' };
  }
  const expiry = await key.getExpirationTime(undefined, FULL_CONFIG).catch(() => null);
  if (expiry instanceof Date && expiry.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
  try {
    await key.verifyPrimaryKey(now, undefined, FULL_CONFIG);
  } catch (err) {
    const msg = err instanceof Error ? err.message.toLowerCase() : '';
    if (msg.includes('revoked')) return { ok: false, reason: 'revoked' };
    if (msg.includes('expired')) return { ok: false, reason: 'expired' };
    return { ok: false, reason: 'unreadable' };
  }
  let encKey: openpgp.Key | openpgp.Subkey;
  try {
    encKey = await key.getEncryptionKey(undefined, now, undefined, FULL_CONFIG);
  } catch {
    return { ok: false, reason: 'no_encryption_key' };
  }
  if (encKey.keyPacket.version !== 4) return { ok: false, reason: 'unsupported_version' };
  const subProblem = algorithmUsable(encKey.getAlgorithmInfo());
  if (subProblem) return { ok: false, reason: subProblem };
  const publicKey = key;
  return {
    ok: true,
    key: publicKey,
    fingerprint: key.getFingerprint().toUpperCase(),
    armored: publicKey.armor(FULL_CONFIG),
  };
}

export interface GeneratedKey {
  publicKey: string;
  privateKey: string;
  fingerprint: string;
}

/**
 * A v4 curve25519Legacy key (Ed25519 primary for signing, X25519 subkey for encryption), unprotected:
 * the caller seals the private key under the master key (seal.ts) before storing it.
 */
export async function generateKey(userId: { name: string; email?: string }): Promise<GeneratedKey> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [userId.email ? { name: userId.name, email: userId.email } : { name: userId.name }],
    format: 'object',
    config: PGP_CONFIG,
  });
  return {
    publicKey: publicKey.armor(FULL_CONFIG),
    privateKey: privateKey.armor(FULL_CONFIG),
    fingerprint: publicKey.getFingerprint().toUpperCase(),
  };
}

/** Parses a trusted public key (our own, from the database). Throws: a bad stored key is a bug. */
export async function parseTrustedPublicKey(armored: string): Promise<PublicKey> {
  const key = await openpgp.readKey({ armoredKey: armored, config: PGP_CONFIG });
  if (key.isPrivate()) return key.toPublic();
  return key;
}

/** Parses a trusted, unprotected private key (our own, just unsealed). Throws on bad input (a bug). */
export async function parseTrustedPrivateKey(armored: string): Promise<PrivateKey> {
  const key = await openpgp.readPrivateKey({ armoredKey: armored, config: PGP_CONFIG });
  if (!key.isDecrypted())
    throw new Error('Practice private keys are sealed by the master key, not by a passphrase');
  return key;
}

export function fingerprintOf(key: PublicKey | PrivateKey): string {
  return key.getFingerprint().toUpperCase();
}

/**
 * Encrypts `data` to the recipients and signs it with `signingKey` (one OpenPGP message: the signature
 * is inside the encryption, RFC 3156 section 6.2's combined method). Binary literal data, so MIME
 * entities come out byte for byte. SEIPDv1 unless every recipient key advertises SEIPDv2.
 */
export async function encryptAndSign(opts: {
  data: Uint8Array | string;
  encryptionKeys: PublicKey | PublicKey[];
  signingKey: PrivateKey;
  date?: Date;
}): Promise<string> {
  const binary = typeof opts.data === 'string' ? new TextEncoder().encode(opts.data) : opts.data;
  const message = await openpgp.createMessage({ binary });
  // The declared return type goes through a stream conditional that resolves to any; ours is a string.
  const armored: unknown = await openpgp.encrypt<Uint8Array>({
    message,
    encryptionKeys: opts.encryptionKeys,
    signingKeys: opts.signingKey,
    format: 'armored',
    config: PGP_CONFIG,
    ...(opts.date ? { date: opts.date } : {}),
  });
  return armored as string;
}

const armoredKeys = new WeakMap<PublicKey, string>();

/** Content at rest: encrypted (not signed) to the practice's archive key, binary packets. */
export async function encryptForArchive(
  data: Uint8Array | string,
  archiveKey: PublicKey,
): Promise<Uint8Array> {
  const binary = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  // Off the event loop when a thread is available (pool.ts); the same settings either way.
  const pool = archiveEncryptPool(PGP_CONFIG);
  if (pool) return (await pool.encrypt(binary, armoredOf(archiveKey))).data!;
  return encryptInline(binary, archiveKey);
}

/**
 * encryptForArchive after a synchronous check (pool.ts EncryptGate) that may cancel it: both in one
 * trip to the encryption thread when there is one, so the check's CPU leaves the event loop too.
 */
export async function encryptForArchiveAfter<G extends { encrypt: boolean }>(
  gate: EncryptGate<G>,
  data: Uint8Array | string,
  archiveKey: PublicKey,
): Promise<GatedResult<G>> {
  const binary = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const pool = archiveEncryptPool(PGP_CONFIG);
  if (pool) return (await pool.encrypt(binary, armoredOf(archiveKey), gate)) as GatedResult<G>;
  const checked = (gate.fn as (...args: unknown[]) => G)(...gate.args);
  return { gate: checked, data: checked.encrypt ? await encryptInline(binary, archiveKey) : null };
}

function armoredOf(key: PublicKey): string {
  let armored = armoredKeys.get(key);
  if (armored === undefined) {
    armored = key.armor(FULL_CONFIG);
    armoredKeys.set(key, armored);
  }
  return armored;
}

async function encryptInline(binary: Uint8Array, archiveKey: PublicKey): Promise<Uint8Array> {
  const message = await openpgp.createMessage({ binary });
  const binaryOut: unknown = await openpgp.encrypt<Uint8Array>({
    message,
    encryptionKeys: archiveKey,
    format: 'binary',
    config: PGP_CONFIG,
  });
  return binaryOut as Uint8Array;
}

export type DecryptFailure = 'unreadable' | 'decrypt_failed' | 'unsigned' | 'bad_signature';
export type DecryptResult =
  | { ok: true; data: Uint8Array; signed: boolean; signerFingerprints: string[] }
  | { ok: false; reason: DecryptFailure };

async function readAnyMessage(input: string | Uint8Array): Promise<openpgp.Message<Uint8Array> | null> {
  try {
    if (typeof input === 'string') {
      return await openpgp.readMessage({ armoredMessage: input, config: PGP_CONFIG });
    }
    return await openpgp.readMessage({ binaryMessage: input, config: PGP_CONFIG });
  } catch {
    return null;
  }
}

export async function decryptFromArchive(
  ciphertext: Uint8Array | string,
  archiveKey: PrivateKey,
): Promise<DecryptResult> {
  return decryptAndVerify({ message: ciphertext, decryptionKey: archiveKey, expectSigned: false });
}

/**
 * Decrypts, and verifies signatures against `verificationKeys`. With expectSigned, a missing or
 * invalid signature is a failure (OpenPGP.js `expectSigned`); without it, a present-but-bad signature
 * is still reported as bad_signature rather than silently ignored. Modified ciphertext is rejected by
 * the MDC / AEAD check: the caller never gets altered plaintext.
 */
export async function decryptAndVerify(opts: {
  message: string | Uint8Array;
  decryptionKey: PrivateKey;
  verificationKeys?: PublicKey[];
  expectSigned?: boolean;
}): Promise<DecryptResult> {
  const message = await readAnyMessage(opts.message);
  if (!message) return { ok: false, reason: 'unreadable' };
  const expectSigned = opts.expectSigned ?? false;
  const verificationKeys = opts.verificationKeys ?? [];
  if (expectSigned && verificationKeys.length === 0) return { ok: false, reason: 'unsigned' };
  let result: { data: Uint8Array; signatures: openpgp.DecryptMessageResult['signatures'] };
  try {
    result = await openpgp.decrypt<Uint8Array>({
      message,
      decryptionKeys: opts.decryptionKey,
      format: 'binary',
      config: PGP_CONFIG,
      ...(verificationKeys.length > 0 ? { verificationKeys } : {}),
      ...(expectSigned ? { expectSigned: true } : {}),
    });
  } catch (err) {
    const msg = err instanceof Error ? err.message.toLowerCase() : '';
    if (expectSigned && (msg.includes('signature') || msg.includes('signed') || msg.includes('signing'))) {
      return {
        ok: false,
        reason:
          msg.includes('not signed') || msg.includes('missing') || msg.includes('no signature')
            ? 'unsigned'
            : 'bad_signature',
      };
    }
    return { ok: false, reason: 'decrypt_failed' };
  }
  const signerFingerprints: string[] = [];
  let signed = false;
  if (verificationKeys.length > 0) {
    for (const sig of result.signatures) {
      try {
        await sig.verified;
        signed = true;
        const signer = verificationKeys.find((k) => k.getKeyIDs().some((id) => id.equals(sig.keyID)));
        if (signer) signerFingerprints.push(fingerprintOf(signer));
      } catch {
        return { ok: false, reason: 'bad_signature' };
      }
    }
  }
  if (expectSigned && !signed) return { ok: false, reason: 'unsigned' };
  return { ok: true, data: result.data, signed, signerFingerprints };
}

/**
 * An OpenPGP cleartext-signed message (RFC 9580 section 7) of `text` by `signingKey`: readable as it
 * is, and `gpg --verify` checks it with the signer's public key alone.
 */
export async function signCleartext(text: string, signingKey: PrivateKey, date?: Date): Promise<string> {
  const message = await openpgp.createCleartextMessage({ text });
  return openpgp.sign({
    message,
    signingKeys: signingKey,
    config: PGP_CONFIG,
    ...(date ? { date } : {}),
  });
}

export type CleartextResult =
  | { ok: true; text: string; signerFingerprint: string }
  | { ok: false; reason: 'unreadable' | 'bad_signature' };

/**
 * The text of a cleartext-signed message when one of `verificationKeys` made a valid signature on
 * it; otherwise why not (unparseable armour, or no valid signature by those keys).
 */
export async function verifyCleartext(
  armored: string,
  verificationKeys: PublicKey[],
): Promise<CleartextResult> {
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: armored, config: PGP_CONFIG });
  } catch {
    return { ok: false, reason: 'unreadable' };
  }
  if (verificationKeys.length === 0) return { ok: false, reason: 'bad_signature' };
  try {
    const result = await openpgp.verify({
      message,
      verificationKeys,
      expectSigned: true,
      config: PGP_CONFIG,
    });
    const sig = result.signatures[0];
    if (!sig) return { ok: false, reason: 'bad_signature' };
    await sig.verified;
    const signer = verificationKeys.find((k) => k.getKeyIDs().some((id) => id.equals(sig.keyID)));
    if (!signer) return { ok: false, reason: 'bad_signature' };
    return { ok: true, text: message.getText(), signerFingerprint: fingerprintOf(signer) };
  } catch {
    return { ok: false, reason: 'bad_signature' };
  }
}
