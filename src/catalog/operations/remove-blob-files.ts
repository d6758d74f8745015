/**
 * Retires blob files after blob GC moved their live values elsewhere (issue 5). The engine pushes
 * it only once no reader can reach a reference into the files any more (every read view older
 * than the GC's reference commit is gone); the catalog then deletes each file as soon as no
 * catalog snapshot lists it. A file that is no longer live is ERR_CONFLICT, and nothing changes.
 */
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import { findBlobFile } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import { checkU64 } from './table-properties.js';

export interface RemoveBlobFilesInput {
  readonly fileNumbers: readonly number[];
}

export class RemoveBlobFiles extends CatalogOperation<void> {
  readonly #fileNumbers: readonly number[];

  constructor(snapshot: CatalogSnapshot, input: RemoveBlobFilesInput) {
    super(snapshot);
    input.fileNumbers.forEach((fileNumber, position) => {
      checkU64(fileNumber, `fileNumbers[${position}]`);
    });
    this.#fileNumbers = [...new Set(input.fileNumbers)];
  }

  get name(): string {
    return 'RemoveBlobFiles';
  }

  protected async apply(context: ApplyContext): Promise<void> {
    for (const fileNumber of this.#fileNumbers) {
      if (findBlobFile(context.latest, fileNumber) === undefined) {
        throw context.conflict(`blob file ${fileNumber} is not live`);
      }
    }
    await context.commit(context.prepare({ blobFilesRemoved: this.#fileNumbers }));
  }
}
