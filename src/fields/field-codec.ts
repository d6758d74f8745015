/**
 * A field record: the value bytes of a key written with named fields, so that secondary indexes
 * can find one field's bytes. FORMAT.md, "Field record".
 *
 *   +-------------+------------+------------+-------------+-------------+---------+
 *   | fieldCount  | nameLength | name       | valueLength | value       | ...     |
 *   | u32 LE      | u32 LE     | UTF-8      | u32 LE      | any bytes   | next    |
 *   +-------------+------------+------------+-------------+-------------+---------+
 *    0             4            8            8 + n         12 + n        12 + n + v
 *
 * Names and values are length-prefixed, so any byte may appear in either (no escaping). The
 * encoder writes fields in ascending order of their UTF-8 name bytes, so equal field sets encode
 * to equal bytes; the decoder accepts any order but refuses duplicate names.
 */
import { assert, invariantsEnabled } from '../assert.js';
import { StrataError } from '../errors.js';
import { readU32, type U32, writeU32 } from '../sst/table-format.js';

export type FieldValue = string | Uint8Array;
export type Fields = Readonly<Record<string, FieldValue>>;

export interface DecodedField {
  readonly name: string;
  /** A view into the decoded bytes, not a copy. */
  readonly value: Uint8Array;
}

/** A name is at most 64 KiB of UTF-8. Persisted limit: never lower it. */
export const FIELD_NAME_BYTES_MAX: number = 64 * 1024;
/** A record holds at most 2^20 fields. Persisted limit: never lower it. */
export const FIELD_COUNT_MAX: number = 2 ** 20;

const U32_BYTES = 4;
const COUNT_BYTES = U32_BYTES;
/** The fixed bytes of one field: its name length and its value length. */
const FIELD_HEADER_BYTES = 2 * U32_BYTES;
const VALUE_BYTES_MAX = 0xffffffff;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * ERR_INVALID_ARGUMENT naming the field for: `fields` not a plain object, a value neither a
 * string nor a Uint8Array, a name or string value that is not well-formed UTF-16 (a lone
 * surrogate would not survive UTF-8), a name above FIELD_NAME_BYTES_MAX bytes, a value above
 * 2^32 - 1 bytes, more than FIELD_COUNT_MAX fields.
 */
export function encodeFields(fields: Fields): Uint8Array {
  const entries = fieldEntries(fields);
  entries.sort((left, right) => Buffer.compare(left.name, right.name));
  let sizeBytes = COUNT_BYTES;
  for (const entry of entries)
    sizeBytes += FIELD_HEADER_BYTES + entry.name.length + entry.value.length;
  const bytes = new Uint8Array(sizeBytes);
  writeU32(bytes, 0, entries.length);
  let offset = COUNT_BYTES;
  for (const entry of entries) {
    offset = writeChunk(bytes, offset, entry.name);
    offset = writeChunk(bytes, offset, entry.value);
  }
  assert(offset === sizeBytes, 'a field record fills its buffer exactly');
  if (invariantsEnabled) assert(isFieldRecord(bytes), 'an encoded field record decodes');
  return bytes;
}

/**
 * The fields of a record, in stored order. ERR_CORRUPT naming `where` and the byte offset when
 * the bytes are not exactly one field record: too short for a count, a count above
 * FIELD_COUNT_MAX or above what the bytes could hold, a length running past the end, a name
 * above FIELD_NAME_BYTES_MAX or not valid UTF-8, a duplicate name, bytes after the last field.
 * ERR_INVALID_ARGUMENT when `bytes` is not a Uint8Array.
 */
export function decodeFields(bytes: Uint8Array, where = 'value'): DecodedField[] {
  requireBytes(bytes);
  const fieldCount = readFieldCount(bytes, where);
  const fields: DecodedField[] = [];
  const seen = new Set<string>();
  let offset = COUNT_BYTES;
  for (let fieldIndex = 0; fieldIndex < fieldCount; fieldIndex++) {
    const fieldOffset = offset;
    const nameBytes = readChunk(bytes, offset, FIELD_NAME_BYTES_MAX, { where, what: 'name' });
    offset += U32_BYTES + nameBytes.length;
    const name = decodeName(nameBytes, where, fieldOffset + U32_BYTES);
    if (seen.has(name)) {
      throw corrupt(where, fieldOffset, `duplicate field name ${quote(name)}`);
    }
    seen.add(name);
    const value = readChunk(bytes, offset, VALUE_BYTES_MAX, { where, what: 'value' });
    offset += U32_BYTES + value.length;
    fields.push({ name, value });
  }
  if (offset !== bytes.length) {
    throw corrupt(where, offset, `${bytes.length - offset} bytes after the last field`);
  }
  return fields;
}

