/**
 * What the index crash and kill -9 tests (index-crash.test.ts, index-kill.test.ts) hold every
 * recovered index to: the answer a brute force computes from a scan of the data. An index on
 * `field` must list exactly the keys whose value is a field record with that field, ordered by
 * (field value bytes, key bytes); a point query must return that list filtered to one value, in
 * key order. Nothing here trusts the engine's own record of what it indexed.
 *
 * Also the catalog's view of the indexes, read from a closed (or crashed) database without
 * changing a byte, like testing/leftover-files.ts reads its files.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Catalog } from '../../catalog/catalog.js';
import type { IndexMeta } from '../../catalog/catalog-state.js';
import { fieldValue, isFieldRecord } from '../../fields/field-codec.js';
import { compareInternalKeys } from '../../sst/internal-key.js';
import { CATALOG_DIR_NAME, type IndexInfo, type Strata } from '../strata.js';

/** One entry of an index as the brute force derives it. */
export interface ExpectedEntry {
  readonly value: Uint8Array;
  readonly key: Uint8Array;
}

const encoder = new TextEncoder();

/** Every [key, value] the user iterator shows, copied. */
export function scanData(db: Strata, context: string): [Uint8Array, Uint8Array][] {
  try {
    return [...db.iterator()].map(([key, value]) => [key.slice(), value.slice()]);
  } catch (error) {
    throw new Error(`${context}: iterating the data failed`, { cause: error });
  }
}

/** The entries an index on `field` must hold for `data`, in (value, key) byte order. */
export function bruteForceIndex(
  data: readonly (readonly [Uint8Array, Uint8Array])[],
  field: string,
): ExpectedEntry[] {
  const entries: ExpectedEntry[] = [];
  for (const [key, value] of data) {
    if (!isFieldRecord(value)) continue;
    const indexed = fieldValue(value, field);
    if (indexed !== undefined) entries.push({ value: indexed.slice(), key });
  }
  return entries.sort(
    (left, right) => Buffer.compare(left.value, right.value) || Buffer.compare(left.key, right.key),
  );
}

/**
 * Every index the database lists agrees with the brute force over its data: the whole index
 * both ways, and a point query of each value found plus each of `probes` (values that may be
 * absent). Waits for indexes still building (queries wait by default). Returns listIndexes()
 * afterwards, when every listed index must be ready.
 */
export async function expectIndexesAgree(
  db: Strata,
  probes: readonly string[],
  context: string,
): Promise<IndexInfo[]> {
  const data = scanData(db, context);
  for (const { field } of db.listIndexes()) {
    const where = `${context}: index ${JSON.stringify(field)}`;
    const expected = bruteForceIndex(data, field);
    const all = await query(() => db.queryRangeByIndex(field), where);
    expect(all, `${where}: whole index`).toEqual(expected.map((entry) => show(entry.key)));
    const backward = await query(() => db.queryRangeByIndex(field, { reverse: true }), where);
    expect(backward, `${where}: whole index, reverse`).toEqual([...all].reverse());
    const values = new Map<string, Uint8Array>();
    for (const entry of expected) values.set(show(entry.value), entry.value);
    for (const probe of probes) values.set(show(encoder.encode(probe)), encoder.encode(probe));
    for (const [shown, value] of values) {
      const keys = await query(() => db.queryByIndex(field, value), where);
      const want = expected
        .filter((entry) => Buffer.compare(entry.value, value) === 0)
        .map((entry) => show(entry.key));
      expect(keys, `${where} = ${shown}`).toEqual(want);
    }
  }
  const listed = db.listIndexes();
  for (const info of listed)
    expect(info.state, `${context}: ${info.field} after waiting`).toBe('ready');
  return listed;
}

/**
 * Gives the removals an open resumed (`atCrash` lists an index dropping) the event-loop turns
 * they need before the test closes the database: close() stops a removal after the batch in
 * flight and leaves the index dropping for the next open (see "findings" in
 * index-crash.test.ts), and the checks before it may all finish within one turn. Waits until a
 * batch was removed and no more followed for a while, or (when nothing was left to remove, so
 * the open already queued the catalog edit) REMOVAL_WAIT_MS_MAX. Requires: each index holds at
 * most one batch (1024) of entries.
 */
export async function letResumedRemovalsFinish(
  db: Strata,
  atCrash: readonly IndexMeta[],
): Promise<void> {
  if (!atCrash.some((meta) => meta.state === 'dropping')) return;
  let removed = db.stats().indexEntriesRemoved;
  let quietMs = 0;
  for (let waitedMs = 0; waitedMs < REMOVAL_WAIT_MS_MAX; waitedMs += REMOVAL_POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, REMOVAL_POLL_MS));
    const now = db.stats().indexEntriesRemoved;
    quietMs = now === removed ? quietMs + REMOVAL_POLL_MS : 0;
    removed = now;
    if (removed > 0 && quietMs >= REMOVAL_QUIET_MS) return;
  }
}

const REMOVAL_POLL_MS = 5;
const REMOVAL_QUIET_MS = 50;
const REMOVAL_WAIT_MS_MAX = 1000;

/**
 * The indexes the catalog in `dir` lists, read without recovery's clean-up (nothing is written);
 * [] when there is no catalog yet. Requires: no database is open on `dir`.
 */
export async function catalogIndexes(dir: string): Promise<IndexMeta[]> {
  const catalogDir = join(dir, CATALOG_DIR_NAME);
  if (!existsSync(join(catalogDir, 'CURRENT'))) return [];
  const catalog = await Catalog.open(catalogDir, {
    compareKeys: compareInternalKeys,
    deferCleanUp: true,
  });
  const snapshot = catalog.getSnapshot();
  const indexes = [...snapshot.state.indexes];
  snapshot.release();
  await catalog.close();
  return indexes.sort((left, right) => (left.name < right.name ? -1 : 1));
}

/** Bytes as a JSON-quoted latin1 string: readable in a diff, zero bytes shown as \u0000. */
export function show(bytes: Uint8Array): string {
  return JSON.stringify(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1'),
  );
}

/** A query waits for an index being built: one that never gets ready fails here, not by timeout. */
const QUERY_WAIT_MS_MAX = 15_000;

async function query(run: () => Promise<Uint8Array[]>, context: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${context}: no answer in ${QUERY_WAIT_MS_MAX} ms (never built?)`)),
      QUERY_WAIT_MS_MAX,
    );
  });
  try {
    return (await Promise.race([run(), deadline])).map(show);
  } catch (error) {
    throw new Error(`${context}: query failed`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
