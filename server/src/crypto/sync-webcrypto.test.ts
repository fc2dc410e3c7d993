import { beforeAll, describe, expect, it } from 'vitest';
import { installSyncWebCrypto } from './sync-webcrypto.ts';

// The synchronous X25519 / AES-KW path must give what WebCrypto gives. This file does not import
// pgp.ts (which installs it), so WebCrypto's own answers are taken first, then compared with the
// installed path on the same inputs.

const subtle = globalThis.crypto.subtle;
const KEK = new Uint8Array(32).map((_, i) => i * 7 + 1);
const SESSION = new Uint8Array(40).map((_, i) => 255 - i * 3); // a session key with its checksum, padded
// u = 0 is a point of small order: X25519 with it yields all zeros, which WebCrypto refuses.
const SMALL_ORDER_JWK = { kty: 'OKP', crv: 'X25519', x: Buffer.alloc(32).toString('base64url') };

let alice: { pub: JsonWebKey; priv: JsonWebKey };
let bob: { pub: JsonWebKey; priv: JsonWebKey };
let realSecret: Uint8Array;
let realWrapped: Uint8Array;
let realSmallOrder: string;
let ed: { pub: JsonWebKey; priv: JsonWebKey };
let realSignature: Uint8Array;
const SIGNED = new TextEncoder().encode('a PGP/MIME signature hash');

async function edSign(priv: JsonWebKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const key = await subtle.importKey('jwk', priv, 'Ed25519', false, ['sign']);
  return new Uint8Array(await subtle.sign('Ed25519', key, data));
}

async function edVerify(
  pub: JsonWebKey,
  sig: Uint8Array<ArrayBuffer>,
  data: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  const key = await subtle.importKey('jwk', pub, 'Ed25519', false, ['verify']);
  return subtle.verify('Ed25519', key, sig, data);
}

async function realPair(): Promise<{ pub: JsonWebKey; priv: JsonWebKey }> {
  const kp = (await subtle.generateKey('X25519', true, ['deriveBits'])) as CryptoKeyPair;
  return {
    pub: await subtle.exportKey('jwk', kp.publicKey),
    priv: await subtle.exportKey('jwk', kp.privateKey),
  };
}

async function derive(priv: JsonWebKey, pub: JsonWebKey): Promise<Uint8Array> {
  const d = await subtle.importKey('jwk', priv, 'X25519', false, ['deriveBits']);
  const p = await subtle.importKey('jwk', pub, 'X25519', false, []);
  return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: p }, d, 256));
}

