/**
 * A caller's write batch as it enters the write path: checked, encoded and copied once, so that a
 * caller who reuses its buffers after `write()` returns cannot change what gets committed (the
 * aggregation buffer of Apache Traffic Server copies writers' bytes in for the same reason).
 */
import { StrataError } from '../errors.js';
import { KIND_BLOB_REFERENCE, KIND_DELETION, KIND_VALUE } from '../sst/internal-key.js';

/**
 * One operation of a caller's batch. A string key or value is UTF-8 encoded. `blobRef` is the
 * engine's own: its value is an encoded blob reference (src/blob/blob-ref.ts), never a user's.
 */
export interface WriteOp {
  readonly type: 'put' | 'del' | 'blobRef';
  readonly key: Uint8Array | string;
  /** Required for `put` and `blobRef`; must be absent for `del`. */
  readonly value?: Uint8Array | string;
  /**
   * `put` only: store the value in a blob file with this many bytes reserved for it (at least
   * its length), whatever its size. The engine's `append` uses it; a plain put leaves the choice
   * to the committer's `separate` hook.
   */
  readonly blobCapacity?: number;
}

export interface WriteOptions {
  /** Make the group durable (the committer's `sync` hook) before this write resolves. */
  readonly sync?: boolean;
  /**
   * Called when the write's turn comes, with nothing else applied in between: returns the ops
   * to apply (a subset of the encoded ops, e.g. those whose key still holds what the caller
   * read). An empty selection rejects the write with ERR_CONFLICT and applies nothing.
   */
  readonly select?: (ops: readonly EncodedOp[]) => readonly EncodedOp[];
}

/** A validated operation: private copies of the bytes, ready to become a memtable record. */
export interface EncodedOp {
  readonly kind: typeof KIND_DELETION | typeof KIND_VALUE | typeof KIND_BLOB_REFERENCE;
  readonly userKey: Uint8Array;
  readonly value: Uint8Array;
  /** See WriteOp.blobCapacity. */
  readonly blobCapacity?: number;
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
    const encoded: EncodedOp = {
      kind: KIND_VALUE,
      userKey,
      value: copyBytes(value, index, 'value', copy),
    };
    const capacity = (op as { blobCapacity?: unknown }).blobCapacity;
    if (capacity === undefined) return encoded;
    if (!Number.isSafeInteger(capacity) || (capacity as number) < encoded.value.length) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `write: ops[${index}].blobCapacity must be an integer >= the value's length`,
      );
    }
    return { ...encoded, blobCapacity: capacity as number };
  }
  if (type === 'blobRef') {
    return { kind: KIND_BLOB_REFERENCE, userKey, value: copyBytes(value, index, 'value', copy) };
  }
  if (type === 'del') {
    if (value !== undefined) {
      throw new StrataError('ERR_INVALID_ARGUMENT', `write: ops[${index}] is a del with a value`);
    }
    return { kind: KIND_DELETION, userKey, value: EMPTY_VALUE };
  }
  throw new StrataError(
    'ERR_INVALID_ARGUMENT',
    `write: ops[${index}].type must be 'put', 'del' or 'blobRef', got ${describe(type)}`,
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
