/**
 * Reads the values that blob references in tables name, for a job that scans records on a
 * worker (the index build): each blob file of the task is opened on first use, once, and every
 * value is checked against its ref's CRC by BlobFileReader.
 *
 * Thread model: one instance per job, on the job's thread; close() before the job returns.
 */
import { BlobFileReader } from '../blob/blob-file-reader.js';
import { decodeBlobRef } from '../blob/blob-ref.js';
import { StrataError } from '../errors.js';

export class BlobValues {
  readonly #paths = new Map<number, string>();
  readonly #readers = new Map<number, BlobFileReader>();
  #bytesRead = 0;

  /** ERR_INVALID_ARGUMENT for a file number listed twice. */
  constructor(files: readonly { readonly fileNumber: number; readonly path: string }[]) {
    for (const { fileNumber, path } of files) {
      if (this.#paths.has(fileNumber)) {
        throw new StrataError('ERR_INVALID_ARGUMENT', `blob file ${fileNumber} is listed twice`);
      }
      this.#paths.set(fileNumber, path);
    }
  }

  /** Value bytes read so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /**
   * The value `encodedRef` names, in a fresh array. ERR_CORRUPT for a malformed ref, a ref to a
   * blob file the task did not list (a table names a file the catalog does not have), or bytes
   * whose CRC does not match the ref's (naming the blob file and value offset).
   */
  read(encodedRef: Uint8Array, userKey: Uint8Array): Uint8Array {
    const where = `the blob ref of key ${hexPrefix(userKey)}`;
    const ref = decodeBlobRef(encodedRef, where);
    const value = this.#readerFor(ref.fileNumber, where).read(ref);
    this.#bytesRead += value.length;
    return value;
  }

  /** Closes every reader, all of them even if one fails (then its error is thrown). Idempotent. */
  close(): void {
    const readers = [...this.#readers.values()];
    this.#readers.clear();
    let failure: unknown;
    for (const reader of readers) {
      try {
        reader.close();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  #readerFor(fileNumber: number, where: string): BlobFileReader {
    const open = this.#readers.get(fileNumber);
    if (open !== undefined) return open;
    const path = this.#paths.get(fileNumber);
    if (path === undefined) {
      throw new StrataError(
        'ERR_CORRUPT',
        `${where} names blob file ${fileNumber}, which is not among the live blob files`,
      );
    }
    const reader = BlobFileReader.open(path, fileNumber);
    this.#readers.set(fileNumber, reader);
    return reader;
  }
}

/** A key for a message: hex, cut to 32 bytes. */
function hexPrefix(key: Uint8Array): string {
  const shown = Buffer.from(key.buffer, key.byteOffset, Math.min(key.length, 32)).toString('hex');
  return key.length <= 32 ? shown : `${shown}…`;
}
