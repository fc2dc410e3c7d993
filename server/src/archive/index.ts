export { appendArchive, archiveChain, archiveCanonical } from './archive.ts';
export type { ArchiveEntryInput, ArchiveKind } from './archive.ts';
export { leafHash, merkleRoot, nodeHash } from './merkle.ts';