async function wrap(): Promise<Uint8Array> {
  const kek = await subtle.importKey('raw', KEK, { name: 'AES-KW' }, false, ['wrapKey']);
  const key = await subtle.importKey('raw', SESSION, { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
  return new Uint8Array(await subtle.wrapKey('raw', key, kek, { name: 'AES-KW' }));
}

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (err) {
    return (err as Error).name;
  }
}

beforeAll(async () => {
  // WebCrypto's own results, before the synchronous path is installed.
  alice = await realPair();
  bob = await realPair();
  realSecret = await derive(alice.priv, bob.pub);
  realWrapped = await wrap();
  realSmallOrder = await errorName(derive(alice.priv, SMALL_ORDER_JWK));
  const edPair = await subtle.generateKey('Ed25519', true, ['sign', 'verify']);
  ed = {
    pub: await subtle.exportKey('jwk', edPair.publicKey),
    priv: await subtle.exportKey('jwk', edPair.privateKey),
  };
  realSignature = await edSign(ed.priv, SIGNED);
  installSyncWebCrypto();
});

describe('synchronous X25519 and AES-KW for OpenPGP.js', () => {
  it('derives the same X25519 shared secret as WebCrypto, from either side', async () => {
    expect(await derive(alice.priv, bob.pub)).toEqual(realSecret);
    expect(await derive(bob.priv, alice.pub)).toEqual(realSecret);
  });

  it('wraps a key with AES-KW exactly as WebCrypto does (RFC 3394)', async () => {
    expect(await wrap()).toEqual(realWrapped);
    // WebCrypto itself unwraps it (unwrapKey is not taken over).
    const kek = await subtle.importKey('raw', KEK, { name: 'AES-KW' }, false, ['unwrapKey']);
    const key = await subtle.unwrapKey(
      'raw',
      new Uint8Array(realWrapped),
      kek,
      { name: 'AES-KW' },
      { name: 'HMAC', hash: 'SHA-256' },
      true,
      ['sign'],
    );
    expect(new Uint8Array(await subtle.exportKey('raw', key))).toEqual(SESSION);
  });

  it('generates X25519 keys that agree with WebCrypto keys, exported as JWK the way OpenPGP.js reads them', async () => {
    const kp = (await subtle.generateKey('X25519', true, ['deriveKey', 'deriveBits'])) as CryptoKeyPair;
    const pub = await subtle.exportKey('jwk', kp.publicKey);
    const priv = await subtle.exportKey('jwk', kp.privateKey);
    expect(pub).toMatchObject({ kty: 'OKP', crv: 'X25519' });
    expect(priv.x).toBe(pub.x);
    expect(Buffer.from(priv.d!, 'base64url')).toHaveLength(32);
    const fromNew = new Uint8Array(
      await subtle.deriveBits(
        { name: 'X25519', public: await subtle.importKey('jwk', bob.pub, 'X25519', false, []) },
        kp.privateKey,
        256,
      ),
    );
    expect(fromNew).toEqual(await derive(bob.priv, pub));
    expect(fromNew.some((b) => b !== 0)).toBe(true);
  });

  it('signs with Ed25519 exactly as WebCrypto does (deterministic, RFC 8032) and verifies', async () => {
    expect(await edSign(ed.priv, SIGNED)).toEqual(realSignature);
    expect(await edVerify(ed.pub, new Uint8Array(realSignature), SIGNED)).toBe(true);
    const bad = new Uint8Array(realSignature);
    bad[10]! ^= 1;
    expect(await edVerify(ed.pub, bad, SIGNED)).toBe(false);
    expect(await edVerify(ed.pub, new Uint8Array(realSignature), new TextEncoder().encode('other'))).toBe(
      false,
    );
    expect(await edVerify(ed.pub, new Uint8Array(63), SIGNED)).toBe(false);
    // An X25519 key cannot sign, nor an Ed25519 key derive bits.
    const x = await subtle.importKey('jwk', alice.priv, 'X25519', false, ['deriveBits']);
    expect(await errorName(subtle.sign('Ed25519', x, SIGNED))).toBe('InvalidAccessError');
    const e = await subtle.importKey('jwk', ed.priv, 'Ed25519', false, ['sign']);
    const p = await subtle.importKey('jwk', bob.pub, 'X25519', false, []);
    expect(await errorName(subtle.deriveBits({ name: 'X25519', public: p }, e, 256))).toBe(
      'InvalidAccessError',
    );
    expect(await errorName(subtle.importKey('jwk', ed.priv, 'Ed25519', false, ['deriveBits']))).toBe(
      'SyntaxError',
    );
  });

  it('refuses a small-order public key as WebCrypto does', async () => {
    expect(realSmallOrder).toBe('OperationError');
    expect(await errorName(derive(alice.priv, SMALL_ORDER_JWK))).toBe('OperationError');
  });

  it("keeps WebCrypto's checks: usages, extractability, key types", async () => {
    const noDerive = await subtle.importKey('jwk', alice.priv, 'X25519', false, ['deriveKey']);
    const pub = await subtle.importKey('jwk', bob.pub, 'X25519', false, []);
    expect(await errorName(subtle.deriveBits({ name: 'X25519', public: pub }, noDerive, 256))).toBe(
      'InvalidAccessError',
    );
    expect(await errorName(subtle.exportKey('jwk', noDerive))).toBe('InvalidAccessError');
    expect(await errorName(subtle.deriveBits({ name: 'X25519', public: noDerive }, noDerive, 256))).toBe(
      'InvalidAccessError',
    );
    expect(await errorName(subtle.generateKey('X25519', true, ['sign']))).toBe('SyntaxError');
    const kek = await subtle.importKey('raw', KEK, { name: 'AES-KW' }, false, ['wrapKey']);
    const hidden = await subtle.importKey('raw', SESSION, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    expect(await errorName(subtle.wrapKey('raw', hidden, kek, { name: 'AES-KW' }))).toBe(
      'InvalidAccessError',
    );
  });

  it('leaves every other operation to WebCrypto (Ed25519 key pairs, AES-GCM, digests)', async () => {
    const ed = await subtle.generateKey('Ed25519', true, ['sign', 'verify']);
    const data = new TextEncoder().encode('attune');
    const sig = await subtle.sign('Ed25519', ed.privateKey, data);
    expect(await subtle.verify('Ed25519', ed.publicKey, sig, data)).toBe(true);
    const aes = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    const iv = new Uint8Array(12);
    const ct = await subtle.encrypt({ name: 'AES-GCM', iv }, aes, data);
    expect(new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv }, aes, ct))).toEqual(data);
    expect(new Uint8Array(await subtle.digest('SHA-256', data))).toHaveLength(32);
  });

  it('is installed once, however often it is asked', () => {
    const before = subtle.generateKey;
    installSyncWebCrypto();
    expect(subtle.generateKey).toBe(before);
  });
});
