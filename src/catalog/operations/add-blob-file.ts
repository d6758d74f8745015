/**
 * Registers a new blob file (issue 5). The blob layer writes the file's header to a temp file
 * and fsyncs it; the operation renames it to `NNNNNN.blob` with a fresh file number and records
 * it, so the number is known before any value references the file. Retiring blob files after GC
 * is an edit the format already carries (blob removal); its operation arrives with blob GC.
 */

import type { CatalogSnapshot } from '../catalog-snapshot.js';
import type { BlobFileMeta } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import { checkTempPath, checkU64 } from './table-properties.js';

export interface AddBlobFileInput {
  readonly tempPath: string;
  readonly sizeBytes: number;
}

export class AddBlobFile extends CatalogOperation<BlobFileMeta> {
  readonly #input: AddBlobFileInput;

  constructor(snapshot: CatalogSnapshot, input: AddBlobFileInput) {
    super(snapshot);
    checkTempPath(input.tempPath, 'tempPath');
    checkU64(input.sizeBytes, 'sizeBytes');
    this.#input = { tempPath: input.tempPath, sizeBytes: input.sizeBytes };
  }

  get name(): string {
    return 'AddBlobFile';
  }

  protected async apply(context: ApplyContext): Promise<BlobFileMeta> {
    const fileNumber = context.latest.nextFileNumber;
    const blob: BlobFileMeta = Object.freeze({
      fileNumber,
      sizeBytes: this.#input.sizeBytes,
      garbageBytes: 0,
    });
    const prepared = context.prepare({ blobFilesAdded: [blob], nextFileNumber: fileNumber + 1 });
    const { tempPath, sizeBytes } = this.#input;
    await context.installFiles([{ tempPath, kind: 'blob', fileNumber, sizeBytes }]);
    await context.commit(prepared);
    return blob;
  }
}
