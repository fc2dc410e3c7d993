import { openSecret, sealSecret, type MasterKey } from './seal.ts';
import {
  generateKey,
  parseTrustedPrivateKey,
  parseTrustedPublicKey,
  type PrivateKey,
  type PublicKey,
} from './pgp.ts';

// Each practice has two v4 curve25519Legacy keys, generated on first start:
//  - signing: signs what we send patients (PGP/MIME), so their mail program can check it came from us;
//  - archive: the content of every message and reply at rest is encrypted to it. Kept apart from the
//    signing key so an archive export (and its key escrow) never hands out the power to sign as the
//    practice.
// Private halves are stored sealed under the master key (seal.ts), bound to practice and purpose.

export type PracticeKeyPurpose = 'signing' | 'archive';

export interface StoredKey {
  /** ASCII-armored public key. */
  publicKey: string;
  /** The armored private key sealed under the master key (seal.ts envelope). */
  sealedPrivateKey: string;
  /** Uppercase hex v4 fingerprint. */
  fingerprint: string;
}

export interface PracticeKeys {
  signing: StoredKey;
  archive: StoredKey;
}

/** Additional authenticated data binding a sealed key to its practice and purpose. */
export function sealContext(practiceId: string, purpose: PracticeKeyPurpose): string {
  return `practice:${practiceId}:${purpose}`;
}

export async function generatePracticeKeys(opts: {
  practiceId: string;
  practiceName: string;
  /** Address in the signing key's user id (e.g. the notice From address); optional. */
  email?: string;
  masterKey: MasterKey;
}): Promise<PracticeKeys> {
  const [signing, archive] = await Promise.all([
    generateKey({ name: opts.practiceName, ...(opts.email ? { email: opts.email } : {}) }),
    generateKey({ name: `${opts.practiceName} (archive)` }),
  ]);
  return {
    signing: {
      publicKey: signing.publicKey,
      fingerprint: signing.fingerprint,
      sealedPrivateKey: sealSecret(
        opts.masterKey,
        signing.privateKey,
        sealContext(opts.practiceId, 'signing'),
      ),
    },
    archive: {
      publicKey: archive.publicKey,
      fingerprint: archive.fingerprint,
      sealedPrivateKey: sealSecret(
        opts.masterKey,
        archive.privateKey,
        sealContext(opts.practiceId, 'archive'),
      ),
    },
  };
}

export class KeyUnsealError extends Error {
  constructor(reason: string) {
    super(
      reason === 'wrong_master_key'
        ? 'A practice key was sealed under a different ATTUNE_MASTER_KEY than the one configured.'
        : `A practice key could not be unsealed (${reason}).`,
    );
    this.name = 'KeyUnsealError';
  }
}

// Parsing armored keys costs more than an X25519 operation, and every send needs the practice keys:
// keep parsed keys in memory, keyed by the exact stored value (a rotated key is a new entry).
const MAX_CACHED = 1000;
const privateCache = new Map<string, Promise<PrivateKey>>();
const publicCache = new Map<string, Promise<PublicKey>>();

function remember<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  const hit = cache.get(key);
  if (hit) return hit;
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
  const p = make();
  cache.set(key, p);
  p.catch(() => cache.delete(key));
  return p;
}

/**
 * Unseals and parses a practice private key. Throws KeyUnsealError when the master key is wrong or
 * the stored value was altered: a deployment fault that no request can fix.
 */
export function loadPrivateKey(
  masterKey: MasterKey,
  practiceId: string,
  purpose: PracticeKeyPurpose,
  sealedPrivateKey: string,
): Promise<PrivateKey> {
  return remember(privateCache, `${masterKey.id}|${practiceId}|${purpose}|${sealedPrivateKey}`, async () => {
    const opened = openSecret(masterKey, sealedPrivateKey, sealContext(practiceId, purpose));
    if (!opened.ok) throw new KeyUnsealError(opened.reason);
    return parseTrustedPrivateKey(opened.plaintext.toString('utf8'));
  });
}

/** Parses a stored (trusted) public key, cached. */
export function loadPublicKey(armored: string): Promise<PublicKey> {
  return remember(publicCache, armored, () => parseTrustedPublicKey(armored));
}
