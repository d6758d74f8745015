/**
 * The bulk load of bench/index.ts: `recordCount` books into Strata (no index yet: it is built
 * afterwards) and into classic-level with its do-it-yourself index keys in the same batches.
 * Both load in batches of LOAD_BATCH_RECORDS records, LOAD_BATCHES_IN_FLIGHT batches in flight
 * (64 records each in flight at once would be ~64 awaited puts; batches are faster for both).
 */
import type { Strata } from '../src/db/strata.js';
import { encodeFields } from '../src/fields/field-codec.js';
import { readWriteChars, waitUntilWritesSettle } from './append-io.js';
import type { DiyIndexedLevel } from './index-diy.js';
import { type BookFields, bookFields, bookKey } from './index-records.js';

export const LOAD_BATCH_RECORDS = 500;
export const LOAD_BATCHES_IN_FLIGHT = 4;

export interface LoadFigures {
  readonly records: number;
  readonly elapsedMs: number;
  readonly recordsPerSecond: number;
  /** /proc/self/io wchar during the load and until its background writes settled. */
  readonly writeChars: number | undefined;
  /** The untimed wait for those background writes. */
  readonly settleMs: number;
}

export function loadStrata(
  db: Strata,
  sizes: { readonly recordCount: number; readonly authorCount: number },
): Promise<LoadFigures> {
  return timedLoad(sizes, async (records) => {
    await db.batch(
      records.map(({ key, fields }) => ({ type: 'put', key, value: encodeFields(fields) })),
    );
  });
}

export function loadDiyLevel(
  store: DiyIndexedLevel,
  sizes: { readonly recordCount: number; readonly authorCount: number },
): Promise<LoadFigures> {
  return timedLoad(sizes, (records) => store.load(records));
}

type BatchWriter = (
  records: readonly { readonly key: Uint8Array; readonly fields: BookFields }[],
) => Promise<void>;

async function timedLoad(
  sizes: { readonly recordCount: number; readonly authorCount: number },
  write: BatchWriter,
): Promise<LoadFigures> {
  const batchCount = Math.ceil(sizes.recordCount / LOAD_BATCH_RECORDS);
  const lane = async (laneIndex: number): Promise<void> => {
    for (let batch = laneIndex; batch < batchCount; batch += LOAD_BATCHES_IN_FLIGHT) {
      const first = batch * LOAD_BATCH_RECORDS;
      const end = Math.min(sizes.recordCount, first + LOAD_BATCH_RECORDS);
      const records = [];
      for (let index = first; index < end; index++) {
        records.push({ key: bookKey(index), fields: bookFields(index, 0, sizes.authorCount) });
      }
      await write(records);
    }
  };
  const charsBefore = readWriteChars();
  const startedMs = performance.now();
  await Promise.all(Array.from({ length: LOAD_BATCHES_IN_FLIGHT }, (_, index) => lane(index)));
  const elapsedMs = performance.now() - startedMs;
  const settleMs = await waitUntilWritesSettle();
  const charsAfter = readWriteChars();
  return {
    records: sizes.recordCount,
    elapsedMs,
    recordsPerSecond: (sizes.recordCount * 1000) / elapsedMs,
    writeChars:
      charsBefore === undefined || charsAfter === undefined ? undefined : charsAfter - charsBefore,
    settleMs,
  };
}
