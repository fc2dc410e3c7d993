import { createHash } from 'node:crypto';

// RFC 6962 / 9162 Merkle tree hash (Certificate Transparency): leaf = SHA-256(0x00 ‖ data),
// node = SHA-256(0x01 ‖ left ‖ right). The prefixes keep a leaf from passing as an interior node
// (second-preimage). The root of n leaves commits to all of them in order; publishing it (or
// anchoring it elsewhere) lets a later root be checked for consistency.

export function leafHash(data: Uint8Array | string): Buffer {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(data)
    .digest();
}

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.from([1]))
    .update(left)
    .update(right)
    .digest();
}

/** MTH(D[n]) over already-hashed leaves. The empty tree's root is SHA-256 of the empty string. */
export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  return mth(leaves, 0, leaves.length);
}

function mth(leaves: readonly Buffer[], start: number, end: number): Buffer {
  const n = end - start;
  if (n === 1) return leaves[start] as Buffer;
  // k = the largest power of two smaller than n.
  let k = 1;
  while (k * 2 < n) k *= 2;
  return nodeHash(mth(leaves, start, start + k), mth(leaves, start + k, end));
}
