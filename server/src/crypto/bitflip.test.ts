import { beforeAll, describe, expect, it } from 'vitest';
import {
  decryptAndVerify,
  decryptFromArchive,
  encryptAndSign,
  encryptForArchive,
  generateKey,
  parseTrustedPrivateKey,
  parseTrustedPublicKey,
  type PrivateKey,
  type PublicKey,
} from './pgp.ts';

// Every single-bit flip of a ciphertext we produce is either rejected (a result with ok: false,
// never an exception that would surface as a 500 in the viewer, the reply reader or the outbox) or
// yields the original plaintext (a bit that nothing reads, e.g. in a packet's unused length
// bits). Never altered plaintext: the team's security notes set this goal (bit-flip sweep), and the
// viewer, GET /v1/replies/:id and the PGP outbox decrypt what is stored without another check.
// Every bit of the stored form is flipped, one at a time: archive ciphertext (messages and replies,
// binary) and the signed PGP/MIME body a patient's key opens (armored, as sent).

let archivePriv: PrivateKey;
let archivePub: PublicKey;
let practicePriv: PrivateKey;
let practicePub: PublicKey;

beforeAll(async () => {
  const archive = await generateKey({ name: 'Archive' });
  archivePriv = await parseTrustedPrivateKey(archive.privateKey);
  archivePub = await parseTrustedPublicKey(archive.publicKey);
  const practice = await generateKey({ name: 'Practice', email: 'notices@practice.example' });
  practicePriv = await parseTrustedPrivateKey(practice.privateKey);
  practicePub = await parseTrustedPublicKey(practice.publicKey);
});

type Outcome = { rejected: number; same: number; altered: number; threw: string[] };

async function sweep(
  ciphertext: Uint8Array,
  open: (c: Uint8Array) => Promise<{ ok: boolean; data?: Uint8Array }>,
  original: string,
  bits: (n: number) => Iterable<number>,
): Promise<Outcome> {
  const out: Outcome = { rejected: 0, same: 0, altered: 0, threw: [] };
  for (const bit of bits(ciphertext.length * 8)) {
    const flipped = Uint8Array.from(ciphertext);
    flipped[bit >> 3] = flipped[bit >> 3]! ^ (1 << (bit & 7));
    try {
      const r = await open(flipped);
      if (!r.ok) out.rejected++;
      else if (Buffer.from(r.data!).toString('utf8') === original) out.same++;
      else out.altered++;
    } catch (e) {
      out.threw.push(`bit ${bit}: ${(e as Error).message}`);
    }
  }
  return out;
}

const every = function* (n: number) {
  for (let i = 0; i < n; i++) yield i;
};

describe('single-bit flips of stored and sent ciphertext', () => {
  const content = JSON.stringify({
    v: 1,
    subject: 'Follow-up',
    text: 'Continue sertraline 50 mg each morning; next visit 3/14 at 10:00.',
    attachments: [],
  });

  it('archive ciphertext (messages, replies): every flip rejected or harmless, none thrown', async () => {
    const ct = await encryptForArchive(content, archivePub);
    const r = await sweep(ct, (c) => decryptFromArchive(c, archivePriv), content, every);
    expect(r.threw).toEqual([]);
    expect(r.altered).toBe(0);
    expect(r.rejected + r.same).toBe(ct.length * 8);
    // Nearly all of it is covered: the session key, the encrypted data and its integrity check.
    expect(r.rejected).toBeGreaterThan(ct.length * 8 * 0.9);
  }, 120_000);

  it('a signed PGP/MIME body (armored, as sent): every flip rejected or harmless, none thrown', async () => {
    const armored = await encryptAndSign({
      data: content,
      encryptionKeys: archivePub,
      signingKey: practicePriv,
    });
    const bytes = new TextEncoder().encode(armored);
    const r = await sweep(
      bytes,
      (c) =>
        decryptAndVerify({
          message: new TextDecoder().decode(c),
          decryptionKey: archivePriv,
          verificationKeys: [practicePub],
          expectSigned: true,
        }),
      content,
      every,
    );
    expect(r.threw).toEqual([]);
    expect(r.altered).toBe(0);
    expect(r.rejected + r.same).toBe(bytes.length * 8);
  }, 240_000);
});
