import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ensurePrivateDir } from '../store/private-dir.ts';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

// The built-in development issuer: an ES256 key in the data folder that signs local tokens for
// `npm start`, `npx attune token --dev` and the tests. The server accepts its tokens only in
// development mode (config.identity.dev.enabled), and publishes its public key at
// /.well-known/jwks.json so it is verified the same way as Entra and Google tokens.

export const DEV_KEY_FILE = 'dev-issuer-key.json';
const ALG = 'ES256';

export interface DevIssuer {
  issuer: string;
  audience: string;
  /** Public JWKS (one key). */
  jwks: { keys: JWK[] };
  sign(claims: { email: string; admin?: boolean; ttlSeconds?: number; name?: string }): Promise<string>;
}

/** Loads the dev signing key from `dataDir`, creating it (mode 0600) on first use. */
export async function loadDevIssuer(opts: {
  dataDir: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}): Promise<DevIssuer> {
  const file = join(opts.dataDir, DEV_KEY_FILE);
  let privateJwk: JWK;
  if (existsSync(file)) {
    privateJwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } else {
    ensurePrivateDir(opts.dataDir);
    const { privateKey } = await generateKeyPair(ALG, { extractable: true });
    privateJwk = {
      ...(await exportJWK(privateKey)),
      alg: ALG,
      use: 'sig',
      kid: `dev-${Date.now().toString(36)}`,
    };
    writeFileSync(file, JSON.stringify(privateJwk), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  }
  const { d: _d, ...publicJwk } = privateJwk;
  const key = await importJWK(privateJwk, ALG);
  return {
    issuer: opts.issuer,
    audience: opts.audience,
    jwks: { keys: [publicJwk] },
    async sign(claims) {
      const email = claims.email.trim().toLowerCase();
      return new SignJWT({
        email,
        email_verified: true,
        ...(claims.name ? { name: claims.name } : {}),
        ...(claims.admin ? { roles: ['admin'] } : {}),
      })
        .setProtectedHeader({ alg: ALG, kid: privateJwk.kid ?? 'dev', typ: 'JWT' })
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setSubject(`dev:${email}`)
        .setIssuedAt()
        .setNotBefore('0s')
        .setExpirationTime(`${claims.ttlSeconds ?? opts.ttlSeconds}s`)
        .sign(key);
    },
  };
}
