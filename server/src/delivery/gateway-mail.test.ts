import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey, type MasterKey } from '../crypto/index.ts';
import { relayedReference } from './gateway-mail.ts';

// The reference of a relayed message, quoted in its sender's failure notice and logged: keyed
// under the master key, so a list of candidate addresses confirms nothing by hashing.

function masterKey(): MasterKey {
  const mk = parseMasterKey(generateMasterKey());
  if (!mk.ok) throw new Error('master key');
  return mk.masterKey;
}

/** The unkeyed reference as it was: SHA-256 over the parts, each ended by a newline, 128 bits. */
function plainDigest(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\n');
  return h.digest('hex').slice(0, 32);
}

describe('relayedReference', () => {
  // The transaction key as gateway/outbound.ts derives it: sender, sorted recipients, Message-ID.
  const transaction = plainDigest(
    'dr.lee@clinic.test',
    'jane.roe@example.com',
    'vendor@example.com',
    '<a1@clinic.test>',
  );

  it('is 32 lower-case hex digits, the same for one master key every time', () => {
    const mk = masterKey();
    const ref = relayedReference(mk, transaction);
    expect(ref).toMatch(/^[0-9a-f]{32}$/);
    expect(relayedReference(mk, transaction)).toBe(ref);
    // The same key material parsed again (another gateway process) agrees.
    const again = parseMasterKey(mk.key.toString('hex'));
    if (!again.ok) throw new Error('master key');
    expect(relayedReference(again.masterKey, transaction)).toBe(ref);
  });

  it('differs from the plain SHA-256 of the transaction, which anyone could compute from a guess', () => {
    const ref = relayedReference(masterKey(), transaction);
    expect(ref).not.toBe(plainDigest(transaction, 'relayed'));
    expect(ref).not.toBe(createHash('sha256').update(transaction).digest('hex').slice(0, 32));
  });

  it('differs under another master key, and for another transaction', () => {
    const mk = masterKey();
    const ref = relayedReference(mk, transaction);
    expect(relayedReference(masterKey(), transaction)).not.toBe(ref);
    expect(relayedReference(mk, plainDigest('another'))).not.toBe(ref);
  });
});
