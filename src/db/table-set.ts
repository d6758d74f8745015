/**
 * The open sorted tables of a database, per level, mirroring the catalog: after every flush or
 * compaction commit `sync` takes the catalog's latest levels, keeps the readers of tables that
 * stay (a moved table keeps its reader), opens readers for new ones and retires the rest. The
 * level arrays are replaced, never changed, so a read view taken earlier keeps reading the
 * tables it saw. A retired table's reader is closed once no view holds it (`refs`); its file is
 * deleted by the catalog, and an open reader still reads an unlinked file.
 *
 * Thread model: main thread only, owned by one Strata.
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import type { FileMeta } from '../catalog/catalog-state.js';
import { tableFileName } from '../catalog/file-names.js';
import { StrataError } from '../errors.js';
import type { LevelTable } from '../lsm/level-source.js';
import type { BlockCache } from '../sst/block-cache.js';
import { userKeyOf } from '../sst/internal-key.js';
import { TableReader } from '../sst/table-reader.js';

export interface LiveTable extends LevelTable {
  readonly fileNumber: number;
  readonly sizeBytes: number;
  /** Read views (iterators, snapshots' reads in progress) holding this table. */
  refs: number;
  /** No longer in the catalog's levels; closed once refs is 0. */
  retired: boolean;
  closed: boolean;
}

/** levels[0] oldest first (readers look from the end); levels 1.. sorted by key, disjoint. */
export type LiveLevels = readonly (readonly LiveTable[])[];

export class TableSet {
  readonly #dir: string;
  readonly #cache: BlockCache;
  #levels: LiveLevels;
  readonly #retired = new Set<LiveTable>();

  private constructor(dir: string, cache: BlockCache, levels: LiveLevels) {
    this.#dir = dir;
    this.#cache = cache;
    this.#levels = levels;
  }

  /**
   * Opens a reader for every table the catalog lists. A missing file is ERR_CORRUPT (the
   * catalog names it); a damaged one fails with its reader's ERR_CORRUPT. All or nothing.
   */
  static open(dir: string, cache: BlockCache, levels: readonly (readonly FileMeta[])[]): TableSet {
    const set = new TableSet(dir, cache, []);
    try {
      set.#levels = levels.map((files) => files.map((meta) => set.#openTable(meta)));
    } catch (error) {
      for (const table of set.#levels.flat()) table.reader.close();
      throw error;
    }
    return set;
  }

  get levels(): LiveLevels {
    return this.#levels;
  }

  /** Tables waiting for their last reader. */
  get retiredCount(): number {
    return this.#retired.size;
  }

  /** Adopts the catalog's levels after a commit. Opening a new table may throw (ERR_IO). */
  sync(levels: readonly (readonly FileMeta[])[]): void {
    const current = new Map<number, LiveTable>();
    for (const table of this.#levels.flat()) current.set(table.fileNumber, table);
    const next = levels.map((files) =>
      files.map((meta) => current.get(meta.fileNumber) ?? this.#openTable(meta)),
    );
    const kept = new Set(next.flat());
    this.#levels = next;
    for (const table of current.values()) {
      if (kept.has(table)) continue;
      table.retired = true;
      this.#retired.add(table);
      this.#closeIfUnused(table);
    }
  }

  acquire(levels: LiveLevels): void {
    for (const level of levels) for (const table of level) table.refs++;
  }

  release(levels: LiveLevels): void {
    for (const level of levels) {
      for (const table of level) {
        table.refs--;
        assert(table.refs >= 0, 'table released more often than acquired');
        this.#closeIfUnused(table);
      }
    }
  }

  /** Closes every reader, retired or not. Returns the errors met (the caller reports them). */
  close(): unknown[] {
    const errors: unknown[] = [];
    for (const table of [...this.#levels.flat(), ...this.#retired]) {
      if (table.closed) continue;
      table.closed = true;
      try {
        table.reader.close();
      } catch (error) {
        errors.push(error);
      }
    }
    this.#retired.clear();
    return errors;
  }

  #closeIfUnused(table: LiveTable): void {
    if (!table.retired || table.refs > 0 || table.closed) return;
    table.closed = true;
    this.#retired.delete(table);
    table.reader.close();
  }

  #openTable(meta: FileMeta): LiveTable {
    const path = join(this.#dir, tableFileName(meta.fileNumber));
    let reader: TableReader;
    try {
      reader = TableReader.open(path, {
        fileNumber: meta.fileNumber,
        cache: this.#cache,
      });
    } catch (error) {
      if (error instanceof StrataError && error.code === 'ERR_IO' && isMissing(error)) {
        throw new StrataError(
          'ERR_CORRUPT',
          `the catalog in ${this.#dir} lists ${tableFileName(meta.fileNumber)}, which is missing`,
          { cause: error },
        );
      }
      throw error;
    }
    return {
      fileNumber: meta.fileNumber,
      sizeBytes: meta.sizeBytes,
      reader,
      smallestUserKey: userKeyOf(meta.smallest).slice(),
      largestUserKey: userKeyOf(meta.largest).slice(),
      refs: 0,
      retired: false,
      closed: false,
    };
  }
}

function isMissing(error: StrataError): boolean {
  const cause = error.cause as { code?: unknown } | undefined;
  return cause?.code === 'ENOENT';
}
