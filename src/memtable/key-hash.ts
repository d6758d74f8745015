/**
 * The 64-bit hash of a user key that the memtable's PmEHash is keyed by: two independent 32-bit
 * MurmurHash3 (x86_32) passes over the bytes with different seeds. The memtable never depends on
 * it being collision-free (records with equal hashes chain), so it only has to spread keys well.
 */

/** Writes the hash of `key` to out[0] (low half) and out[1] (high half). */
export type KeyHashFunction = (key: Uint8Array, out: Uint32Array) => void;

const SEED_LOW = 0x9747b28c;
const SEED_HIGH = 0x5bd1e995;

export const murmurKeyHash: KeyHashFunction = (key, out) => {
  out[0] = murmur3(key, SEED_LOW);
  out[1] = murmur3(key, SEED_HIGH);
};

/** MurmurHash3 x86_32 (Austin Appleby, public domain). */
export function murmur3(key: Uint8Array, seed: number): number {
  const length = key.length;
  const blockEnd = length & ~3;
  let hash = seed >>> 0;
  for (let index = 0; index < blockEnd; index += 4) {
    let block =
      key[index]! | (key[index + 1]! << 8) | (key[index + 2]! << 16) | (key[index + 3]! << 24);
    block = Math.imul(block, 0xcc9e2d51);
    block = (block << 15) | (block >>> 17);
    block = Math.imul(block, 0x1b873593);
    hash ^= block;
    hash = (hash << 13) | (hash >>> 19);
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest > 0) {
    let tail = key[blockEnd]!;
    if (rest >= 2) tail ^= key[blockEnd + 1]! << 8;
    if (rest === 3) tail ^= key[blockEnd + 2]! << 16;
    tail = Math.imul(tail, 0xcc9e2d51);
    tail = (tail << 15) | (tail >>> 17);
    tail = Math.imul(tail, 0x1b873593);
    hash ^= tail;
  }
  hash ^= length;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
