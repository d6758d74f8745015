/** mulberry32: a tiny seeded PRNG for reproducible test sequences (not for anything else). */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform unsigned 32-bit integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let value = this.state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (value ^ (value >>> 14)) >>> 0;
  }

  /** A uniform integer in [0, bound). */
  below(bound: number): number {
    return Math.floor((this.nextU32() / 2 ** 32) * bound);
  }
}
