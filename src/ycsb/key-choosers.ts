import { assert } from '../assert.js';
import type { Prng } from './prng.js';
import { ScrambledZipfian } from './zipfian.js';

/**
 * The key choosers of YCSB's CoreWorkload (`requestdistribution`), returning a key number in
 * [0, lastKeynum]. `lastKeynum` is the highest acknowledged insert (YCSB's
 * `transactioninsertkeysequence.lastValue()`); one client thread acknowledges every insert
 * before the next operation, so every key number up to it exists.
 *
 * - `uniform`: YCSB's UniformLongGenerator(0, recordCount - 1), over the loaded records only.
 * - `zipfian`: YCSB's ScrambledZipfianGenerator(0, recordCount + expectedNewKeys), with
 *   expectedNewKeys = operationCount × insertProportion × 2 (YCSB's fudge factor); a draw above
 *   `lastKeynum` is redrawn, as CoreWorkload.nextKeynum does.
 * - `latest`: YCSB's SkewedLatestGenerator: lastKeynum minus a zipfian draw over the key count,
 *   so the newest inserts are the most popular.
 */
export type KeyDistribution = 'uniform' | 'zipfian' | 'latest';
export const KEY_DISTRIBUTIONS: readonly KeyDistribution[] = ['uniform', 'zipfian', 'latest'];

export interface KeyChooser {
  /** Requires: lastKeynum >= 0. */
  next(lastKeynum: number): number;
}

export function createKeyChooser(
  distribution: KeyDistribution,
  prng: Prng,
  sizes: { readonly recordCount: number; readonly expectedNewKeys: number },
): KeyChooser {
  assert(sizes.recordCount > 0);
  switch (distribution) {
    case 'uniform':
      return new UniformChooser(prng, sizes.recordCount);
    case 'zipfian':
      return new ScrambledZipfianChooser(prng, sizes.recordCount + sizes.expectedNewKeys + 1);
    case 'latest':
      return new SkewedLatest(prng, sizes.recordCount - 1);
  }
}

/** Redraws above lastKeynum are rare (the zipfian space is only ~10 % larger); bound them. */
const REDRAWS_MAX = 100_000;

class UniformChooser implements KeyChooser {
  constructor(
    private readonly prng: Prng,
    private readonly itemCount: number,
  ) {}

  next(lastKeynum: number): number {
    for (let attempt = 0; attempt < REDRAWS_MAX; attempt++) {
      const keynum = this.prng.nextBelow(this.itemCount);
      if (keynum <= lastKeynum) return keynum;
    }
    throw new Error('uniform chooser: no key number at or below the last insert');
  }
}

class ScrambledZipfianChooser implements KeyChooser {
  private readonly zipfian: ScrambledZipfian;

  constructor(
    prng: Prng,
    private readonly itemCount: number,
  ) {
    this.zipfian = new ScrambledZipfian(prng);
  }

  next(lastKeynum: number): number {
    for (let attempt = 0; attempt < REDRAWS_MAX; attempt++) {
      const keynum = this.zipfian.next(this.itemCount);
      if (keynum <= lastKeynum) return keynum;
    }
    throw new Error('zipfian chooser: no key number at or below the last insert');
  }
}

/**
 * YCSB's SkewedLatestGenerator: `max - zipfian.nextLong(max)` with max = the last key number
 * and a ZipfianGenerator built over the initial last key number (its zeta grows incrementally
 * as inserts raise max, exactly as ZipfianGenerator.nextLong does).
 */
export class SkewedLatest implements KeyChooser {
  private readonly zipfian: Zipfian;

  constructor(prng: Prng, initialLastKeynum: number) {
    assert(initialLastKeynum >= 1, 'latest needs at least two records');
    this.zipfian = new Zipfian(prng, initialLastKeynum);
  }

  next(lastKeynum: number): number {
    const keynum = lastKeynum - this.zipfian.nextBelow(lastKeynum);
    assert(keynum >= 0);
    assert(keynum <= lastKeynum);
    return keynum;
  }
}

/**
 * YCSB's ZipfianGenerator(0, items - 1), zipfian constant 0.99 (Gray et al., "Quickly
 * Generating Billion-Record Synthetic Databases"). `nextBelow(itemCount)` with a larger item
 * count than before extends zeta incrementally; `items` in eta stays the constructor's, as in
 * YCSB.
 */
export class Zipfian {
  private static readonly theta = 0.99;
  private readonly alpha = 1 / (1 - Zipfian.theta);
  private readonly zeta2theta = 1 + 0.5 ** Zipfian.theta;
  private readonly halfPowTheta = 0.5 ** Zipfian.theta;
  private zetan: number;
  private eta: number;
  private countForZeta: number;

  constructor(
    private readonly prng: Prng,
    private readonly items: number,
  ) {
    assert(items >= 1);
    this.countForZeta = items;
    this.zetan = zetaFrom(0, items, 0);
    this.eta = this.etaOf(this.zetan);
  }

  /** A value in [0, itemCount], 0 the most popular. Requires: itemCount >= 1. */
  nextBelow(itemCount: number): number {
    assert(itemCount >= 1);
    if (itemCount > this.countForZeta) {
      this.zetan = zetaFrom(this.countForZeta, itemCount, this.zetan);
      this.countForZeta = itemCount;
      this.eta = this.etaOf(this.zetan);
    }
    const u = this.prng.nextDouble();
    const uz = u * this.zetan;
    if (uz < 1) return 0;
    if (uz < 1 + this.halfPowTheta) return 1;
    return Math.floor(itemCount * (this.eta * u - this.eta + 1) ** this.alpha);
  }

  private etaOf(zetan: number): number {
    return (1 - (2 / this.items) ** (1 - Zipfian.theta)) / (1 - this.zeta2theta / zetan);
  }
}

/** zeta(n) = sum over i in [start, n) of 1 / (i + 1)^theta, continued from `initialSum`. */
function zetaFrom(start: number, n: number, initialSum: number): number {
  let sum = initialSum;
  for (let index = start; index < n; index++) sum += 1 / (index + 1) ** 0.99;
  return sum;
}
