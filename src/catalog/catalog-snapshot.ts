/**
 * A pinned, immutable view of the catalog. `catalog.getSnapshot()` returns one per call, each
 * holding one pin on the latest version; `release()` drops the pin, after which files and
 * memtables that only this version referenced may be deleted or freed. Operations are planned
 * on a snapshot (`new CommitFlush(snapshot, …)`) and pushed to the catalog it came from.
 *
 * The object is frozen; `state` is plain frozen data that may be posted to a worker thread.
 *
 * Thread model: main thread only. Workers receive `snapshot.state` (or parts of it), never the
 * snapshot, since releasing and pushing talk to the catalog.
 */
import { assert } from '../assert.js';
import {
  type BlobFileMeta,
  type CatalogState,
  type FileMeta,
  findBlobFile,
  findFile,
  findIndex,
  findMemtable,
  type IndexMeta,
  type MemtableMeta,
  mutableMemtable,
} from './catalog-state.js';
import type { OperationSink } from './operations/operation.js';
import type { PinnedVersion } from './snapshot-registry.js';

export interface SnapshotOwner {
  readonly sink: OperationSink;
  unpin(version: PinnedVersion): void;
}

const owners = new WeakMap<CatalogSnapshot, SnapshotOwner>();

export class CatalogSnapshot {
  readonly state: CatalogState;
  readonly #pinned: PinnedVersion;
  #released = false;

  /** Catalog-internal: use `catalog.getSnapshot()`. */
  constructor(pinned: PinnedVersion, owner: SnapshotOwner) {
    this.state = pinned.state;
    this.#pinned = pinned;
    owners.set(this, owner);
    Object.freeze(this);
  }

  /** Grows by one with every committed operation, and across reopen. */
  get version(): number {
    return this.state.version;
  }

  get memtables(): readonly MemtableMeta[] {
    return this.state.memtables;
  }

  get levels(): readonly (readonly FileMeta[])[] {
    return this.state.levels;
  }

  get blobFiles(): readonly BlobFileMeta[] {
    return this.state.blobFiles;
  }

  get indexes(): readonly IndexMeta[] {
    return this.state.indexes;
  }

  get released(): boolean {
    return this.#released;
  }

  /** The memtable that takes writes; after the first CreateMemtable there is always one. */
  mutableMemtable(): MemtableMeta | undefined {
    return mutableMemtable(this.state);
  }

  memtable(id: number): MemtableMeta | undefined {
    return findMemtable(this.state, id);
  }

  file(level: number, fileNumber: number): FileMeta | undefined {
    return findFile(this.state, { level, fileNumber });
  }

  blobFile(fileNumber: number): BlobFileMeta | undefined {
    return findBlobFile(this.state, fileNumber);
  }

  index(name: string): IndexMeta | undefined {
    return findIndex(this.state, name);
  }

  /** Drops this snapshot's pin. Releasing twice is a bug. */
  release(): void {
    assert(!this.#released, `snapshot of version ${this.version} released twice`);
    this.#released = true;
    ownerOf(this).unpin(this.#pinned);
  }
}

/** Catalog-internal: where operations planned on `snapshot` are pushed. */
export function operationSinkOf(snapshot: CatalogSnapshot): OperationSink {
  return ownerOf(snapshot).sink;
}

function ownerOf(snapshot: CatalogSnapshot): SnapshotOwner {
  const owner = owners.get(snapshot);
  assert(owner !== undefined, 'snapshot was not made by a catalog');
  return owner;
}
