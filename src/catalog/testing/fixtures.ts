/**
 * Small helpers shared by the catalog tests: dummy tables, temp files, state descriptions,
 * directories loaded from dumps.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../../assert.js';
import { encodeInternalKey, KIND_VALUE } from '../../sst/internal-key.js';
import type { Catalog } from '../catalog.js';
import type { CatalogFs } from '../catalog-fs.js';
import type { CatalogState } from '../catalog-state.js';
import type { TableProperties } from '../operations/table-properties.js';
import { MemoryCatalogFs } from './memory-fs.js';

/** A table covering keys [low, high] (one byte each) and sequence numbers [seqMin, seqMax]. */
export function table(options: {
  readonly low: number;
  readonly high: number;
  readonly seqMin?: number;
  readonly seqMax?: number;
  readonly sizeBytes: number;
}): TableProperties {
  return {
    sizeBytes: options.sizeBytes,
    entryCount: options.high - options.low + 1,
    smallest: Uint8Array.of(options.low),
    largest: Uint8Array.of(options.high),
    seqMin: options.seqMin ?? 1,
    seqMax: options.seqMax ?? 1,
  };
}

/**
 * A table of internal keys (src/sst/) over the one-byte user keys [low, high]: as the engine's
 * tables are, for operations that compare user keys (CommitIndexBuild).
 */
export function internalTable(options: {
  readonly low: number;
  readonly high: number;
  readonly seqMin?: number;
  readonly seqMax?: number;
  readonly sizeBytes: number;
}): TableProperties {
  return userKeyTable({
    ...options,
    smallest: Uint8Array.of(options.low),
    largest: Uint8Array.of(options.high),
  });
}

/**
 * A table of entries of index `id`, whose user keys run from `00 69 | id | low` to
 * `00 69 | id | high`: version 1's entry prefix (src/fields/FORMAT.md). The catalog never looks
 * at the prefix, only at key order, so these tests keep it.
 */
export function indexTable(options: {
  readonly id: number;
  readonly low: number;
  readonly high: number;
  readonly seqMin?: number;
  readonly seqMax?: number;
  readonly sizeBytes: number;
}): TableProperties {
  return userKeyTable({
    ...options,
    smallest: indexUserKey(options.id, options.low),
    largest: indexUserKey(options.id, options.high),
  });
}

/** The user key `00 69 | id u32 BE | byte`: an index entry key's prefix and one value byte. */
export function indexUserKey(id: number, byte: number): Uint8Array {
  const key = Uint8Array.of(0x00, 0x69, 0, 0, 0, 0, byte);
  new DataView(key.buffer).setUint32(2, id, false);
  return key;
}

/** Smallest key at seqMax and largest at seqMin, so smallest <= largest for one user key too. */
function userKeyTable(options: {
  readonly smallest: Uint8Array;
  readonly largest: Uint8Array;
  readonly seqMin?: number;
  readonly seqMax?: number;
  readonly sizeBytes: number;
}): TableProperties {
  const seqMin = options.seqMin ?? 1;
  const seqMax = options.seqMax ?? seqMin;
  return {
    sizeBytes: options.sizeBytes,
    entryCount: 1,
    smallest: encodeInternalKey(options.smallest, seqMax, KIND_VALUE),
    largest: encodeInternalKey(options.largest, seqMin, KIND_VALUE),
    seqMin,
    seqMax,
  };
}

/** Writes and fsyncs a temp file, as a flush or compaction worker would, and returns its path. */
export async function writeTemp(
  catalog: Catalog,
  fs: CatalogFs,
  bytes: Uint8Array,
): Promise<string> {
  const path = catalog.newTempPath();
  await fs.writeFile(path, bytes);
  await fs.fsyncFile(path);
  return path;
}

/** A canonical, comparable description of a state (keys as hex). */
export function describeState(state: CatalogState): string {
  return JSON.stringify(state, (_key, value: unknown) =>
    value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value,
  );
}

/**
 * A MemoryCatalogFs whose directory `dir` holds, durably, the files a dump lists: sections
 * `file NAME` followed by hex rows `offset: hex bytes  ascii` (testdata/format/v1/*.dir).
 */
export async function loadDirectoryDump(dir: string, dumpPath: string): Promise<MemoryCatalogFs> {
  const fs = new MemoryCatalogFs();
  await fs.mkdir(dir);
  const sections = readFileSync(dumpPath, 'utf8')
    .split(/^file /m)
    .slice(1);
  assert(sections.length > 0, `${dumpPath} lists no file`);
  for (const section of sections) {
    const [name, ...rows] = section.trimEnd().split('\n');
    const bytes = rows.flatMap((row) => {
      const hex = row.slice(row.indexOf(': ') + 2, row.indexOf(': ') + 2 + HEX_COLUMNS);
      return hex
        .trim()
        .split(' ')
        .map((byte) => Number.parseInt(byte, 16));
    });
    await fs.writeFile(join(dir, name!), Uint8Array.from(bytes));
    await fs.fsyncFile(join(dir, name!));
  }
  await fs.fsyncDir(dir);
  return fs;
}

/** 16 bytes as `xx ` less the last space. */
const HEX_COLUMNS = 16 * 3 - 1;

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
