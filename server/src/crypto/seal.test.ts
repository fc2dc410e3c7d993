import { describe, expect, it } from 'vitest';
import { generateMasterKey, openSecret, parseMasterKey, sealSecret, type MasterKey } from './seal.ts';

function key(value = generateMasterKey()): MasterKey {
  const r = parseMasterKey(value);
  if (!r.ok) throw new Error(r.reason);
  return r.masterKey;
}

describe('sealSecret / openSecret', () => {
  it('opens what it sealed with the same key and context', () => {
    const mk = key();
    const sealed = sealSecret(mk, 'secret key material', 'practice:1:signing');
    expect(sealed.startsWith('as1.')).toBe(true);
    expect(sealed).not.toContain('secret');
    const opened = openSecret(mk, sealed, 'practice:1:signing');
    expect(opened.ok && opened.plaintext.toString()).toBe('secret key material');
  });

  it('uses a fresh IV each time', () => {
    const mk = key();
    expect(sealSecret(mk, 'x', 'c')).not.toBe(sealSecret(mk, 'x', 'c'));
  });

  it('refuses another context (a sealed key copied to another practice or purpose)', () => {
    const mk = key();
    const sealed = sealSecret(mk, 'k', 'practice:1:signing');
    expect(openSecret(mk, sealed, 'practice:2:signing')).toEqual({ ok: false, reason: 'tampered' });
    expect(openSecret(mk, sealed, 'practice:1:archive')).toEqual({ ok: false, reason: 'tampered' });
  });

  it('names a wrong master key as such', () => {
    const sealed = sealSecret(key(), 'k', 'c');
    expect(openSecret(key(), sealed, 'c')).toEqual({ ok: false, reason: 'wrong_master_key' });
  });

  it('rejects every single-character change of the ciphertext', () => {
    const mk = key();
    const sealed = sealSecret(mk, 'payload', 'c');
    const [v, id, iv, ct] = sealed.split('.') as [string, string, string, string];
    for (let i = 0; i < ct.length; i++) {
      const ch = ct[i] === 'A' ? 'B' : 'A';
      const altered = [v, id, iv, ct.slice(0, i) + ch + ct.slice(i + 1)].join('.');
      const r = openSecret(mk, altered, 'c');
      // base64url's last character may carry unused bits; decoding can then yield the same bytes.
      if (r.ok) expect(r.plaintext.toString()).toBe('payload');
      else expect(['tampered', 'malformed']).toContain(r.reason);
    }
  });

  it('rejects malformed and future-version envelopes', () => {
    const mk = key();
    expect(openSecret(mk, 'garbage', 'c')).toEqual({ ok: false, reason: 'malformed' });
    const sealed = sealSecret(mk, 'k', 'c');
    expect(openSecret(mk, sealed.replace(/^as1/, 'as9'), 'c')).toEqual({
      ok: false,
      reason: 'unsupported_version',
    });
  });
});

describe('parseMasterKey', () => {
  it('accepts 32 bytes as hex, base64 and base64url', () => {
    const hex = 'ab'.repeat(32);
    expect(parseMasterKey(hex).ok).toBe(true);
    const b64 = Buffer.alloc(32, 0xfb).toString('base64');
    expect(parseMasterKey(b64).ok).toBe(true);
    expect(parseMasterKey(Buffer.alloc(32, 0xfb).toString('base64url')).ok).toBe(true);
    const a = parseMasterKey(b64);
    const b = parseMasterKey(Buffer.alloc(32, 0xfb).toString('base64url'));
    expect(a.ok && b.ok && a.masterKey.id === b.masterKey.id).toBe(true);
  });

  it('rejects missing and wrong-length keys', () => {
    expect(parseMasterKey(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(parseMasterKey('  ')).toEqual({ ok: false, reason: 'missing' });
    expect(parseMasterKey('abcd')).toEqual({ ok: false, reason: 'wrong_length' });
    expect(parseMasterKey(Buffer.alloc(16).toString('base64'))).toEqual({
      ok: false,
      reason: 'wrong_length',
    });
  });
});
