/**
 * Registers a freshly written blob file in the catalog. The file's header names its number, but
 * the catalog hands numbers out in commit order and flushes, compactions and other blob files
 * take them meanwhile; so the header is stamped with the latest `nextFileNumber` just before
 * AddBlobFile is pushed, and stamped again with the next one after a conflict. Stamping rewrites
 * only the 32-byte header (src/blob/FORMAT.md), durably, before the catalog renames the file.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { encodeFileHeader } from '../blob/blob-format.js';
import { AddBlobFile, type Catalog } from '../catalog/catalog.js';
import { StrataError } from '../errors.js';

const ATTEMPTS = 100;

/**
 * Resolves with the file's number once the catalog lists it under `<number>.blob`.
 * `beforeCommit(n)` runs after each stamp, before AddBlobFile is pushed (blob GC names the
 * number in its crash marker there, so a listed output is always named by one).
 */
export async function registerBlobFile(
  catalog: Catalog,
  tempPath: string,
  sizeBytes: number,
  beforeCommit?: (fileNumber: number) => void,
): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const snapshot = catalog.getSnapshot();
    try {
      const fileNumber = snapshot.state.nextFileNumber;
      stampHeader(tempPath, fileNumber);
      beforeCommit?.(fileNumber);
      await new AddBlobFile(snapshot, { tempPath, sizeBytes, fileNumber }).push().waitDone();
      return fileNumber;
    } catch (error) {
      const taken = error instanceof StrataError && error.code === 'ERR_CONFLICT';
      if (!taken || attempt >= ATTEMPTS) throw error;
    } finally {
      snapshot.release();
    }
  }
}

function stampHeader(path: string, fileNumber: number): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r+');
    const header = encodeFileHeader(fileNumber);
    let written = 0;
    while (written < header.length) {
      written += writeSync(fd, header, written, header.length - written, written);
    }
    fdatasyncSync(fd);
  } catch (cause) {
    throw new StrataError('ERR_IO', `cannot stamp the header of blob file ${path}`, { cause });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
