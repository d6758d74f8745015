/**
 * A u64 sum modulo 2^64 kept as two unsigned 32-bit halves in plain numbers, so that summing
 * millions of values needs no BigInt. The order of additions does not change the result, which
 * is what makes the parallel driver's checksum deterministic.
 */
export class U64Sum {
  hi = 0;
  lo = 0;

  add(hi: number, lo: number): void {
    let sumLo = this.lo + lo;
    let carry = 0;
    if (sumLo >= 4294967296) {
      sumLo -= 4294967296;
      carry = 1;
    }
    this.lo = sumLo;
    this.hi = (this.hi + hi + carry) >>> 0;
  }

  addSum(other: { readonly hi: number; readonly lo: number }): void {
    this.add(other.hi, other.lo);
  }

  toBigInt(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  toDecimal(): string {
    return this.toBigInt().toString(10);
  }

  toHex(): string {
    return `0x${this.hi.toString(16).padStart(8, '0')}${this.lo.toString(16).padStart(8, '0')}`;
  }
}
