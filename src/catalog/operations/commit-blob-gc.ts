/**
 * Ends a blob GC round (issue 5): removes the blob files whose live values moved elsewhere and
 * adds garbage to files (the copies of values that changed during the round, or what a recovery
 * found unreferenced). The engine pushes it only once no reader can reach a reference into the
 * removed files (every read view older than the round's reference commit is gone); the catalog
 * deletes each removed file as soon as no catalog snapshot lists it. A removed or charged file
 * that is no longer live is ERR_CONFLICT, and nothing changes.
 */
import type { BlobGarbage } from '../catalog-edit.js';
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import { findBlobFile } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import { checkU64 } from './table-properties.js';

export interface CommitBlobGcInput {
  readonly removed: readonly number[];
  readonly garbage?: readonly BlobGarbage[];
}

export class CommitBlobGc extends CatalogOperation<void> {
  readonly #removed: readonly number[];
  readonly #garbage: readonly BlobGarbage[];

  constructor(snapshot: CatalogSnapshot, input: CommitBlobGcInput) {
    super(snapshot);
    input.removed.forEach((fileNumber, position) => {
      checkU64(fileNumber, `removed[${position}]`);
    });
    const garbage = input.garbage ?? [];
    garbage.forEach((entry, position) => {
      checkU64(entry.fileNumber, `garbage[${position}].fileNumber`);
      checkU64(entry.garbageBytes, `garbage[${position}].garbageBytes`);
    });
    this.#removed = [...new Set(input.removed)];
    this.#garbage = garbage.map((entry) => ({ ...entry }));
  }

  get name(): string {
    return 'CommitBlobGc';
  }

  protected async apply(context: ApplyContext): Promise<void> {
    for (const fileNumber of [
      ...this.#removed,
      ...this.#garbage.map((entry) => entry.fileNumber),
    ]) {
      if (findBlobFile(context.latest, fileNumber) === undefined) {
        throw context.conflict(`blob file ${fileNumber} is not live`);
      }
    }
    const prepared = context.prepare({
      blobFilesRemoved: this.#removed,
      blobGarbage: this.#garbage,
    });
    await context.commit(prepared);
  }
}
