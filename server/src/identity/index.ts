export { createAuthenticator } from './authenticator.ts';
export type { Authenticator, AuthFailure, AuthResult, Principal } from './authenticator.ts';
export { loadDevIssuer, DEV_KEY_FILE } from './dev-issuer.ts';
export type { DevIssuer } from './dev-issuer.ts';
export { requireAdmin, requireClinician } from './middleware.ts';
export { createTokenVerifier } from './verify.ts';
export type { Provider, VerifiedIdentity, VerifyFailure } from './verify.ts';
