import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

// Secrets at rest (practice private keys) sealed under the master key from ATTUNE_MASTER_KEY.
// AES-256-GCM (an approved AEAD, ASVS 11.3.2) via node:crypto, in a versioned envelope so the
// format and the master key can be rotated later:
//
//   as1.<keyId>.<iv base64url>.<ciphertext||tag base64url>
//
// keyId names which master key sealed the value (a hash of it, never the key), so opening with the
// wrong master key says so instead of reporting tampering. The caller's `context` (e.g.
// "practice:<id>:signing") is bound as additional authenticated data: a sealed value copied to
// another row or purpose does not open.

const VERSION = 'as1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface MasterKey {
  /** Public identifier of the key (hash prefix), stored in envelopes. Not secret. */
  readonly id: string;
  readonly key: Buffer;
}

export type MasterKeyResult =
  { ok: true; masterKey: MasterKey } | { ok: false; reason: 'missing' | 'wrong_length' };

export type OpenResult =
  | { ok: true; plaintext: Buffer }
  | { ok: false; reason: 'malformed' | 'unsupported_version' | 'wrong_master_key' | 'tampered' };

function keyId(key: Buffer): string {
  return createHash('sha256').update('attune-master-key-id\0').update(key).digest('hex').slice(0, 16);
}

/**
 * Parses ATTUNE_MASTER_KEY: 32 bytes as 64 hex digits, or base64 / base64url (43-44 characters).
 * Never logs or echoes the value.
 */
export function parseMasterKey(value: string | undefined): MasterKeyResult {
  const v = value?.trim() ?? '';
  if (v === '') return { ok: false, reason: 'missing' };
  let bytes: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(v)) bytes = Buffer.from(v, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(v))
    bytes = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  else return { ok: false, reason: 'wrong_length' };
  if (bytes.length !== 32) return { ok: false, reason: 'wrong_length' };
  return { ok: true, masterKey: { id: keyId(bytes), key: bytes } };
}

/** A fresh random master key in the base64 form parseMasterKey accepts. */
export function generateMasterKey(): string {
  return randomBytes(32).toString('base64');
}

function aad(id: string, context: string): Buffer {
  return Buffer.from(`${VERSION}|${id}|${context}`, 'utf8');
}

export function sealSecret(masterKey: MasterKey, plaintext: Uint8Array | string, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', masterKey.key, iv);
  cipher.setAAD(aad(masterKey.id, context));
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const ct = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
  return [VERSION, masterKey.id, iv.toString('base64url'), ct.toString('base64url')].join('.');
}

export function openSecret(masterKey: MasterKey, sealed: string, context: string): OpenResult {
  const parts = sealed.split('.');
  if (parts.length !== 4) return { ok: false, reason: 'malformed' };
  const [version, id, ivText, ctText] = parts as [string, string, string, string];
  if (version !== VERSION) return { ok: false, reason: 'unsupported_version' };
  if (id !== masterKey.id) return { ok: false, reason: 'wrong_master_key' };
  const iv = Buffer.from(ivText, 'base64url');
  const ct = Buffer.from(ctText, 'base64url');
  if (iv.length !== IV_BYTES || ct.length < TAG_BYTES) return { ok: false, reason: 'malformed' };
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey.key, iv);
    decipher.setAAD(aad(id, context));
    decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
    const plaintext = Buffer.concat([
      decipher.update(ct.subarray(0, ct.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return { ok: true, plaintext };
  } catch {
    // GCM tag mismatch: the ciphertext, IV or context was altered.
    return { ok: false, reason: 'tampered' };
  }
}
