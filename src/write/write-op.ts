/**
 * A caller's write batch as it enters the write path: checked, encoded and copied once, so that a
 * caller who reuses its buffers after `write()` returns cannot change what gets committed (the
 * aggregation buffer of Apache Traffic Server copies writers' bytes in for the same reason).
 */
import { StrataError } from '../errors.js';
import { KIND_DELETION, KIND_VALUE } from '../sst/internal-key.js';

/** One operation of a caller's batch. A string key or value is UTF-8 encoded. */
export interface WriteOp {
  readonly type: 'put' | 'del';
  readonly key: Uint8Array | string;
  /** Required for `put`; must be absent for `del`. */
  readonly value?: Uint8Array | string;
}

export interface WriteOptions {
  /** Make the group durable (the committer's `sync` hook) before this write resolves. */
  readonly sync?: boolean;
}

/** A validated operation: private copies of the bytes, ready to become a memtable record. */
export interface EncodedOp {
  readonly kind: typeof KIND_DELETION | typeof KIND_VALUE;
  readonly userKey: Uint8Array;
  readonly value: Uint8Array;
}

/**
 * Counted per operation on top of its key and value when sizing a group: roughly the memtable's
 * fixed record header, so that many tiny operations still fill a group.
 */
export const OP_OVERHEAD_BYTES = 32;

const EMPTY_VALUE = new Uint8Array(0);
const utf8 = new TextEncoder();

/** Makes the private copy of a caller's bytes (the aggregation buffer, or a plain slice). */
export type CopyBytes = (bytes: Uint8Array) => Uint8Array;

const sliceCopy: CopyBytes = (bytes) => bytes.slice();

/** Throws ERR_INVALID_ARGUMENT, naming the first bad operation, before anything is queued. */
export function encodeOps(ops: unknown, copy: CopyBytes = sliceCopy): EncodedOp[] {
  if (!Array.isArray(ops)) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'write: ops must be an array');
  }
  if (ops.length === 0) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'write: ops must hold at least one operation');
  }
  const encoded: EncodedOp[] = [];
  for (let index = 0; index < ops.length; index++) {
    encoded.push(encodeOp(ops[index] as unknown, index, copy));
  }
  return encoded;
}

/** Throws ERR_INVALID_ARGUMENT unless `options` is undefined or `{ sync?: boolean }`. */
export function readSyncOption(options: unknown): boolean {
  if (options === undefined) return false;
  if (typeof options !== 'object' || options === null) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'write: options must be an object');
  }
  const sync = (options as { sync?: unknown }).sync;
  if (sync === undefined) return false;
  if (typeof sync !== 'boolean') {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'write: options.sync must be a boolean');
  }
  return sync;
}

/** The bytes an operation counts for against a group's `maxGroupBytes`. */
export function opSizeBytes(op: EncodedOp): number {
  return op.userKey.length + op.value.length + OP_OVERHEAD_BYTES;
}

function encodeOp(op: unknown, index: number, copy: CopyBytes): EncodedOp {
  if (typeof op !== 'object' || op === null) {
    throw new StrataError('ERR_INVALID_ARGUMENT', `write: ops[${index}] must be an object`);
  }
  const { type, key, value } = op as { type?: unknown; key?: unknown; value?: unknown };
  const userKey = copyBytes(key, index, 'key', copy);
  if (type === 'put') {
    return { kind: KIND_VALUE, userKey, value: copyBytes(value, index, 'value', copy) };
  }
  if (type === 'del') {
    if (value !== undefined) {
      throw new StrataError('ERR_INVALID_ARGUMENT', `write: ops[${index}] is a del with a value`);
    }
    return { kind: KIND_DELETION, userKey, value: EMPTY_VALUE };
  }
  throw new StrataError(
    'ERR_INVALID_ARGUMENT',
    `write: ops[${index}].type must be 'put' or 'del', got ${describe(type)}`,
  );
}

function copyBytes(bytes: unknown, index: number, field: string, copy: CopyBytes): Uint8Array {
  if (bytes instanceof Uint8Array) return copy(bytes);
  if (typeof bytes === 'string') return utf8.encode(bytes); // already a private array
  throw new StrataError(
    'ERR_INVALID_ARGUMENT',
    `write: ops[${index}].${field} must be a Uint8Array or a string, got ${describe(bytes)}`,
  );
}

function describe(thing: unknown): string {
  if (typeof thing === 'string') return JSON.stringify(thing.slice(0, 40));
  if (thing === null) return 'null';
  if (typeof thing === 'object') return thing.constructor?.name ?? 'object';
  return typeof thing;
}
