import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey, type MasterKey } from '../crypto/index.ts';
import { MAX_GENERATION, deliveryOfReturnPath, looksLikeReturnPath, returnPathFor } from './verp.ts';

// A delivery's return path per send (generation): the first send keeps the address every return
// path had before generations, each retry gets its own, and the MAC covers the generation.

function masterKey(): MasterKey {
  const mk = parseMasterKey(generateMasterKey());
  if (!mk.ok) throw new Error('master key');
  return mk.masterKey;
}

const ID = '01a20901-5158-758c-926a-cb05ffedfcb3';
const COMPACT = ID.replace(/-/g, '');
const DOMAIN = 'reply.clinic.test';

describe('VERP return paths by generation', () => {
  it('keeps the address issued before generations for the first send, and reads it as generation 0', () => {
    const mk = masterKey();
    // The address as every release before generations wrote it.
    const key = createHmac('sha256', mk.key).update('attune:verp-return-path:v1').digest();
    const mac = createHmac('sha256', key).update(`delivery|${COMPACT}`).digest('hex').slice(0, 20);
    const legacy = `bounce+${COMPACT}-${mac}@${DOMAIN}`;
    expect(returnPathFor(mk, ID, DOMAIN)).toBe(legacy);
    expect(returnPathFor(mk, ID, DOMAIN, 0)).toBe(legacy);
    expect(deliveryOfReturnPath(mk, legacy)).toEqual({ deliveryId: ID, generation: 0 });
  });

  it('gives each later send its own address, at most 64 characters before the @ (RFC 5321)', () => {
    const mk = masterKey();
    const seen = new Set<string>();
    for (const g of [0, 1, 2, 15, 16, 255, 256, MAX_GENERATION]) {
      const rp = returnPathFor(mk, ID, DOMAIN, g)!;
      expect(looksLikeReturnPath(rp)).toBe(true);
      expect(rp.slice(0, rp.indexOf('@')).length).toBeLessThanOrEqual(64);
      expect(deliveryOfReturnPath(mk, rp)).toEqual({ deliveryId: ID, generation: g });
      // Upper case (some mail systems change it) reads the same.
      expect(deliveryOfReturnPath(mk, rp.toUpperCase())).toEqual({ deliveryId: ID, generation: g });
      seen.add(rp);
    }
    expect(seen.size).toBe(8);
    expect(returnPathFor(mk, ID, DOMAIN, MAX_GENERATION + 1)).toBeNull();
    expect(returnPathFor(mk, ID, DOMAIN, -1)).toBeNull();
  });

  it('fails the MAC for a generation changed, added or dropped, and under another master key', () => {
    const mk = masterKey();
    const g0 = returnPathFor(mk, ID, DOMAIN, 0)!;
    const g1 = returnPathFor(mk, ID, DOMAIN, 1)!;
    for (const forged of [
      g0.replace(/-([0-9a-f]{20})@/, '-1-$1@'),
      g1.replace(/-1-/, '-2-'),
      g1.replace(/-1-/, '-'),
      g1.replace(/-1-/, '-01-'),
      g1.replace(/-1-/, '-1000-'),
    ]) {
      expect(deliveryOfReturnPath(mk, forged), forged).toBeNull();
    }
    expect(deliveryOfReturnPath(masterKey(), g1)).toBeNull();
  });
});
