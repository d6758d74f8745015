import { assert } from '../assert.js';
import type { Prng } from './prng.js';

/**
 * YCSB's ScrambledZipfianGenerator (core/generator/ScrambledZipfianGenerator.java), theta 0.99:
 * a zipfian draw over a fixed space of 10^10 items (its zeta constant precomputed by YCSB),
 * scattered with FNV-1 64 and reduced modulo the current item count. Because the popular items
 * are hashed, the hot keys are spread over the key space instead of being the oldest records,
 * and the item count may grow between draws (inserts) without recomputing zeta.
 */
export class ScrambledZipfian {
  private static readonly theta = 0.99;
  /** YCSB: ITEM_COUNT = 10,000,000,000 and ZETAN = zeta(ITEM_COUNT, 0.99). */
  private static readonly itemSpace = 10_000_000_000 + 1;
  private static readonly zetan = 26.46902820178302;
  private readonly alpha: number;
  private readonly eta: number;
  private readonly halfPowTheta: number;

  constructor(private readonly prng: Prng) {
    const theta = ScrambledZipfian.theta;
    const zeta2theta = 1 + 0.5 ** theta;
    this.halfPowTheta = 0.5 ** theta;
    this.alpha = 1 / (1 - theta);
    this.eta =
      (1 - (2 / ScrambledZipfian.itemSpace) ** (1 - theta)) /
      (1 - zeta2theta / ScrambledZipfian.zetan);
  }

  /** An index in [0, itemCount), zipfian-popular and scrambled. Requires: 0 < itemCount < 2^32. */
  next(itemCount: number): number {
    assert(itemCount > 0);
    assert(itemCount < 4294967296);
    return fnvHash64Mod(this.nextUnscrambled(), itemCount);
  }

  private nextUnscrambled(): number {
    const u = this.prng.nextDouble();
    const uz = u * ScrambledZipfian.zetan;
    if (uz < 1) return 0;
    if (uz < 1 + this.halfPowTheta) return 1;
    const spread = (this.eta * u - this.eta + 1) ** this.alpha;
    return Math.floor(ScrambledZipfian.itemSpace * spread);
  }
}

/**
 * YCSB's Utils.fnvhash64 (FNV-1a over the 8 little-endian octets, then Math.abs of the signed
 * result) reduced modulo `modulus`, computed in unsigned 32-bit halves.
 * Requires: 0 <= value < 2^53 and 0 < modulus < 2^32.
 */
export function fnvHash64Mod(value: number, modulus: number): number {
  fnvHash64Into(value, scratchHalves);
  const hiMod = scratchHalves[0]! % modulus;
  return (((((hiMod * 65536) % modulus) * 65536) % modulus) + scratchHalves[1]!) % modulus;
}

const scratchHalves = new Uint32Array(2);

/**
 * YCSB's Utils.fnvhash64 as unsigned 32-bit halves: `out[0]` = high word, `out[1]` = low word
 * of the non-negative 63-bit result. Requires: 0 <= value < 2^53.
 */
export function fnvHash64Into(value: number, out: Uint32Array): void {
  let hashHi = 0xcbf29ce4; // FNV offset basis 0xcbf29ce484222325
  let hashLo = 0x84222325;
  let valueHi = Math.floor(value / 4294967296);
  let valueLo = value >>> 0;
  for (let octetIndex = 0; octetIndex < 8; octetIndex++) {
    const octet = valueLo & 0xff;
    valueLo = ((valueLo >>> 8) | ((valueHi & 0xff) << 24)) >>> 0;
    valueHi = valueHi >>> 8;
    hashLo = (hashLo ^ octet) >>> 0;
    // hash *= 0x100000001b3, i.e. hash * 0x1b3 + (hash << 40), modulo 2^64.
    const productLo = hashLo * 0x1b3;
    const carry = Math.floor(productLo / 4294967296);
    const nextHi = (hashHi * 0x1b3 + carry + ((hashLo << 8) >>> 0)) % 4294967296;
    hashLo = productLo >>> 0;
    hashHi = nextHi;
  }
  if (hashHi >= 0x80000000) {
    // Math.abs of a negative long: the two's complement negation.
    hashLo = (~hashLo + 1) >>> 0;
    hashHi = (~hashHi + (hashLo === 0 ? 1 : 0)) >>> 0;
  }
  out[0] = hashHi;
  out[1] = hashLo;
}
