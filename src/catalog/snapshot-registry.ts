/**
 * Which versions are alive and what they reference. A version is alive while it is the latest or
 * a snapshot pins it. Each table, blob file and memtable carries the number of alive versions
 * that reference it; when that drops to zero it is obsolete: files are handed to the catalog to
 * delete, and waiters on a memtable (`whenMemtableUnpinned`) are resolved so the memtable layer
 * can free its NVM pages.
 *
 * Publishing costs O(live files): fine for a catalog that changes a few times a second.
 *
 * Thread model: main thread only (the catalog's executor publishes; any main-thread caller pins
 * and releases).
 */
import { assert } from '../assert.js';
import type { CatalogState } from './catalog-state.js';

export interface ObsoleteFile {
  readonly kind: 'table' | 'blob';
  readonly fileNumber: number;
}

export interface PinnedVersion {
  readonly state: CatalogState;
}

interface VersionEntry extends PinnedVersion {
  pinCount: number;
}

interface FileCount {
  readonly kind: 'table' | 'blob';
  count: number;
}

export class SnapshotRegistry {
  private latestEntry: VersionEntry;
  /** Alive versions: the latest and every pinned one. */
  private readonly alive = new Set<VersionEntry>();
  private readonly fileCounts = new Map<number, FileCount>();
  private readonly memtableCounts = new Map<number, number>();
  private readonly memtableWaiters = new Map<number, (() => void)[]>();

  constructor(
    initial: CatalogState,
    private readonly onObsoleteFiles: (files: readonly ObsoleteFile[]) => void,
  ) {
    this.latestEntry = { state: initial, pinCount: 0 };
    this.addReferences(this.latestEntry);
  }

  get latest(): CatalogState {
    return this.latestEntry.state;
  }

  /** How many snapshots are pinned, over all versions (for tests and stats). */
  get pinnedCount(): number {
    let count = 0;
    for (const entry of this.alive) count += entry.pinCount;
    return count;
  }

  pin(): PinnedVersion {
    this.latestEntry.pinCount++;
    return this.latestEntry;
  }

  unpin(version: PinnedVersion): void {
    const entry = version as VersionEntry;
    assert(this.alive.has(entry), 'unpin of a version that is not alive');
    assert(entry.pinCount > 0, 'unpin without a pin');
    entry.pinCount--;
    if (entry.pinCount === 0 && entry !== this.latestEntry) this.retire(entry);
  }

  publish(state: CatalogState): void {
    assert(state.version === this.latestEntry.state.version + 1);
    const previous = this.latestEntry;
    this.latestEntry = { state, pinCount: 0 };
    this.addReferences(this.latestEntry);
    if (previous.pinCount === 0) this.retire(previous);
  }

  /** Resolves once no alive version references the memtable (at once if none does now). */
  whenMemtableUnpinned(id: number): Promise<void> {
    if (!this.memtableCounts.has(id)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.memtableWaiters.get(id) ?? [];
      waiters.push(resolve);
      this.memtableWaiters.set(id, waiters);
    });
  }

  private addReferences(entry: VersionEntry): void {
    this.alive.add(entry);
    for (const level of entry.state.levels) {
      for (const file of level) this.countFile(file.fileNumber, 'table');
    }
    for (const blob of entry.state.blobFiles) this.countFile(blob.fileNumber, 'blob');
    for (const memtable of entry.state.memtables) {
      this.memtableCounts.set(memtable.id, (this.memtableCounts.get(memtable.id) ?? 0) + 1);
    }
  }

  private countFile(fileNumber: number, kind: 'table' | 'blob'): void {
    const counted = this.fileCounts.get(fileNumber);
    if (counted === undefined) {
      this.fileCounts.set(fileNumber, { kind, count: 1 });
      return;
    }
    assert(counted.kind === kind, `file ${fileNumber} is both a table and a blob file`);
    counted.count++;
  }

  private retire(entry: VersionEntry): void {
    assert(this.alive.delete(entry));
    const obsolete: ObsoleteFile[] = [];
    const release = (fileNumber: number): void => {
      const counted = this.fileCounts.get(fileNumber);
      assert(counted !== undefined && counted.count > 0);
      if (--counted.count > 0) return;
      this.fileCounts.delete(fileNumber);
      obsolete.push({ kind: counted.kind, fileNumber });
    };
    for (const level of entry.state.levels) for (const file of level) release(file.fileNumber);
    for (const blob of entry.state.blobFiles) release(blob.fileNumber);
    for (const memtable of entry.state.memtables) this.releaseMemtable(memtable.id);
    if (obsolete.length > 0) this.onObsoleteFiles(obsolete);
  }

  private releaseMemtable(id: number): void {
    const count = this.memtableCounts.get(id);
    assert(count !== undefined && count > 0);
    if (count > 1) {
      this.memtableCounts.set(id, count - 1);
      return;
    }
    this.memtableCounts.delete(id);
    const waiters = this.memtableWaiters.get(id) ?? [];
    this.memtableWaiters.delete(id);
    for (const resolve of waiters) resolve();
  }
}
