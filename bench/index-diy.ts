/**
 * The peer of bench/index.ts: classic-level (LevelDB) with a do-it-yourself secondary index, the
 * way Level users build one. Each record is the same field record Strata stores; next to it, in
 * the same atomic batch, an empty-valued key `idx:<field>:<value>:<key>` per indexed field. A
 * query is a range iterator over `idx:<field>:<value>:`. An update must first read the old
 * record to delete its old index keys (LevelDB has no read-modify-write of its own), and skips a
 * field whose value did not change, as Strata's write path does.
 */
import type { ClassicLevel } from 'classic-level';
import { encodeFields, fieldValue } from '../src/fields/field-codec.js';
import { openClassicLevel } from '../src/ycsb/engine-classic-level.js';
import { type BookFields, bytesEqual, diyIndexKey, diyIndexRange } from './index-records.js';

type LevelBatchOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

export class DiyIndexedLevel {
  private constructor(
    private readonly db: ClassicLevel<Uint8Array, Uint8Array>,
    /** The fields this store indexes. */
    readonly fields: readonly string[],
  ) {}

  static async open(dir: string, fields: readonly string[]): Promise<DiyIndexedLevel> {
    return new DiyIndexedLevel(await openClassicLevel(dir), fields);
  }

  /**
   * Writes records under keys that do not exist yet (a bulk load): each record and its index
   * keys in one batch, no read first.
   */
  load(
    records: readonly { readonly key: Uint8Array; readonly fields: BookFields }[],
  ): Promise<void> {
    const ops: LevelBatchOp[] = [];
    for (const { key, fields } of records) {
      ops.push({ type: 'put', key, value: encodeFields(fields) });
      for (const field of this.fields) {
        ops.push({
          type: 'put',
          key: diyIndexKey(field, valueBytes(fields, field), key),
          value: EMPTY,
        });
      }
    }
    return this.db.batch(ops);
  }

  /**
   * One write of a record that may exist: without indexes a plain put; with them, get the old
   * record, then one batch of the record, a delete of each changed field's old index key and a
   * put of its new one. Requires: no other write of `key` in flight (the caller's lanes).
   */
  async put(key: Uint8Array, fields: BookFields): Promise<void> {
    const value = encodeFields(fields);
    if (this.fields.length === 0) return this.db.put(key, value);
    const old = await this.db.get(key);
    const ops: LevelBatchOp[] = [{ type: 'put', key, value }];
    for (const field of this.fields) {
      const next = valueBytes(fields, field);
      const previous = old === undefined ? undefined : fieldValue(old, field);
      if (previous !== undefined && bytesEqual(previous, next)) continue;
      if (previous !== undefined) ops.push({ type: 'del', key: diyIndexKey(field, previous, key) });
      ops.push({ type: 'put', key: diyIndexKey(field, next, key), value: EMPTY });
    }
    return this.db.batch(ops);
  }

  /** The primary keys whose `field` is `value`, in key order: one prefix range of keys. */
  async query(field: string, value: string): Promise<Uint8Array[]> {
    const range = diyIndexRange(field, value);
    const keys = await this.db.keys(range).all();
    return keys.map((key) => key.subarray(range.gte.length));
  }

  /** The records of `keys` (LevelDB's multi-get). */
  getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.db.getMany(keys);
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.db.getSync(key);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

function valueBytes(fields: BookFields, field: string): Uint8Array {
  const value = fields[field];
  if (value === undefined) throw new Error(`a book has no field ${field}`);
  return typeof value === 'string' ? utf8.encode(value) : value;
}
