import type { webcrypto } from 'node:crypto';
import {
  KeyObject,
  createCipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';

// X25519, AES key wrap and Ed25519 for OpenPGP.js without WebCrypto's thread-pool round trips.
//
// Encrypting to a curve25519Legacy key, OpenPGP.js calls WebCrypto for an ephemeral X25519 key
// (generateKey), the shared secret (deriveBits) and the session key wrap (wrapKey, AES-KW). In Node
// each of those is a job on libuv's thread pool: the calling thread posts it, the pool runs it, and
// the calling thread's event loop picks the result up later. The work is microseconds; the round
// trip, under load on a 2-core machine, is milliseconds (three per encryption, in turn): measured on
// the secure-send path, the trip to the encryption thread fell from ~14 ms to ~5 ms with this.
// Signing a PGP/MIME message (Ed25519: importKey, sign) and checking a signature (verify) likewise.
//
// Here the same operations run synchronously through node:crypto, the same OpenSSL code WebCrypto
// uses underneath, and the promise OpenPGP.js awaits is already settled. Only these exact forms are
// taken over; every other call (key generation other than X25519, AES-KW unwrapping, HKDF, anything
// of another library in the process) goes to WebCrypto unchanged. WebCrypto's checks are kept: extractable keys
// only are exported or wrapped, usages are honoured, and an all-zero X25519 secret (a small-order
// public key) is refused with OperationError, as the WebCrypto spec requires.

type Subtle = webcrypto.SubtleCrypto;
type Algorithm = string | { name: string; public?: unknown };
type Okp = 'X25519' | 'Ed25519';

/** An X25519 or Ed25519 key held by node:crypto (what importKey, and generateKey for X25519, return here). */
class NodeOkpKey {
  readonly algorithm: { name: Okp };
  constructor(
    name: Okp,
    readonly type: 'public' | 'private',
    readonly extractable: boolean,
    readonly usages: readonly string[],
    readonly key: KeyObject,
  ) {
    this.algorithm = { name };
  }
}

const INSTALLED = Symbol.for('attune.syncWebCrypto');
const AES_KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex'); // RFC 3394 default initial value
const USAGES: Record<Okp, { private: readonly string[]; public: readonly string[] }> = {
  X25519: { private: ['deriveKey', 'deriveBits'], public: [] },
  Ed25519: { private: ['sign'], public: ['verify'] },
};

function okpOf(alg: unknown): Okp | null {
  const name = typeof alg === 'string' ? alg : (alg as { name?: unknown } | null)?.name;
  return name === 'X25519' || name === 'Ed25519' ? name : null;
}

function domError(name: string, message: string): Error {
  return new DOMException(message, name);
}

function arrayBufferOf(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

function bytesOf(data: unknown): Buffer {
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  throw new TypeError('data is not a BufferSource');
}

/** Settle now: a thrown error becomes a rejection, as from the async WebCrypto method. */
function now<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** On unless ATTUNE_SYNC_WEBCRYPTO=0 (then OpenPGP.js uses WebCrypto's thread-pool jobs, its default). */
export function syncWebCryptoEnabled(): boolean {
  return process.env['ATTUNE_SYNC_WEBCRYPTO'] !== '0';
}

/**
 * Take over X25519 (generateKey, importKey, exportKey, deriveBits), AES-KW wrapKey and Ed25519
 * (importKey, sign, verify) of this thread's WebCrypto (`subtle`, the object OpenPGP.js holds:
 * globalThis.crypto.subtle). Idempotent.
 */
export function installSyncWebCrypto(subtle: Subtle = globalThis.crypto.subtle): void {
  const s = subtle as Subtle & Record<symbol, boolean>;
  if (s[INSTALLED]) return;
  type Method = (...a: unknown[]) => Promise<unknown>;
  const realOf = (name: string): Method =>
    ((subtle as unknown as Record<string, Method>)[name] as Method).bind(subtle);
  const real = {
    generateKey: realOf('generateKey'),
    exportKey: realOf('exportKey'),
    importKey: realOf('importKey'),
    deriveBits: realOf('deriveBits'),
    wrapKey: realOf('wrapKey'),
    sign: realOf('sign'),
    verify: realOf('verify'),
  };
  const patch = s as unknown as Record<string, Method>;

  patch['generateKey'] = (...args: unknown[]) => {
    const [alg, extractable, usages] = args as [Algorithm, boolean, string[]];
    if (okpOf(alg) !== 'X25519') return real.generateKey(...args);
    return now(() => {
      const use = [...usages];
      if (use.length === 0 || use.some((u) => !USAGES.X25519.private.includes(u)))
        throw domError('SyntaxError', 'Unsupported key usage for an X25519 key');
      const { publicKey, privateKey } = generateKeyPairSync('x25519');
      return {
        publicKey: new NodeOkpKey('X25519', 'public', true, [], publicKey),
        privateKey: new NodeOkpKey('X25519', 'private', extractable, use, privateKey),
      };
    });
  };

  patch['exportKey'] = (...args: unknown[]) => {
    const [format, key] = args as [string, unknown];
    if (!(key instanceof NodeOkpKey)) return real.exportKey(...args);
    return now(() => {
      if (!key.extractable) throw domError('InvalidAccessError', 'key is not extractable');
      if (format === 'jwk')
        return { ...key.key.export({ format: 'jwk' }), ext: true, key_ops: [...key.usages] };
      if (format === 'raw' && key.type === 'public') {
        const jwk = key.key.export({ format: 'jwk' });
        return arrayBufferOf(Buffer.from(jwk.x!, 'base64url'));
      }
      throw domError('NotSupportedError', `Unsupported export format ${format} for this key`);
    });
  };

  patch['importKey'] = (...args: unknown[]) => {
    const [format, data, alg, extractable, usages] = args as [
      string,
      webcrypto.JsonWebKey,
      Algorithm,
      boolean,
      string[],
    ];
    const okp = okpOf(alg);
    if (okp === null || format !== 'jwk') return real.importKey(...args);
    return now(() => {
      if (data.kty !== 'OKP' || data.crv !== okp) throw domError('DataError', `Invalid JWK for ${okp}`);
      const type = data.d !== undefined ? 'private' : 'public';
      const use = [...usages];
      if (use.some((u) => !USAGES[okp][type].includes(u)))
        throw domError('SyntaxError', `Unsupported key usage for an ${okp} ${type} key`);
      if (type === 'private' && use.length === 0)
        throw domError('SyntaxError', `An ${okp} private key needs a usage`);
      const key =
        type === 'private'
          ? createPrivateKey({ key: data as never, format: 'jwk' })
          : createPublicKey({ key: data as never, format: 'jwk' });
      return new NodeOkpKey(okp, type, type === 'public' ? true : extractable, use, key);
    });
  };

  patch['deriveBits'] = (...args: unknown[]) => {
    const [alg, key, length] = args as [{ name?: string; public?: unknown }, unknown, number | null];
    if (okpOf(alg) !== 'X25519' || !(key instanceof NodeOkpKey) || !(alg.public instanceof NodeOkpKey))
      return real.deriveBits(...args);
    const pub = alg.public;
    return now(() => {
      if (key.algorithm.name !== 'X25519' || key.type !== 'private' || !key.usages.includes('deriveBits'))
        throw domError('InvalidAccessError', 'key cannot derive bits');
      if (pub.algorithm.name !== 'X25519' || pub.type !== 'public')
        throw domError('InvalidAccessError', 'algorithm.public is not an X25519 public key');
      let secret: Buffer;
      try {
        secret = diffieHellman({ privateKey: key.key, publicKey: pub.key });
      } catch {
        // OpenSSL refuses an all-zero result itself.
        throw domError('OperationError', 'X25519 key agreement failed');
      }
      if (secret.every((b) => b === 0)) throw domError('OperationError', 'X25519 shared secret is all zero');
      const bits = length ?? secret.length * 8;
      if (bits > secret.length * 8) throw domError('OperationError', 'length is too large');
      if (bits % 8 !== 0) throw domError('OperationError', 'length is not a multiple of 8');
      return arrayBufferOf(secret.subarray(0, bits / 8));
    });
  };

  patch['sign'] = (...args: unknown[]) => {
    const [alg, key, data] = args as [Algorithm, unknown, unknown];
    if (okpOf(alg) !== 'Ed25519' || !(key instanceof NodeOkpKey)) return real.sign(...args);
    return now(() => {
      if (key.algorithm.name !== 'Ed25519' || key.type !== 'private' || !key.usages.includes('sign'))
        throw domError('InvalidAccessError', 'key cannot sign');
      // Ed25519 (RFC 8032) is deterministic: the same signature WebCrypto gives.
      return arrayBufferOf(nodeSign(null, bytesOf(data), key.key));
    });
  };

  patch['verify'] = (...args: unknown[]) => {
    const [alg, key, signature, data] = args as [Algorithm, unknown, unknown, unknown];
    if (okpOf(alg) !== 'Ed25519' || !(key instanceof NodeOkpKey)) return real.verify(...args);
    return now(() => {
      if (key.algorithm.name !== 'Ed25519' || key.type !== 'public' || !key.usages.includes('verify'))
        throw domError('InvalidAccessError', 'key cannot verify');
      const sig = bytesOf(signature);
      // WebCrypto answers false, not an error, for a signature of the wrong length.
      if (sig.length !== 64) return false;
      return nodeVerify(null, bytesOf(data), key.key, sig);
    });
  };

  patch['wrapKey'] = (...args: unknown[]) => {
    const [format, key, wrappingKey, alg] = args as [
      string,
      webcrypto.CryptoKey,
      webcrypto.CryptoKey,
      Algorithm,
    ];
    const name = typeof alg === 'string' ? alg : alg?.name;
    if (
      format !== 'raw' ||
      name !== 'AES-KW' ||
      wrappingKey?.algorithm?.name !== 'AES-KW' ||
      key?.type !== 'secret'
    )
      return real.wrapKey(...args);
    return now(() => {
      if (!wrappingKey.usages.includes('wrapKey'))
        throw domError('InvalidAccessError', 'wrappingKey cannot wrap keys');
      if (!key.extractable) throw domError('InvalidAccessError', 'key is not extractable');
      const kek = KeyObject.from(wrappingKey).export();
      const raw = KeyObject.from(key).export();
      const c = createCipheriv(`id-aes${kek.length * 8}-wrap`, kek, AES_KW_IV);
      return arrayBufferOf(Buffer.concat([c.update(raw), c.final()]));
    });
  };
  s[INSTALLED] = true;
}
