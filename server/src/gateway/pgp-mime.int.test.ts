import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { composePgpMime } from '../delivery/mime.ts';
import { parse } from './extract.ts';
import { readHeaders } from './marker.ts';
import { crc24, isArmoredPgpMessage, pgpMimeParts } from './pgp-mime.ts';

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

describe('armor checksum', () => {
  it('accepts armor with its CRC-24 or without one, and refuses armor whose CRC-24 is wrong', async () => {
    const real = await armored(['--encrypt', '-r', fingerprint]);
    const lines = real.trimEnd().split('\n');
    const crc = lines.findIndex((l) => /^=[A-Za-z0-9+/]{4}$/.test(l));
    // GnuPG writes the checksum line just before the end line.
    expect(crc).toBe(lines.length - 2);
    expect(isArmoredPgpMessage(Buffer.from(real))).toBe(true);
    // Absent: optional since RFC 4880, not to be emitted by RFC 9580 writers.
    const without = lines.filter((_, i) => i !== crc).join('\n');
    expect(isArmoredPgpMessage(Buffer.from(without))).toBe(true);
    // Present and wrong: the bytes are not what the armor vouches for. A checksum of zeros, one bit
    // off, and a ciphertext byte changed under the right checksum (the packets still parse).
    const value = Buffer.from(lines[crc]!.slice(1), 'base64');
    value[2] = value[2]! ^ 0x01;
    const dataLine = crc - 2;
    expect(lines[dataLine]!.length).toBeGreaterThanOrEqual(60);
    const flip = (l: string) => `${l[0] === 'A' ? 'B' : 'A'}${l.slice(1)}`;
    const variants = {
      zeros: without.replace('\n-----END', '\n=AAAA\n-----END'),
      bitOff: lines.map((l, i) => (i === crc ? `=${value.toString('base64')}` : l)).join('\n'),
      bodyChanged: lines.map((l, i) => (i === dataLine ? flip(l) : l)).join('\n'),
    };
    const verdicts = Object.fromEntries(
      Object.entries(variants).map(([k, v]) => [k, isArmoredPgpMessage(Buffer.from(v))]),
    );
    expect(verdicts).toEqual({ zeros: false, bitOff: false, bodyChanged: false });
  });

  it('computes the CRC-24 of RFC 4880 6.1', () => {
    expect(crc24(new Uint8Array())).toBe(0xb704ce);
    // As GnuPG computes it for its own armor (checked above); a fixed value guards the table-free loop.
    expect(crc24(Buffer.from('123456789'))).toBe(0x21cf02);
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
