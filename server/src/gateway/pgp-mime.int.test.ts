import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { composePgpMime } from '../delivery/mime.ts';
import { parse } from './extract.ts';
import { readHeaders } from './marker.ts';
import { isArmoredPgpMessage, pgpMimeParts } from './pgp-mime.ts';

// What counts as an RFC 3156 encrypted message, against real GnuPG output.

let gpg: GpgHome;
let fingerprint: string;

beforeAll(async () => {
  gpg = await GpgHome.create();
  fingerprint = (await gpg.generateKey('patient@example.com')).fingerprint;
}, 60_000);

afterAll(async () => {
  await gpg.dispose();
});

async function armored(
  args: string[],
  input = 'Your dose of sertraline goes up to 100 mg.',
): Promise<string> {
  const r = await gpg.run(['--armor', '--trust-model', 'always', ...args], input);
  expect(r.code).toBe(0);
  return r.stdout.toString('latin1');
}

describe('isArmoredPgpMessage', () => {
  it('accepts messages encrypted to a key, with a passphrase, signed and encrypted, and large (streamed)', async () => {
    expect(isArmoredPgpMessage(Buffer.from(await armored(['--encrypt', '-r', fingerprint])))).toBe(true);
    expect(
      isArmoredPgpMessage(Buffer.from(await armored(['--passphrase', 'correct horse', '--symmetric']))),
    ).toBe(true);
    expect(isArmoredPgpMessage(Buffer.from(await armored(['--sign', '--encrypt', '-r', fingerprint])))).toBe(
      true,
    );
    const big = randomBytes(300_000).toString('base64'); // incompressible: streamed in partial-length chunks
    expect(isArmoredPgpMessage(Buffer.from(await armored(['--encrypt', '-r', fingerprint], big)))).toBe(true);
  });

  it('refuses armor around readable content: signed only, stored, plaintext, or cut short', async () => {
    // A signed message is a PGP MESSAGE too, but its content is readable (compressed literal data).
    expect(isArmoredPgpMessage(Buffer.from(await armored(['--sign'])))).toBe(false);
    expect(isArmoredPgpMessage(Buffer.from(await armored(['--store'])))).toBe(false);
    const plain = Buffer.from('Your dose of sertraline goes up to 100 mg.').toString('base64');
    expect(
      isArmoredPgpMessage(
        Buffer.from(`-----BEGIN PGP MESSAGE-----\n\n${plain}\n-----END PGP MESSAGE-----\n`),
      ),
    ).toBe(false);
    const real = await armored(['--encrypt', '-r', fingerprint]);
    const lines = real.trimEnd().split('\n');
    const cut = [...lines.slice(0, 3), ...lines.slice(-2)].join('\n');
    expect(isArmoredPgpMessage(Buffer.from(cut))).toBe(false);
    expect(isArmoredPgpMessage(Buffer.from(`${real}\nAnd the dose is 100 mg.\n`))).toBe(false);
  });
});

describe('pgpMimeParts', () => {
  it('finds both parts of the PGP/MIME message Attune composes', async () => {
    const mail = await composePgpMime({
      from: { name: 'Lakeside Counseling', address: 'notices@clinic.test' },
      to: 'patient@example.com',
      messageId: '<m1@clinic.test>',
      outerSubject: 'Secure message from Lakeside Counseling',
      armoredMessage: await armored(['--encrypt', '-r', fingerprint]),
    });
    expect(pgpMimeParts(await parse(mail.raw), readHeaders(mail.raw))).toEqual({ version: 0, ciphertext: 1 });
  });
});
