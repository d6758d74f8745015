/**
 * The full index check: for every index the store lists, `queryRangeByIndex(field)` must return
 * exactly the keys of the records that hold that field, ordered by (field value bytes, key), as
 * a brute-force scan of every record finds them. Run on the coordinator, at a snapshot while
 * threads write (an index dropped or created meanwhile is skipped), or on a quiet store after a
 * run or a reopen (an index still building is waited for: queries wait).
 */
import type { Strata, StrataSnapshot } from '../db/strata.js';
import { isStrataError } from '../errors.js';
import { fieldValue, isFieldRecord } from '../fields/field-codec.js';
import { compareEntries, type OwnEntry } from './read-checks.js';

/** Field values longer than this are not indexed (the store's default maxKeyBytes). */
const INDEXED_VALUE_BYTES_MAX = 64 * 1024;

const decoder = new TextDecoder();

export interface IndexCheckResult {
  /** Indexes compared in full. */
  readonly indexes: number;
  /** Index entries compared. */
  readonly entries: number;
  /** Indexes dropped or created between the snapshot and the query. */
  readonly skipped: number;
  readonly failures: readonly string[];
}

export async function checkIndexesFull(
  db: Strata,
  snapshot?: StrataSnapshot,
): Promise<IndexCheckResult> {
  const fields = db.listIndexes().map((info) => info.field);
  const records: { key: Uint8Array; value: Uint8Array }[] = [];
  for (const [key, value] of db.iterator(snapshot === undefined ? {} : { snapshot })) {
    if (isFieldRecord(value)) records.push({ key, value });
  }
  let indexes = 0;
  let entries = 0;
  let skipped = 0;
  const failures: string[] = [];
  for (const field of fields) {
    let found: Uint8Array[];
    try {
      found = await db.queryRangeByIndex(field, snapshot === undefined ? {} : { snapshot });
    } catch (error) {
      const racing =
        isStrataError(error, 'ERR_INDEX_NOT_FOUND') || isStrataError(error, 'ERR_INDEX_BUILDING');
      if (snapshot !== undefined && racing) {
        skipped++;
        continue;
      }
      failures.push(`index ${field}: queryRangeByIndex failed: ${String(error)}`);
      continue;
    }
    const expected = bruteForce(records, field);
    const failure = compareIndex(field, found, expected);
    if (failure !== undefined) failures.push(failure);
    indexes++;
    entries += expected.length;
  }
  return { indexes, entries, skipped, failures };
}

function bruteForce(
  records: readonly { key: Uint8Array; value: Uint8Array }[],
  field: string,
): OwnEntry[] {
  const entries: OwnEntry[] = [];
  for (const record of records) {
    const value = fieldValue(record.value, field);
    if (value !== undefined && value.length <= INDEXED_VALUE_BYTES_MAX) {
      entries.push({ value, key: decoder.decode(record.key) });
    }
  }
  return entries.sort(compareEntries);
}

function compareIndex(
  field: string,
  found: readonly Uint8Array[],
  expected: readonly OwnEntry[],
): string | undefined {
  const count = Math.max(found.length, expected.length);
  for (let position = 0; position < count; position++) {
    const got = found[position] === undefined ? undefined : decoder.decode(found[position]);
    const want = expected[position];
    if (got === want?.key) continue;
    const value =
      want === undefined ? '' : ` (value ${Buffer.from(want.value).toString('hex') || 'empty'})`;
    return (
      `index ${field}: ${found.length} keys, brute force ${expected.length}; first difference at ` +
      `${position}: index ${got ?? 'ends'}, records ${want?.key ?? 'end'}${value}`
    );
  }
  return undefined;
}
