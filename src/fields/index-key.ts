/**
 * Keys of secondary-index entries. They live in the engine's one keyspace, inside a range that
 * user keys are kept out of, and sort bytewise by (index id, field value, primary key).
 * FORMAT.md, "Index entry key".
 *
 *   +-------------------+-----------+----------------------------------+------------+-------------+
 *   | prefix            | indexId   | escaped value                    | terminator | primary key |
 *   | FF FF FF FF 69 78 | u32 BE    | value, each 00 written as 00 FF  | 00 01      | raw, to end |
 *   +-------------------+-----------+----------------------------------+------------+-------------+
 *    0                   6           10                                 10 + e       12 + e
 *
 * Inside the escaped value a 00 is always followed by FF, so the first 00 01 ends it: the value
 * part is self-delimiting and no value's part is a prefix of another's. Bytewise, escaping
 * keeps the order of values, and a shorter value sorts first because 01 is below both FF (an
 * escaped 00) and any other byte. FORMAT.md gives the full argument.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { U32 } from '../sst/table-format.js';

/**
 * Every index entry key starts with these bytes; the index keyspace is
 * [FF FF FF FF 69 78, FF FF FF FF 69 79). The
 * engine refuses user keys that start with them (ERR_INVALID_ARGUMENT), so user data never
 * lands there, and user iterators must skip the range. On disk: never change it.
 */
export const INDEX_KEYSPACE_PREFIX: Uint8Array = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x78);
/** This module's own copy: a typed array cannot be frozen, so the export could be mutated. */
const PREFIX: Uint8Array = INDEX_KEYSPACE_PREFIX.slice();

/** The value and primary key are views into the decoded key, not copies. */
export interface IndexKey {
  readonly indexId: U32;
  readonly value: Uint8Array;
  readonly primaryKey: Uint8Array;
}

/** A scan range of entry keys: every key k with gte <= k < lt. Always gte <= lt. */
export interface IndexKeyRange {
  readonly gte: Uint8Array;
  readonly lt: Uint8Array;
}

/** Bounds on the field value, compared bytewise; at most one lower and one upper bound. */
export interface IndexValueBounds {
  readonly gt?: Uint8Array | undefined;
  readonly gte?: Uint8Array | undefined;
  readonly lt?: Uint8Array | undefined;
  readonly lte?: Uint8Array | undefined;
}

const ESCAPE = 0x00;
const ESCAPED_ZERO = 0xff; // 00 FF stands for one 00 byte of the value
const TERMINATOR = 0x01; // 00 01 ends the value
/** 00 02 sorts after every entry of a value: above 00 01 + anything, below 00 FF. */
const AFTER_VALUE = 0x02;
const INDEX_ID_OFFSET = PREFIX.length;
const VALUE_OFFSET = INDEX_ID_OFFSET + 4;
const INDEX_ID_MAX = 0xffffffff;

/** Requires: indexId a u32 (the catalog assigns it). ERR_INVALID_ARGUMENT for non-bytes. */
export function encodeIndexKey(
  indexId: U32,
  value: Uint8Array,
  primaryKey: Uint8Array,
): Uint8Array {
  requireBytes(value, 'index value');
  requireBytes(primaryKey, 'primary key');
  const key = encodeValuePrefix(indexId, value, { suffixBytes: primaryKey.length });
  key.set(primaryKey, key.length - primaryKey.length);
  return key;
}

/**
 * ERR_CORRUPT for a key without the keyspace prefix, too short for the index id and
 * terminator, or with a 00 in the value part followed by anything but FF or 01.
 */
export function decodeIndexKey(key: Uint8Array): IndexKey {
  requireBytes(key, 'index key');
  if (!hasIndexKeyspacePrefix(key)) throw corrupt(0, 'key is not in the index keyspace');
  if (key.length < VALUE_OFFSET + 2) {
    throw corrupt(0, `${key.length} bytes, too short for an index id and a terminator`);
  }
  const indexId = readU32BigEndian(key, INDEX_ID_OFFSET);
  let zeroCount = 0;
  let offset = VALUE_OFFSET;
  // Each pass consumes a 00 pair, so the loop ends within key.length / 2 passes.
  for (;;) {
    const zeroAt = key.indexOf(ESCAPE, offset);
    if (zeroAt < 0 || zeroAt + 1 >= key.length) throw corrupt(key.length, 'value not terminated');
    const next = key[zeroAt + 1]!;
    offset = zeroAt + 2;
    if (next === TERMINATOR) break;
    if (next !== ESCAPED_ZERO) throw corrupt(zeroAt, `00 followed by ${hexByte(next)}`);
    zeroCount++;
  }
  const valueEnd = offset - 2;
  return {
    indexId,
    value: unescapeValue(key.subarray(VALUE_OFFSET, valueEnd), zeroCount),
    primaryKey: key.subarray(offset),
  };
}

