import type { webcrypto } from 'node:crypto';
import {
  KeyObject,
  createCipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
} from 'node:crypto';

// X25519 and AES key wrap for OpenPGP.js without WebCrypto's thread-pool round trips.
//
// Encrypting to a curve25519Legacy key, OpenPGP.js calls WebCrypto for an ephemeral X25519 key
// (generateKey), the shared secret (deriveBits) and the session key wrap (wrapKey, AES-KW). In Node
// each of those is a job on libuv's thread pool: the calling thread posts it, the pool runs it, and
// the calling thread's event loop picks the result up later. The work is microseconds; the round
// trip, under load on a 2-core machine, is milliseconds (three per encryption, in turn): measured on
// the secure-send path, the trip to the encryption thread fell from ~14 ms to ~5 ms with this.
//
// Here the same operations run synchronously through node:crypto, the same OpenSSL code WebCrypto
// uses underneath, and the promise OpenPGP.js awaits is already settled. Only these exact forms are
// taken over; every other call (Ed25519 signatures, AES-KW unwrapping, HKDF, anything of another
// library in the process) goes to WebCrypto unchanged. WebCrypto's checks are kept: extractable keys
// only are exported or wrapped, usages are honoured, and an all-zero X25519 secret (a small-order
// public key) is refused with OperationError, as the WebCrypto spec requires.

type Subtle = webcrypto.SubtleCrypto;
type Algorithm = string | { name: string; public?: unknown };

/** An X25519 key held by node:crypto (what generateKey/importKey return for 'X25519' here). */
class NodeX25519Key {
  readonly algorithm = { name: 'X25519' };
  constructor(
    readonly type: 'public' | 'private',
    readonly extractable: boolean,
    readonly usages: readonly string[],
    readonly key: KeyObject,
  ) {}
}

const INSTALLED = Symbol.for('attune.syncWebCrypto');
const AES_KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex'); // RFC 3394 default initial value

function isX25519(alg: unknown): boolean {
  return (
    alg === 'X25519' ||
    (typeof alg === 'object' && alg !== null && (alg as { name?: unknown }).name === 'X25519')
  );
}

function domError(name: string, message: string): Error {
  return new DOMException(message, name);
}

function arrayBufferOf(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
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
 * Take over the X25519 and AES-KW wrap operations of this thread's WebCrypto (`subtle`, the object
 * OpenPGP.js holds: globalThis.crypto.subtle). Idempotent.
 */
export function installSyncWebCrypto(subtle: Subtle = globalThis.crypto.subtle): void {
  const s = subtle as Subtle & Record<symbol, boolean>;
  if (s[INSTALLED]) return;
  const real = {
    generateKey: subtle.generateKey.bind(subtle) as (...a: unknown[]) => Promise<unknown>,
    exportKey: subtle.exportKey.bind(subtle) as (...a: unknown[]) => Promise<unknown>,
    importKey: subtle.importKey.bind(subtle) as (...a: unknown[]) => Promise<unknown>,
    deriveBits: subtle.deriveBits.bind(subtle) as (...a: unknown[]) => Promise<unknown>,
    wrapKey: subtle.wrapKey.bind(subtle) as (...a: unknown[]) => Promise<unknown>,
  };
  const patch = s as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;

  patch['generateKey'] = (...args: unknown[]) => {
    const [alg, extractable, usages] = args as [Algorithm, boolean, string[]];
    if (!isX25519(alg)) return real.generateKey(...args);
    return now(() => {
      const use = [...usages];
      if (use.length === 0 || use.some((u) => u !== 'deriveKey' && u !== 'deriveBits'))
        throw domError('SyntaxError', 'Unsupported key usage for an X25519 key');
      const { publicKey, privateKey } = generateKeyPairSync('x25519');
      return {
        publicKey: new NodeX25519Key('public', true, [], publicKey),
        privateKey: new NodeX25519Key('private', extractable, use, privateKey),
      };
    });
  };

  patch['exportKey'] = (...args: unknown[]) => {
    const [format, key] = args as [string, unknown];
    if (!(key instanceof NodeX25519Key)) return real.exportKey(...args);
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
    if (!isX25519(alg) || format !== 'jwk') return real.importKey(...args);
    return now(() => {
      if (data.kty !== 'OKP' || data.crv !== 'X25519') throw domError('DataError', 'Invalid JWK for X25519');
      if (data.d !== undefined) {
        return new NodeX25519Key(
          'private',
          extractable,
          [...usages],
          createPrivateKey({ key: data as never, format: 'jwk' }),
        );
      }
      if (usages.length > 0) throw domError('SyntaxError', 'An X25519 public key has no usages');
      return new NodeX25519Key('public', true, [], createPublicKey({ key: data as never, format: 'jwk' }));
    });
  };

  patch['deriveBits'] = (...args: unknown[]) => {
    const [alg, key, length] = args as [{ name?: string; public?: unknown }, unknown, number | null];
    if (!isX25519(alg) || !(key instanceof NodeX25519Key) || !(alg.public instanceof NodeX25519Key))
      return real.deriveBits(...args);
    const pub = alg.public;
    return now(() => {
      if (key.type !== 'private' || !key.usages.includes('deriveBits'))
        throw domError('InvalidAccessError', 'key cannot derive bits');
      if (pub.type !== 'public') throw domError('InvalidAccessError', 'algorithm.public is not a public key');
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
