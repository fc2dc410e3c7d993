// The crypto wrapper's public surface. Nothing outside server/src/crypto imports openpgp.
export { parseMasterKey, generateMasterKey, sealSecret, openSecret } from './seal.ts';
export type { MasterKey, MasterKeyResult, OpenResult } from './seal.ts';
export type { EncryptGate, GatedResult } from './pool.ts';
export {
  readPublicKey,
  generateKey,
  encryptAndSign,
  encryptForArchive,
  encryptForArchiveAfter,
  decryptFromArchive,
  decryptAndVerify,
  signCleartext,
  verifyCleartext,
  fingerprintOf,
  parseTrustedPublicKey,
  parseTrustedPrivateKey,
  PUBLIC_KEY_REJECTION_MESSAGES,
} from './pgp.ts';
export type {
  PublicKey,
  PrivateKey,
  PublicKeyResult,
  PublicKeyRejection,
  DecryptResult,
  DecryptFailure,
  CleartextResult,
  GeneratedKey,
} from './pgp.ts';
export {
  generatePracticeKeys,
  loadPrivateKey,
  loadPublicKey,
  sealContext,
  KeyUnsealError,
} from './practice-keys.ts';
export type { PracticeKeys, StoredKey, PracticeKeyPurpose } from './practice-keys.ts';
export { contentMac, checkContentMac, quarantineMarker } from './content-mac.ts';
export type { ContentTable, ContentMacCheck, StoredContentRef } from './content-mac.ts';
