import { assert } from '../assert.js';
import { FIELD_BYTES, FIELD_COUNT } from './core-workload.js';
import { Prng } from './prng.js';
import { fnvHash64Into } from './zipfian.js';

/**
 * Keys and values of the core workloads, shared by every engine.
 *
 * Key: YCSB's buildKeyName with the default insertorder=hashed and zeropadding=1: `"user"`
 * followed by the decimal fnvhash64 of the key number (up to 19 digits), as latin1 bytes.
 *
 * Value: the 10 fields of 100 bytes each, concatenated into one 1,000-byte value (field i at
 * byte i × 100). Engines store records as opaque values; an update of one field reads the record,
 * replaces that field, and writes the whole record back, as YCSB's RocksDB binding does.
 *
 *   field i: [ tag u32 LE | 96 bytes of printable random text, chosen by the tag ]
 *
 * The tag is a hash of (key number, field, version) so the checksum of a record read (a fold of
 * its ten tags) tells which version of every field the engine returned. The text comes from a
 * fixed 64 KiB pool of random printable bytes (like YCSB's RandomByteIterator), so values do
 * not compress: LevelDB's Snappy gains nothing over the other engines.
 */
export const RECORD_BYTES = FIELD_COUNT * FIELD_BYTES;
const TEXT_POOL_BYTES = 65_536;
const TEXT_BYTES = FIELD_BYTES - 4;
assert(TEXT_POOL_BYTES > TEXT_BYTES);

const TEXT_POOL = ((): Uint8Array => {
  const prng = new Prng(0x7ec5);
  const pool = new Uint8Array(TEXT_POOL_BYTES);
  for (let index = 0; index < pool.length; index++) pool[index] = 0x20 + prng.nextBelow(95);
  return pool;
})();

/** Builds and caches the key bytes of each key number (every key is built once). */
export class KeyBuilder {
  private readonly keys: (Buffer | undefined)[] = [];
  private readonly halves = new Uint32Array(2);

  /** The key of `keynum`; the same immutable Buffer (its own ArrayBuffer) on every call. */
  keyOf(keynum: number): Buffer {
    const cached = this.keys[keynum];
    if (cached !== undefined) return cached;
    const key = Buffer.from(userKeyOf(keynum, this.halves), 'latin1');
    const owned = Buffer.allocUnsafeSlow(key.length);
    key.copy(owned);
    this.keys[keynum] = owned;
    return owned;
  }
}

/** `user<fnvhash64(keynum)>`, YCSB's key name. Requires: 0 <= keynum < 2^53. */
export function userKeyOf(keynum: number, scratch: Uint32Array = new Uint32Array(2)): string {
  fnvHash64Into(keynum, scratch);
  const hash = (BigInt(scratch[0]!) << 32n) | BigInt(scratch[1]!);
  return `user${hash.toString()}`;
}

/** A fresh record of `keynum` with every field at `version`. */
export function buildRecord(keynum: number, version: number): Buffer {
  const record = Buffer.allocUnsafeSlow(RECORD_BYTES);
  for (let field = 0; field < FIELD_COUNT; field++) {
    writeField(record, field, fieldTag(keynum, field, version));
  }
  return record;
}

/**
 * A copy of `record` (which the engine may reuse after the next call) with `field` rewritten at
 * `version`. Requires: record holds RECORD_BYTES bytes.
 */
export function patchRecord(
  record: Uint8Array,
  request: { readonly keynum: number; readonly field: number; readonly version: number },
): Buffer {
  assert(record.length === RECORD_BYTES);
  const next = Buffer.allocUnsafeSlow(RECORD_BYTES);
  next.set(record);
  writeField(next, request.field, fieldTag(request.keynum, request.field, request.version));
  return next;
}

/** Hash of (key number, field, version); version 0 is the load. */
export function fieldTag(keynum: number, field: number, version: number): number {
  let hash = mix32(keynum ^ Math.imul(field + 1, 0x9e3779b1));
  hash = mix32(hash ^ (version >>> 0));
  return mix32(hash ^ Math.floor(version / 4294967296));
}

/**
 * The checksum of the records read. Each record gets one hash: the FNV-1a style fold (over
 * 32-bit words) of its ten field tags, seeded by the phase op index that read it and its
 * position in that op (a scan returns several, in key order). The checksum is the sum of those
 * hashes mod 2^32, so it depends on which op read which record version but not on the order in
 * which threads ran their ops: a phase partitioned over threads gives a single thread's figure
 * (`merge`). A record of the wrong length is counted, not folded.
 */
export class ReadChecksum {
  value = 0;
  records = 0;
  badRecords = 0;
  private opSeed = mix32(0);
  private position = 0;

  /** Starts the reads of the op at `opIndex` (its index in the phase, below 2^32). */
  startOp(opIndex: number): void {
    this.opSeed = mix32(opIndex);
    this.position = 0;
  }

  add(record: Uint8Array): void {
    const position = this.position++;
    if (record.length !== RECORD_BYTES) {
      this.badRecords++;
      return;
    }
    let value = mix32(this.opSeed ^ position);
    for (let offset = 0; offset < RECORD_BYTES; offset += FIELD_BYTES) {
      const tag =
        (record[offset]! |
          (record[offset + 1]! << 8) |
          (record[offset + 2]! << 16) |
          (record[offset + 3]! << 24)) >>>
        0;
      value = Math.imul(value ^ tag, 0x01000193) >>> 0;
    }
    this.value = (this.value + mix32(value)) >>> 0;
    this.records++;
  }

  /** Adds another thread's reads of the same phase. */
  merge(other: {
    readonly value: number;
    readonly records: number;
    readonly badRecords: number;
  }): void {
    this.value = (this.value + other.value) >>> 0;
    this.records += other.records;
    this.badRecords += other.badRecords;
  }

  hex(): string {
    return this.value.toString(16).padStart(8, '0');
  }
}

function writeField(record: Buffer, field: number, tag: number): void {
  const offset = field * FIELD_BYTES;
  record.writeUInt32LE(tag, offset);
  const textOffset = tag % (TEXT_POOL_BYTES - TEXT_BYTES);
  record.set(TEXT_POOL.subarray(textOffset, textOffset + TEXT_BYTES), offset + 4);
}

function mix32(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}
