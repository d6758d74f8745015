/**
 * The 64-bit hash of a user key that the memtable's PmEHash is keyed by: two independent 32-bit
 * MurmurHash3 (x86_32) passes over the bytes with different seeds. The memtable never depends on
 * it being collision-free (records with equal hashes chain), so it only has to spread keys well.
 */

import { murmur3 } from '../sst/murmur3.js';

/** Writes the hash of `key` to out[0] (low half) and out[1] (high half). */
export type KeyHashFunction = (key: Uint8Array, out: Uint32Array) => void;

const SEED_LOW = 0x9747b28c;
const SEED_HIGH = 0x5bd1e995;

export const murmurKeyHash: KeyHashFunction = (key, out) => {
  out[0] = murmur3(key, SEED_LOW);
  out[1] = murmur3(key, SEED_HIGH);
};
