import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Test support: drives the real GnuPG binary (2.2 on Debian 12) in a throwaway GNUPGHOME, so the
// interop promise "GnuPG 2.2 reads what we send" is checked against gpg itself, not our own decoder.
// Not imported by production code.

export interface GpgResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** Lines of --status-fd output ("[GNUPG:] GOODSIG ..."). */
  status: string[];
}

export class GpgHome {
  private constructor(readonly dir: string) {}

  static async create(): Promise<GpgHome> {
    // Short path: gpg-agent's socket path must fit in sun_path (108 bytes).
    const dir = await mkdtemp(join(tmpdir(), 'gpg-'));
    return new GpgHome(dir);
  }

  run(args: string[], input?: Uint8Array | string): Promise<GpgResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        'gpg',
        [
          '--homedir',
          this.dir,
          '--batch',
          '--yes',
          '--no-tty',
          '--status-fd',
          '2',
          '--pinentry-mode',
          'loopback',
          '--passphrase',
          '',
          ...args,
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code) => {
        const stderr = Buffer.concat(err).toString('utf8');
        resolve({
          code: code ?? -1,
          stdout: Buffer.concat(out),
          stderr,
          status: stderr.split('\n').filter((l) => l.startsWith('[GNUPG:] ')),
        });
      });
      // gpg may exit before reading its input (commands that take none, or an early failure); the
      // write then fails with EPIPE. The exit code and stderr already report the outcome, so a
      // failed stdin write must not surface as an uncaught exception in the test process.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input ?? '');
    });
  }

  async importKey(armored: string): Promise<void> {
    const r = await this.run(['--import'], armored);
    if (r.code !== 0) throw new Error(`gpg --import failed: ${r.stderr}`);
  }

  /** Generates a key with gpg itself; returns its armored public key and fingerprint. */
  async generateKey(
    email: string,
    algo = 'future-default',
    expire = 'never',
    /** For an explicit algorithm gpg makes a sign-only primary; add an encryption subkey of the same kind. */
    encryptionSubkey = false,
  ): Promise<{ publicKey: string; secretKey: string; fingerprint: string }> {
    const r = await this.run(['--quick-gen-key', `Patient <${email}>`, algo, 'default', expire]);
    if (r.code !== 0) throw new Error(`gpg --quick-gen-key failed: ${r.stderr}`);
    const created = r.status.find((l) => l.startsWith('[GNUPG:] KEY_CREATED'));
    const fingerprint = created?.split(' ')[3] ?? '';
    if (encryptionSubkey) {
      const sub = await this.run(['--quick-add-key', fingerprint, algo, 'encr', expire]);
      if (sub.code !== 0) throw new Error(`gpg --quick-add-key failed: ${sub.stderr}`);
    }
    const pub = await this.run(['--armor', '--export', fingerprint]);
    const sec = await this.run(['--armor', '--export-secret-keys', fingerprint]);
    return { publicKey: pub.stdout.toString('utf8'), secretKey: sec.stdout.toString('utf8'), fingerprint };
  }

  /** The revocation certificate gpg writes on key generation, made importable. */
  async revocationCertificate(fingerprint: string): Promise<string> {
    const dir = join(this.dir, 'openpgp-revocs.d');
    const files = await readdir(dir);
    const file = files.find((f) => f.startsWith(fingerprint));
    if (!file) throw new Error('no revocation certificate');
    // gpg prefixes the armor header with ':' so that an accidental import does nothing.
    return (await readFile(join(dir, file), 'utf8')).replace(/^:-----BEGIN/m, '-----BEGIN');
  }

  async decrypt(message: Uint8Array | string): Promise<GpgResult> {
    return this.run(['--decrypt'], message);
  }

  async dispose(): Promise<void> {
    await new Promise<void>((resolve) => {
      const child = spawn('gpgconf', ['--homedir', this.dir, '--kill', 'gpg-agent'], { stdio: 'ignore' });
      child.on('close', () => resolve());
      child.on('error', () => resolve());
    });
    await rm(this.dir, { recursive: true, force: true });
  }
}
