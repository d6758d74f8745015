/**
 * MurmurHash3 x86_32 of a byte string. On-disk formats depend on it (the sst bloom filter, the
 * memtable's key hash): never change its output. Known-answer tests in bloom-filter.test.ts.
 */
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
  return fmix32(hash ^ length);
}

/** MurmurHash3's 32-bit finaliser: mixes every input bit into every output bit (a bijection). */
export function fmix32(input: number): number {
  let hash = input;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
