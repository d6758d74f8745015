/**
 * Creating image files atomically, and cleaning up after creations that crashed.
 *
 * A new image is built under a temporary name beside the final one (`<name>.creating.<pid>.<tid>`):
 * sized sparse to sizeMaxBytes, page-table descriptors of the metadata pages written, superblock
 * written last, fdatasync'ed for durability 'power', then linked to the final name. link() never
 * replaces an existing file, so two processes creating the same image at once cannot clobber each
 * other: one wins, the other opens the winner's file. Until the link the final name does not
 * exist, so a crash at any point leaves either no image or a complete one, plus a stale temporary
 * file that the next open of that path removes.
 */
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  openSync,
  readdirSync,
  renameSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { StrataError } from '../src/errors.js';
import { type DurableFile, writeDurably } from './emulated-backend.js';
import { DESCRIPTOR_BYTES, type ImageGeometry, PAGE_SIZE_BYTES } from './layout.js';
import { encodeMetadataDescriptors } from './page-table.js';
import { nextPersistNumber } from './runtime-layout.js';
import { encodeSuperblock } from './superblock.js';

const TEMP_INFIX = '.creating.';

/**
 * Creates the image at `path` unless someone else created it first. Returns whether this call
 * created it. Every write counts as a persist (so crash injection can stop creation anywhere).
 */
export function createImageFile(
  path: string,
  creation: {
    readonly geometry: ImageGeometry;
    readonly syncData: boolean;
    readonly runtimeWords: Int32Array;
  },
): boolean {
  const { geometry, syncData, runtimeWords } = creation;
  const tempPath = `${path}${TEMP_INFIX}${process.pid}.${threadId}`;
  const fd = ioCall(`create ${tempPath}`, () => openSync(tempPath, 'wx', 0o644));
  try {
    ioCall(`size ${tempPath}`, () => ftruncateSync(fd, geometry.sizeMaxBytes));
    const file: DurableFile = { path: tempPath, fd, syncData: false, runtimeWords };
    const descriptorPages = Math.ceil(
      (geometry.dataFirstPage * DESCRIPTOR_BYTES) / PAGE_SIZE_BYTES,
    );
    const descriptors = new Uint8Array(descriptorPages * PAGE_SIZE_BYTES);
    encodeMetadataDescriptors(new Uint32Array(descriptors.buffer), geometry);
    writeDurably(file, nextPersistNumber(runtimeWords), {
      source: descriptors,
      sourceOffset: 0,
      length: descriptors.length,
      position: geometry.pageTableOffsetBytes,
    });
    const superblock = new Uint8Array(PAGE_SIZE_BYTES);
    encodeSuperblock(superblock, geometry);
    writeDurably(file, nextPersistNumber(runtimeWords), {
      source: superblock,
      sourceOffset: 0,
      length: superblock.length,
      position: 0,
    });
    if (syncData) ioCall(`fdatasync ${tempPath}`, () => fdatasyncSync(fd));
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  closeSync(fd);
  const created = publish(tempPath, path);
  if (created && syncData) syncFolder(dirname(path));
  return created;
}

/**
 * Removes temporary files left by creations of `path` that can no longer finish: those of this
 * thread (open is synchronous, so none is in flight) and those of processes that are gone.
 */
export function removeStaleTempFiles(path: string): void {
  const folder = dirname(path);
  const prefix = basename(path) + TEMP_INFIX;
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // no folder, no image
    throw new StrataError('ERR_IO', `listing ${folder} failed`, { cause: error });
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const [pidText, threadText] = name.slice(prefix.length).split('.');
    const pid = Number(pidText);
    const ownThread = pid === process.pid && Number(threadText) === threadId;
    if (!Number.isInteger(pid) || ownThread || !processAlive(pid)) {
      ioCall(`remove stale ${name}`, () => unlinkSync(join(folder, name)));
    }
  }
}

/** Gives the temporary file its final name without replacing an existing file. */
function publish(tempPath: string, path: string): boolean {
  try {
    linkSync(tempPath, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      unlinkSync(tempPath);
      return false;
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') {
      unlinkSync(tempPath);
      throw new StrataError('ERR_IO', `linking ${tempPath} to ${path} failed`, { cause: error });
    }
    // Filesystems without hard links: rename, which may replace a racing creator's image.
    ioCall(`rename ${tempPath}`, () => renameSync(tempPath, path));
    return true;
  }
  ioCall(`remove ${tempPath}`, () => unlinkSync(tempPath));
  return true;
}

function syncFolder(folder: string): void {
  const fd = ioCall(`open ${folder}`, () => openSync(folder, 'r'));
  try {
    ioCall(`fsync ${folder}`, () => fsyncSync(fd));
  } finally {
    closeSync(fd);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ioCall<T>(what: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof StrataError) throw error;
    throw new StrataError('ERR_IO', `${what} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Deletes an image file and its stale temporary files. A missing image is not an error. */
export function destroyImageFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new StrataError('ERR_IO', `deleting NVM image ${path} failed`, { cause: error });
    }
  }
  removeStaleTempFiles(path);
}