/**
 * The bytes of field `name` (a view into `bytes`), or undefined. It walks the fields in stored
 * order up to and including the first whose name bytes equal `name`'s UTF-8, and returns
 * undefined as soon as the walk meets something decodeFields would refuse: a count too short,
 * above FIELD_COUNT_MAX or above what the bytes could hold; a length field or a name or value
 * running past the end; a name above FIELD_NAME_BYTES_MAX. It does not UTF-8-check the names it
 * skips, look for duplicates, or look at anything after the match, so a value from it does not
 * prove isFieldRecord(bytes). When isFieldRecord(bytes) holds, it returns exactly what
 * decodeFields returns for `name`. ERR_INVALID_ARGUMENT for a name that is not a well-formed
 * string.
 */
export function fieldValue(bytes: Uint8Array, name: string): Uint8Array | undefined {
  requireBytes(bytes);
  const target = encodeName(name);
  if (bytes.length < COUNT_BYTES) return undefined;
  const fieldCount = readU32(bytes, 0);
  if (!fieldCountFits(fieldCount, bytes.length)) return undefined;
  let offset = COUNT_BYTES;
  for (let fieldIndex = 0; fieldIndex < fieldCount; fieldIndex++) {
    const nameLength = chunkLength(bytes, offset, FIELD_NAME_BYTES_MAX);
    if (nameLength < 0) return undefined;
    const nameStart = offset + U32_BYTES;
    offset = nameStart + nameLength;
    const valueLength = chunkLength(bytes, offset, VALUE_BYTES_MAX);
    if (valueLength < 0) return undefined;
    const valueStart = offset + U32_BYTES;
    offset = valueStart + valueLength;
    if (nameLength === target.length && bytesEqualAt(bytes, nameStart, target)) {
      return bytes.subarray(valueStart, offset);
    }
  }
  return undefined;
}

/** True iff decodeFields(bytes) would succeed. A raw `put` value may be anything. */
export function isFieldRecord(bytes: Uint8Array): boolean {
  try {
    decodeFields(bytes, 'isFieldRecord');
    return true;
  } catch (error) {
    if (error instanceof StrataError && error.code === 'ERR_CORRUPT') return false;
    throw error;
  }
}

interface EncodedField {
  readonly name: Uint8Array;
  readonly value: Uint8Array;
}

function fieldEntries(fields: Fields): EncodedField[] {
  if (!isPlainObject(fields)) {
    throw invalid(`fields must be a plain object of names to values, got ${describe(fields)}`);
  }
  const names = Object.keys(fields);
  if (names.length > FIELD_COUNT_MAX) {
    throw invalid(`${names.length} fields, above the limit of ${FIELD_COUNT_MAX}`);
  }
  return names.map((name) => ({ name: encodeName(name), value: encodeValue(name, fields[name]) }));
}

function encodeName(name: string): Uint8Array {
  if (typeof name !== 'string') throw invalid(`field name must be a string, got ${describe(name)}`);
  if (!name.isWellFormed()) {
    throw invalid(`field name ${quote(name)} holds a lone surrogate (not UTF-8)`);
  }
  const bytes = utf8Encoder.encode(name);
  if (bytes.length > FIELD_NAME_BYTES_MAX) {
    throw invalid(
      `field name ${quote(name)} is ${bytes.length} bytes, ` +
        `above the limit of ${FIELD_NAME_BYTES_MAX}`,
    );
  }
  return bytes;
}

function encodeValue(name: string, value: unknown): Uint8Array {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) {
      throw invalid(`field ${quote(name)}: string value holds a lone surrogate`);
    }
    return utf8Encoder.encode(value);
  }
  if (!(value instanceof Uint8Array)) {
    throw invalid(
      `field ${quote(name)}: value must be a string or Uint8Array, got ${describe(value)}`,
    );
  }
  if (value.length > VALUE_BYTES_MAX) {
    throw invalid(`field ${quote(name)}: value is ${value.length} bytes, above 2^32 - 1`);
  }
  return value;
}

