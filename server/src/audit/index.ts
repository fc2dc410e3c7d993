export { AUDIT } from './events.ts';
export type { AuditAction, AuditDetails, AuditEventInput, AuditOutcome, ActorType } from './events.ts';
export { appendAudit, auditChain, auditContext, AUDIT_CHAIN } from './audit.ts';
export { canonical, chainHash, GENESIS_HASH } from './chain.ts';
export { verifyChains } from './verify.ts';
export type { ChainBreak, ChainReport, VerifyReport } from './verify.ts';
export {
  checkCheckpoint,
  checkpointKeys,
  checkpointText,
  parseCheckpointText,
  signedBlocks,
} from './checkpoint.ts';
export type { CheckpointSigner, CheckpointStatement } from './checkpoint.ts';
export { writeCheckpoints } from './checkpoint-writer.ts';
export type { CheckpointRun, WrittenCheckpoint } from './checkpoint-writer.ts';
export type { VerifyOptions } from './verify.ts';
