/**
 * Synchronous positioned I/O on blob files, every OS failure an ERR_IO naming the file with the
 * original error as `cause`. Synchronous so it runs the same on the main thread and in a Piscina
 * worker. Transfers are cut into FRAGMENT_BYTES pieces so that no single system call moves an
 * unbounded amount (and a multi-GiB value never meets readSync's 2 GiB limit).
 */
import { readSync, writeSync } from 'node:fs';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { blobCorruption, FRAGMENT_BYTES } from './blob-format.js';

/** Bounds the retries of a call that keeps making no progress. */
const STALLED_CALLS_MAX = 1000;

export function blobIoCall<T>(path: string, what: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw new StrataError('ERR_IO', `cannot ${what} blob file ${path}`, { cause: error });
  }
}

/** Writes all of `bytes` at `position`, at most FRAGMENT_BYTES per call. */
export function writeFully(fd: number, path: string, bytes: Uint8Array, position: number): void {
  let done = 0;
  let stalled = 0;
  while (done < bytes.length) {
    const length = Math.min(FRAGMENT_BYTES, bytes.length - done);
    const written = blobIoCall(path, 'write', () =>
      writeSync(fd, bytes, done, length, position + done),
    );
    if (written === 0) {
      stalled++;
      assert(stalled < STALLED_CALLS_MAX, 'writeSync keeps making no progress');
    }
    done += written;
  }
}

/**
 * Reads exactly `length` bytes at `position` into a fresh array. The file ending first is
 * ERR_CORRUPT naming `offsetBytes` (the structure being read), with `what` as the detail.
 */
export function readFully(
  fd: number,
  path: string,
  read: { position: number; length: number; offsetBytes: number; what: string },
): Uint8Array {
  const buffer = new Uint8Array(read.length);
  let done = 0;
  while (done < read.length) {
    const length = Math.min(FRAGMENT_BYTES, read.length - done);
    const count = blobIoCall(path, 'read', () =>
      readSync(fd, buffer, done, length, read.position + done),
    );
    if (count === 0) {
      throw blobCorruption(
        path,
        read.offsetBytes,
        `${read.what}: file ends at byte ${read.position + done}`,
      );
    }
    done += count;
  }
  return buffer;
}