/** Writes a u32 LE length then the bytes; returns the offset after them. */
function writeChunk(target: Uint8Array, offset: number, chunk: Uint8Array): number {
  writeU32(target, offset, chunk.length);
  target.set(chunk, offset + U32_BYTES);
  return offset + U32_BYTES + chunk.length;
}

function readFieldCount(bytes: Uint8Array, where: string): U32 {
  if (bytes.length < COUNT_BYTES) {
    throw corrupt(where, 0, `${bytes.length} bytes, too short for the field count`);
  }
  const fieldCount = readU32(bytes, 0);
  if (!fieldCountFits(fieldCount, bytes.length)) {
    throw corrupt(
      where,
      0,
      `field count ${fieldCount} exceeds the limit of ${FIELD_COUNT_MAX} or what ` +
        `${bytes.length} bytes can hold`,
    );
  }
  return fieldCount;
}

/** Whether `fieldCount` is within the limit and its headers alone fit in `sizeBytes`. */
function fieldCountFits(fieldCount: U32, sizeBytes: number): boolean {
  return (
    fieldCount <= FIELD_COUNT_MAX && fieldCount * FIELD_HEADER_BYTES <= sizeBytes - COUNT_BYTES
  );
}

interface ChunkContext {
  readonly where: string;
  readonly what: 'name' | 'value';
}

/** The length-prefixed chunk at `offset`, as a view. ERR_CORRUPT if it is cut or too long. */
function readChunk(
  bytes: Uint8Array,
  offset: number,
  lengthMax: number,
  context: ChunkContext,
): Uint8Array {
  const { where, what } = context;
  if (offset + U32_BYTES > bytes.length) {
    throw corrupt(where, offset, `${what} length cut off by the end of the record`);
  }
  const length = readU32(bytes, offset);
  if (length > lengthMax) {
    throw corrupt(where, offset, `${what} length ${length} exceeds the limit of ${lengthMax}`);
  }
  const start = offset + U32_BYTES;
  if (length > bytes.length - start) {
    throw corrupt(where, offset, `${what} of ${length} bytes runs past the end of the record`);
  }
  return bytes.subarray(start, start + length);
}

/** Like readChunk's length, but -1 where readChunk would throw. */
function chunkLength(bytes: Uint8Array, offset: number, lengthMax: number): number {
  if (offset + U32_BYTES > bytes.length) return -1;
  const length = readU32(bytes, offset);
  if (length > lengthMax || length > bytes.length - offset - U32_BYTES) return -1;
  return length;
}

function decodeName(nameBytes: Uint8Array, where: string, offset: number): string {
  try {
    return utf8Decoder.decode(nameBytes);
  } catch (error) {
    throw corrupt(where, offset, 'field name is not valid UTF-8', error);
  }
}

function bytesEqualAt(bytes: Uint8Array, offset: number, target: Uint8Array): boolean {
  for (let index = 0; index < target.length; index++) {
    if (bytes[offset + index] !== target[index]) return false;
  }
  return true;
}

function requireBytes(bytes: unknown): void {
  if (!(bytes instanceof Uint8Array))
    throw invalid(`record must be a Uint8Array, got ${describe(bytes)}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A name for a message: JSON-quoted, cut to 40 characters. */
function quote(name: string): string {
  return name.length <= 40 ? JSON.stringify(name) : `${JSON.stringify(name.slice(0, 40))}…`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return typeof value;
}

function invalid(message: string): StrataError {
  return new StrataError('ERR_INVALID_ARGUMENT', message);
}

function corrupt(where: string, offsetBytes: number, detail: string, cause?: unknown): StrataError {
  const message = `corrupt field record in ${where} at byte ${offsetBytes}: ${detail}`;
  return new StrataError('ERR_CORRUPT', message, cause === undefined ? undefined : { cause });
}

assert(FIELD_HEADER_BYTES === 8); // a name length and a value length, u32 each
assert(FIELD_NAME_BYTES_MAX <= VALUE_BYTES_MAX); // a name length fits its u32
assert(FIELD_COUNT_MAX <= 0xffffffff); // the count fits its u32
