/**
 * Keeping secondary indexes consistent with the data on the write path. In each writer's turn
 * (GroupCommitOptions.expand) every op on a user key is compared with the key's current value —
 * the stored one, or the one an earlier op of the same apply call gave it — and for each active
 * index whose field value changes it appends a delete of the old entry and a put of the new one.
 * They commit in the writer's batch, under its commit mark, so data and index never disagree,
 * also after a crash.
 *
 * Which indexes are active is set by the index manager between groups (never during one), so the
 * last seq applied before the change is the exact point from which the write path maintains a
 * new index: an index build indexes the data as of that seq.
 *
 * Thread model: main thread only, inside the committer's synchronous turn.
 */
import { type BlobRef, decodeBlobRef } from '../blob/blob-ref.js';
import { fieldValue, isFieldRecord } from '../fields/field-codec.js';
import { encodeIndexKey, hasIndexKeyspacePrefix } from '../fields/index-key.js';
import { KIND_BLOB_REFERENCE, KIND_DELETION, KIND_VALUE } from '../sst/internal-key.js';
import type { OpExpander } from '../write/group-commit.js';
import type { EncodedOp } from '../write/write-op.js';

/** An index the write path keeps up to date: building or ready. */
export interface ActiveIndex {
  readonly id: number;
  readonly field: string;
}

/** A stored version as the read path returns it: a value or an encoded blob reference. */
export interface StoredValue {
  readonly kind: number;
  readonly value: Uint8Array;
}

export interface IndexMaintenanceHost {
  /** Called before the active set changes (attached threads stop writing around it). */
  beforeChange?(indexes: readonly ActiveIndex[]): void;
  /** The newest stored version of a user key (a private copy), or undefined. */
  readStored(key: Uint8Array): StoredValue | undefined;
  /** The value an encoded blob reference names. */
  readBlob(encodedRef: Uint8Array): Uint8Array;
  /** A field value longer than this is not indexed (its entry key would be too long). */
  readonly maxIndexedValueBytes: number;
}

const EMPTY = new Uint8Array(0);

export class IndexMaintenance {
  readonly #host: IndexMaintenanceHost;
  #active: readonly ActiveIndex[] = [];
  #entriesWritten = 0;
  #entriesDeleted = 0;
  #valuesTooLong = 0;

  constructor(host: IndexMaintenanceHost) {
    this.#host = host;
  }

  get active(): readonly ActiveIndex[] {
    return this.#active;
  }

  /** Requires: called outside a group's apply (the committer's turn is synchronous). */
  setActive(indexes: readonly ActiveIndex[]): void {
    this.#host.beforeChange?.(indexes);
    this.#active = Object.freeze([...indexes]);
  }

  stats(): { indexEntriesWritten: number; indexEntriesDeleted: number; valuesTooLong: number } {
    return {
      indexEntriesWritten: this.#entriesWritten,
      indexEntriesDeleted: this.#entriesDeleted,
      valuesTooLong: this.#valuesTooLong,
    };
  }

  /** The expander for one apply call, or undefined when no index is active. */
  expander(): OpExpander | undefined {
    const indexes = this.#active;
    if (indexes.length === 0) return undefined;
    // What the ops earlier in this apply call left in each key, by key bytes.
    const pending = new Map<string, StoredValue | undefined>();
    return {
      add: (ops) => {
        let derived: EncodedOp[] | undefined;
        for (const op of ops) {
          if (hasIndexKeyspacePrefix(op.userKey)) continue;
          const name = keyName(op.userKey);
          const before = pending.has(name) ? pending.get(name) : this.#host.readStored(op.userKey);
          const after = op.kind === KIND_DELETION ? undefined : { kind: op.kind, value: op.value };
          pending.set(name, after);
          if (sameContent(before, after)) continue;
          derived = this.#derive(indexes, op.userKey, before, after, derived);
        }
        return derived === undefined ? ops : [...ops, ...derived];
      },
    };
  }

  #derive(
    indexes: readonly ActiveIndex[],
    key: Uint8Array,
    before: StoredValue | undefined,
    after: StoredValue | undefined,
    derived: EncodedOp[] | undefined,
  ): EncodedOp[] | undefined {
    const oldRecord = this.#record(before);
    const newRecord = this.#record(after);
    if (oldRecord === undefined && newRecord === undefined) return derived;
    let out = derived;
    for (const index of indexes) {
      const oldValue = this.#indexed(oldRecord, index.field, false);
      const newValue = this.#indexed(newRecord, index.field, true);
      if (oldValue !== undefined && newValue !== undefined && equalBytes(oldValue, newValue)) {
        continue;
      }
      out ??= [];
      if (oldValue !== undefined) {
        out.push({
          kind: KIND_DELETION,
          userKey: encodeIndexKey(index.id, oldValue, key),
          value: EMPTY,
        });
        this.#entriesDeleted++;
      }
      if (newValue !== undefined) {
        out.push({
          kind: KIND_VALUE,
          userKey: encodeIndexKey(index.id, newValue, key),
          value: EMPTY,
        });
        this.#entriesWritten++;
      }
    }
    return out;
  }

  /** The value bytes when they form a field record; undefined otherwise (no fields to index). */
  #record(stored: StoredValue | undefined): Uint8Array | undefined {
    if (stored === undefined) return undefined;
    const bytes =
      stored.kind === KIND_BLOB_REFERENCE ? this.#host.readBlob(stored.value) : stored.value;
    return isFieldRecord(bytes) ? bytes : undefined;
  }

  #indexed(
    record: Uint8Array | undefined,
    field: string,
    counting: boolean,
  ): Uint8Array | undefined {
    if (record === undefined) return undefined;
    const value = fieldValue(record, field);
    if (value === undefined || value.length <= this.#host.maxIndexedValueBytes) return value;
    if (counting) this.#valuesTooLong++;
    return undefined;
  }
}

/**
 * Whether two stored versions hold the same bytes without reading blobs: equal inline values, or
 * two references of equal length and CRC32C. References replace references only when blob GC
 * moves a value (same bytes) or an append extends one (longer), and a user's put arrives here as
 * an inline value (the committer separates it afterwards), so equal length and CRC means a move.
 */
function sameContent(before: StoredValue | undefined, after: StoredValue | undefined): boolean {
  if (before === undefined || after === undefined) return before === after;
  if (before.kind === KIND_BLOB_REFERENCE && after.kind === KIND_BLOB_REFERENCE) {
    const left: BlobRef = decodeBlobRef(before.value, 'stored blob reference');
    const right: BlobRef = decodeBlobRef(after.value, 'new blob reference');
    return left.used === right.used && left.crc === right.crc;
  }
  return before.kind === after.kind && equalBytes(before.value, after.value);
}

function equalBytes(left: Uint8Array, right: Uint8Array): boolean {
  return Buffer.compare(left, right) === 0;
}

function keyName(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
}
