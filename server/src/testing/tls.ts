import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Test support: a throwaway self-signed certificate for localhost (P-256, one day), made by the real
// openssl, for the HTTPS server, the gateway's STARTTLS and the framing tests. Not used in production.

/** Writes `<name>.crt` and `<name>.key` into `dir`; returns their paths. */
export function writeSelfSignedCert(dir: string, name = 'localhost'): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** The same certificate as PEM text (nothing left on disk). */
export function selfSignedCert(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'attune-cert-'));
  try {
    const paths = writeSelfSignedCert(dir);
    return { cert: readFileSync(paths.cert, 'utf8'), key: readFileSync(paths.key, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