/** Every entry of index `indexId` whose value is exactly `value`. */
export function indexValueRange(indexId: U32, value: Uint8Array): IndexKeyRange {
  requireBytes(value, 'index value');
  return { gte: valueStart(indexId, value), lt: valueEnd(indexId, value) };
}

/**
 * Every entry of index `indexId` whose value lies within `bounds` (bytewise; no bound means
 * unbounded on that side). An empty interval gives gte === lt (an empty scan). ERR_INVALID_ARGUMENT
 * for both gt and gte, both lt and lte, or a bound that is not a Uint8Array.
 */
export function indexRange(indexId: U32, bounds: IndexValueBounds): IndexKeyRange {
  if (typeof bounds !== 'object' || bounds === null) {
    throw invalid('index range bounds must be an object');
  }
  const { gt, gte, lt, lte } = bounds;
  if (gt !== undefined && gte !== undefined) throw invalid('index range has both gt and gte');
  if (lt !== undefined && lte !== undefined) throw invalid('index range has both lt and lte');
  for (const [name, bound] of Object.entries({ gt, gte, lt, lte })) {
    if (bound !== undefined) requireBytes(bound, `index range ${name}`);
  }
  const keyspace = indexKeyspaceRange(indexId);
  // Entries of values <= v end before valueEnd(v); entries of values >= v start at valueStart(v).
  let lower = keyspace.gte;
  if (gte !== undefined) lower = valueStart(indexId, gte);
  if (gt !== undefined) lower = valueEnd(indexId, gt);
  let upper = keyspace.lt;
  if (lt !== undefined) upper = valueStart(indexId, lt);
  if (lte !== undefined) upper = valueEnd(indexId, lte);
  if (Buffer.compare(lower, upper) > 0) upper = lower;
  return { gte: lower, lt: upper };
}

/** Every entry of index `indexId`, for dropping the index. Requires: indexId a u32. */
export function indexKeyspaceRange(indexId: U32): IndexKeyRange {
  const gte = new Uint8Array(VALUE_OFFSET);
  gte.set(PREFIX, 0);
  writeU32BigEndian(gte, INDEX_ID_OFFSET, indexId);
  if (indexId < INDEX_ID_MAX) {
    const lt = gte.slice();
    writeU32BigEndian(lt, INDEX_ID_OFFSET, indexId + 1);
    return { gte, lt };
  }
  return { gte, lt: indexKeyspaceEnd() };
}

/** Whether `key` lies in the index keyspace; the engine refuses such user keys. */
export function hasIndexKeyspacePrefix(key: Uint8Array): boolean {
  if (key.length < PREFIX.length) return false;
  for (let index = 0; index < PREFIX.length; index++) {
    if (key[index] !== PREFIX[index]) return false;
  }
  return true;
}

/** keyspacePartition of every key below the index keyspace (bytewise < FF FF FF FF 69 78). */
export const PARTITION_BELOW_INDEXES: number = -1;
/** keyspacePartition of every key at or above the end of the index keyspace (FF FF FF FF 69 79). */
export const PARTITION_ABOVE_INDEXES: number = 2 ** 32;

/**
 * Which part of the keyspace holds `userKey`, as a number that never decreases as keys grow:
 * PARTITION_BELOW_INDEXES (-1) below FF FF FF FF 69 78, the id i of the index whose range
 * indexKeyspaceRange(i) = [P(i), P(i + 1)) holds the key, or PARTITION_ABOVE_INDEXES (2^32) from
 * FF FF FF FF 69 79 on. Compaction never lets one output table hold keys of two partitions, so that an index
 * build can ingest tables of one index's range without overlapping any other table's range.
 *
 * A key with the prefix but shorter than 10 bytes is no entry key (the engine refuses such user
 * keys), yet it has a place in the order: it sorts just below P(p), p being its id bytes padded
 * with zeros, so it lies in index p - 1's range (below index 0's for p = 0: `FF FF FF FF 69 78` is -1).
 */
