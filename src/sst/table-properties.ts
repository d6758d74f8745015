/**
 * What a table says about itself, written once by the writer into the properties block and read
 * at open. FORMAT.md, "Properties block".
 *
 *   +-----------+-----------------+---------+-----------+-----------------+---------+---
 *   | tag       | length          | payload | tag       | length          | payload | ...
 *   | varint32  | varint32        |         | varint32  | varint32        |         |
 *   +-----------+-----------------+---------+-----------+-----------------+---------+---
 *   tags strictly ascending; numbers are one varint64 filling the payload; keys are raw bytes
 *
 * A later writer may add tags without a new format version; a reader skips tags it does not
 * know. Tags are never renumbered or reused.
 */
import { assert } from '../assert.js';
import { type BlockLocation, corruptionError } from './corruption.js';
import { compareInternalKeys, isValidEntryKey } from './internal-key.js';
import {
  type ByteCursor,
  decodeVarint32,
  decodeVarint64,
  encodeVarint32,
  encodeVarint64,
  VARINT32_BYTES_MAX,
  varint64Length,
} from './varint.js';

export interface TableProperties {
  readonly formatVersion: number;
  readonly entryCount: number;
  /** Entries of kind deletion. */
  readonly tombstoneCount: number;
  /** Distinct user keys, which is what the bloom filter holds. */
  readonly userKeyCount: number;
  readonly dataBlockCount: number;
  /** Sum of the internal keys' lengths (user key + 8-byte trailer) before prefix compression. */
  readonly rawKeyBytes: number;
  readonly rawValueBytes: number;
  readonly seqMin: number;
  readonly seqMax: number;
  /** Internal keys of the first and the last entry. */
  readonly smallestKey: Uint8Array;
  readonly largestKey: Uint8Array;
  /** Milliseconds since the Unix epoch when the writer finished. */
  readonly createdAtMs: number;
  /** The file's length. Not stored in the properties block: the reader takes it from the file. */
  readonly fileSizeBytes: number;
}

export type StoredTableProperties = Omit<TableProperties, 'fileSizeBytes'>;

type NumberField = Exclude<keyof StoredTableProperties, 'smallestKey' | 'largestKey'>;
type KeyField = 'smallestKey' | 'largestKey';

/** Tags on disk: never renumber or reuse one. Kept in ascending order. */
const FIELDS: ReadonlyArray<{ tag: number; name: NumberField | KeyField }> = [
  { tag: 1, name: 'formatVersion' },
  { tag: 2, name: 'entryCount' },
  { tag: 3, name: 'tombstoneCount' },
  { tag: 4, name: 'userKeyCount' },
  { tag: 5, name: 'dataBlockCount' },
  { tag: 6, name: 'rawKeyBytes' },
  { tag: 7, name: 'rawValueBytes' },
  { tag: 8, name: 'seqMin' },
  { tag: 9, name: 'seqMax' },
  { tag: 10, name: 'smallestKey' },
  { tag: 11, name: 'largestKey' },
  { tag: 12, name: 'createdAtMs' },
];

export function encodeTableProperties(properties: StoredTableProperties): Uint8Array {
  let sizeBytes = 0;
  for (const field of FIELDS)
    sizeBytes += 2 * VARINT32_BYTES_MAX + payloadLength(properties, field.name);
  const bytes = new Uint8Array(sizeBytes);
  let offset = 0;
  for (const field of FIELDS) {
    offset = encodeVarint32(bytes, offset, field.tag);
    offset = encodeVarint32(bytes, offset, payloadLength(properties, field.name));
    const value = properties[field.name];
    if (typeof value === 'number') {
      offset = encodeVarint64(bytes, offset, value);
    } else {
      bytes.set(value, offset);
      offset += value.length;
    }
  }
  return bytes.slice(0, offset);
}

/** Decodes and cross-checks a properties block; `fileSizeBytes` comes from the file. */
export function decodeTableProperties(
  bytes: Uint8Array,
  location: BlockLocation,
  fileSizeBytes: number,
): TableProperties {
  const numbers = new Map<NumberField, number>();
  const keys = new Map<KeyField, Uint8Array>();
  const cursor: ByteCursor = { offset: 0 };
  let previousTag = 0;
  while (cursor.offset < bytes.length) {
    const tag = decodeVarint32(bytes, cursor, bytes.length);
    const length = tag < 0 ? -1 : decodeVarint32(bytes, cursor, bytes.length);
    const payloadStart = cursor.offset;
    if (length < 0 || tag <= previousTag || payloadStart + length > bytes.length) {
      throw corruptionError(location, `malformed property record at block byte ${payloadStart}`);
    }
    previousTag = tag;
    cursor.offset = payloadStart + length;
    const field = FIELDS.find((candidate) => candidate.tag === tag);
    if (field === undefined) continue; // written by a later writer: skip it
    const payload = bytes.subarray(payloadStart, payloadStart + length);
    if (field.name === 'smallestKey' || field.name === 'largestKey') {
      keys.set(field.name, payload.slice());
      continue;
    }
    const payloadCursor: ByteCursor = { offset: 0 };
    const value = decodeVarint64(payload, payloadCursor, payload.length);
    if (value < 0 || payloadCursor.offset !== payload.length) {
      throw corruptionError(location, `malformed ${field.name} property`);
    }
    numbers.set(field.name, value);
  }
  const number = (name: NumberField): number => {
    const value = numbers.get(name);
    if (value === undefined) throw corruptionError(location, `missing ${name} property`);
    return value;
  };
  const key = (name: KeyField): Uint8Array => {
    const value = keys.get(name);
    if (value === undefined) throw corruptionError(location, `missing ${name} property`);
    return value;
  };
  const properties: TableProperties = {
    formatVersion: number('formatVersion'),
    entryCount: number('entryCount'),
    tombstoneCount: number('tombstoneCount'),
    userKeyCount: number('userKeyCount'),
    dataBlockCount: number('dataBlockCount'),
    rawKeyBytes: number('rawKeyBytes'),
    rawValueBytes: number('rawValueBytes'),
    seqMin: number('seqMin'),
    seqMax: number('seqMax'),
    smallestKey: key('smallestKey'),
    largestKey: key('largestKey'),
    createdAtMs: number('createdAtMs'),
    fileSizeBytes,
  };
  const problem = inconsistency(properties);
  if (problem !== undefined) throw corruptionError(location, `properties: ${problem}`);
  return properties;
}

/** Why a set of properties cannot describe a real table, or undefined if it can. */
function inconsistency(properties: TableProperties): string | undefined {
  if (properties.entryCount < 1) return 'no entries';
  if (properties.tombstoneCount > properties.entryCount) return 'more tombstones than entries';
  if (properties.userKeyCount < 1 || properties.userKeyCount > properties.entryCount) {
    return 'user key count out of range';
  }
  if (properties.dataBlockCount < 1 || properties.dataBlockCount > properties.entryCount) {
    return 'data block count out of range';
  }
  if (properties.seqMin > properties.seqMax) return 'seqMin above seqMax';
  if (!isValidEntryKey(properties.smallestKey) || !isValidEntryKey(properties.largestKey)) {
    return 'smallest or largest key is not an entry key';
  }
  if (compareInternalKeys(properties.smallestKey, properties.largestKey) > 0) {
    return 'smallest key above largest key';
  }
  return undefined;
}

function payloadLength(properties: StoredTableProperties, name: NumberField | KeyField): number {
  const value = properties[name];
  if (typeof value === 'number') return varint64Length(value);
  assert(value.length <= 0xffffffff);
  return value.length;
}
