/**
 * Registers a new blob file (issue 5). The blob layer writes the file's header to a temp file
 * and fsyncs it; the operation renames it to `NNNNNN.blob` with a fresh file number and records
 * it, so the number is known before any value references the file. CommitBlobGc retires files
 * after blob GC.
 */

import type { CatalogSnapshot } from '../catalog-snapshot.js';
import type { BlobFileMeta } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import { checkTempPath, checkU64 } from './table-properties.js';

export interface AddBlobFileInput {
  readonly tempPath: string;
  readonly sizeBytes: number;
  /**
   * The number the blob layer wrote into the file's header (it read `nextFileNumber` from the
   * latest snapshot). If a table took that number meanwhile, the operation aborts with
   * ERR_CONFLICT and the caller writes a new temp file with the next number.
   */
  readonly fileNumber?: number;
}

export class AddBlobFile extends CatalogOperation<BlobFileMeta> {
  readonly #input: AddBlobFileInput;

  constructor(snapshot: CatalogSnapshot, input: AddBlobFileInput) {
    super(snapshot);
    checkTempPath(input.tempPath, 'tempPath');
    checkU64(input.sizeBytes, 'sizeBytes');
    if (input.fileNumber !== undefined) checkU64(input.fileNumber, 'fileNumber');
    this.#input = input;
  }

  get name(): string {
    return 'AddBlobFile';
  }

  protected async apply(context: ApplyContext): Promise<BlobFileMeta> {
    const fileNumber = context.latest.nextFileNumber;
    const expected = this.#input.fileNumber;
    if (expected !== undefined && expected !== fileNumber) {
      throw context.conflict(`file number ${expected} was taken (next is ${fileNumber})`);
    }
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