export function keyspacePartition(userKey: Uint8Array): number {
  // Compaction asks once per user key, so this compares bytes rather than calling Buffer.compare.
  // A key that differs from the prefix within it lies below FF FF FF FF 69 78, or at or above FF FF FF FF 69 79.
  for (let index = 0; index < PREFIX.length; index++) {
    const byte = userKey[index];
    if (byte === undefined) return PARTITION_BELOW_INDEXES; // a proper prefix of FF FF FF FF 69 78
    if (byte < PREFIX[index]!) return PARTITION_BELOW_INDEXES;
    if (byte > PREFIX[index]!) return PARTITION_ABOVE_INDEXES;
  }
  if (userKey.length >= VALUE_OFFSET) return readU32BigEndian(userKey, INDEX_ID_OFFSET);
  const padded = new Uint8Array(4);
  padded.set(userKey.subarray(INDEX_ID_OFFSET), 0);
  return readU32BigEndian(padded, 0) - 1;
}

/** The first key after the index keyspace: FF FF FF FF 69 79. */
export function indexKeyspaceEnd(): Uint8Array {
  const end = PREFIX.slice();
  end[end.length - 1]! += 1;
  return end;
}

/** Prefix, index id, escaped value and 00 01, with `suffixBytes` zero bytes left after. */
function encodeValuePrefix(
  indexId: U32,
  value: Uint8Array,
  options: { readonly suffixBytes: number },
): Uint8Array {
  let zeroCount = 0;
  for (const byte of value) if (byte === ESCAPE) zeroCount++;
  const escapedEnd = VALUE_OFFSET + value.length + zeroCount;
  const key = new Uint8Array(escapedEnd + 2 + options.suffixBytes);
  key.set(PREFIX, 0);
  writeU32BigEndian(key, INDEX_ID_OFFSET, indexId);
  let out = VALUE_OFFSET;
  for (let index = 0; index < value.length; index++) {
    const byte = value[index]!;
    key[out++] = byte;
    if (byte === ESCAPE) key[out++] = ESCAPED_ZERO;
  }
  assert(out === escapedEnd, 'escaped value fills its room');
  key[out] = ESCAPE;
  key[out + 1] = TERMINATOR;
  return key;
}

/** The smallest entry key of `value`: prefix, id, escaped value, 00 01. */
function valueStart(indexId: U32, value: Uint8Array): Uint8Array {
  return encodeValuePrefix(indexId, value, { suffixBytes: 0 });
}

/** Just past every entry key of `value`: prefix, id, escaped value, 00 02. */
function valueEnd(indexId: U32, value: Uint8Array): Uint8Array {
  const end = valueStart(indexId, value);
  end[end.length - 1] = AFTER_VALUE;
  return end;
}

function unescapeValue(escaped: Uint8Array, zeroCount: number): Uint8Array {
  if (zeroCount === 0) return escaped;
  const value = new Uint8Array(escaped.length - zeroCount);
  let out = 0;
  for (let index = 0; index < escaped.length; index++) {
    const byte = escaped[index]!;
    value[out++] = byte;
    if (byte === ESCAPE) index++; // skip the FF that decodeIndexKey checked
  }
  assert(out === value.length, 'unescaped value fills its room');
  return value;
}

function writeU32BigEndian(target: Uint8Array, offset: number, value: U32): void {
  assert(Number.isInteger(value), 'index id is an integer');
  assert(value >= 0 && value <= INDEX_ID_MAX, 'index id is a u32');
  target[offset] = value >>> 24;
  target[offset + 1] = (value >>> 16) & 0xff;
  target[offset + 2] = (value >>> 8) & 0xff;
  target[offset + 3] = value & 0xff;
}

function readU32BigEndian(bytes: Uint8Array, offset: number): U32 {
  const low24 = (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
  return bytes[offset]! * 0x1000000 + low24;
}

function requireBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    const got = value === null ? 'null' : typeof value;
    throw invalid(`${what} must be a Uint8Array, got ${got}`);
  }
}

function hexByte(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function invalid(message: string): StrataError {
  return new StrataError('ERR_INVALID_ARGUMENT', message);
}

function corrupt(offsetBytes: number, detail: string): StrataError {
  return new StrataError('ERR_CORRUPT', `corrupt index key at byte ${offsetBytes}: ${detail}`);
}

assert(PREFIX[PREFIX.length - 1]! < 0xff); // indexKeyspaceEnd increments the last byte
assert(TERMINATOR < AFTER_VALUE && AFTER_VALUE < ESCAPED_ZERO); // see valueEnd
assert(ESCAPE < TERMINATOR); // 00 is the only byte the value part must escape
