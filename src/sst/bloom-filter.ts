/**
 * One bloom filter per table over its distinct user keys (not internal keys: a point read asks
 * "is any version of this key here?"). LevelDB's bloom policy with a stronger hash. FORMAT.md,
 * "Filter block".
 *
 *   +----------------------------------------------+--------+
 *   | bit array: m bytes (m >= 8), bit i is        | k  u8  |
 *   | byte i >> 3, mask 1 << (i & 7)               | 1..30  |
 *   +----------------------------------------------+--------+
 *
 *   h = murmur3_x86_32(userKey, seed 0xbc9f1d34);  delta = rotr32(h, 17)
 *   probe j = 0..k-1 sets or tests bit (h + j * delta) mod 8m   (u32 wrap-around adds)
 *
 * Why MurmurHash3 and not LevelDB's own hash: LevelDB's hash ends without a final mix, so keys of
 * at most 4 bytes (small integers, short ids) get one multiply of mixing and cluster; MurmurHash3
 * ends with fmix32, which spreads every input bit over the whole word whatever the key length.
 * The hash, seed and probe rule are on disk: changing any of them is a new format version.
 */
import { assert } from '../assert.js';
import { type BlockLocation, corruptionError } from './corruption.js';
import { murmur3 } from './murmur3.js';

export const BLOOM_BITS_PER_KEY_DEFAULT = 10;
export const BLOOM_HASH_SEED = 0xbc9f1d34;
export const BLOOM_PROBES_MAX = 30;
const BLOOM_BITS_MIN = 64; // tiny filters would have a poor false-positive rate

/** MurmurHash3 x86_32 of `bytes` with the filter's seed. */
export function bloomHash(bytes: Uint8Array, seed: number = BLOOM_HASH_SEED): number {
  return murmur3(bytes, seed);
}

/** The probe count for a bits-per-key budget: bitsPerKey * ln 2, rounded down, in 1..30. */
export function bloomProbeCount(bitsPerKey: number): number {
  return Math.min(BLOOM_PROBES_MAX, Math.max(1, Math.floor(bitsPerKey * Math.LN2)));
}

/**
 * Collects key hashes while a table is written and lays out the filter at the end.
 * Thread model: owned by one table writer.
 */
export class BloomFilterBuilder {
  readonly bitsPerKey: number;
  private hashes = new Uint32Array(1024);
  private keyCountValue = 0;

  /** Requires: bitsPerKey is an integer in 1..64. */
  constructor(bitsPerKey: number = BLOOM_BITS_PER_KEY_DEFAULT) {
    assert(Number.isInteger(bitsPerKey) && bitsPerKey >= 1 && bitsPerKey <= 64, 'bitsPerKey 1..64');
    this.bitsPerKey = bitsPerKey;
  }

  get keyCount(): number {
    return this.keyCountValue;
  }

  /** Adds one user key; the caller adds each distinct user key once. */
  addKey(userKey: Uint8Array): void {
    if (this.keyCountValue === this.hashes.length) {
      const grown = new Uint32Array(this.hashes.length * 2);
      grown.set(this.hashes, 0);
      this.hashes = grown;
    }
    this.hashes[this.keyCountValue++] = bloomHash(userKey);
  }

  finish(): Uint8Array {
    const bitCount = Math.max(BLOOM_BITS_MIN, this.keyCountValue * this.bitsPerKey);
    const byteCount = Math.ceil(bitCount / 8);
    const bits = byteCount * 8;
    const probeCount = bloomProbeCount(this.bitsPerKey);
    const filter = new Uint8Array(byteCount + 1);
    for (let index = 0; index < this.keyCountValue; index++) {
      let hash = this.hashes[index]!;
      const delta = ((hash >>> 17) | (hash << 15)) >>> 0;
      for (let probe = 0; probe < probeCount; probe++) {
        const bit = hash % bits;
        filter[bit >>> 3]! |= 1 << (bit & 7);
        hash = (hash + delta) >>> 0;
      }
    }
    filter[byteCount] = probeCount;
    return filter;
  }
}

/** A filter read back from a table. Immutable; the table reader holds it while open. */
export class BloomFilter {
  private readonly bytes: Uint8Array;
  private readonly bits: number;
  private readonly probeCount: number;

  private constructor(bytes: Uint8Array, probeCount: number) {
    this.bytes = bytes;
    this.bits = (bytes.length - 1) * 8;
    this.probeCount = probeCount;
  }

  static parse(bytes: Uint8Array, location: BlockLocation): BloomFilter {
    if (bytes.length < BLOOM_BITS_MIN / 8 + 1) {
      throw corruptionError(location, `filter block of ${bytes.length} bytes`);
    }
    const probeCount = bytes[bytes.length - 1]!;
    if (probeCount < 1 || probeCount > BLOOM_PROBES_MAX) {
      throw corruptionError(location, `filter probe count ${probeCount}`);
    }
    return new BloomFilter(bytes, probeCount);
  }

  get sizeBytes(): number {
    return this.bytes.length;
  }

  /** False means no version of userKey is in the table; true means it may be. */
  mayContain(userKey: Uint8Array): boolean {
    let hash = bloomHash(userKey);
    const delta = ((hash >>> 17) | (hash << 15)) >>> 0;
    for (let probe = 0; probe < this.probeCount; probe++) {
      const bit = hash % this.bits;
      if ((this.bytes[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      hash = (hash + delta) >>> 0;
    }
    return true;
  }
}
