/**
 * A table file open for reading. Where the native addon offers `mapFile`, the whole file is
 * mapped (MAP_PRIVATE) into an ArrayBuffer at open and a read is a view of it: no system call,
 * no copy, the page cache serves it, as LevelDB reads tables through mmap. Tables never change
 * once written, so the views are stable; a store through one would only touch a private copy.
 * Otherwise (no addon, STRATA_TABLE_MMAP=off) a read is an exact `fs.readSync` into a fresh
 * buffer. Either way a read's bytes are never overwritten, which is what lets cached blocks hand
 * out views of them. Every block is still checked against its CRC when it is read.
 *
 * Thread model: owned by one table reader; one file descriptor per reader per thread.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { loadNativeAddon } from '../../nvm/native-addon.js';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { BlockHandle } from './block-handle.js';
import { checkBlockTrailer } from './block-trailer.js';
import { type BlockLocation, corruptionError } from './corruption.js';
import { ioCall } from './io-call.js';
import { BLOCK_TRAILER_BYTES } from './table-format.js';

export class TableFile {
  readonly path: string;
  readonly sizeBytes: number;
  private fd: number | undefined;
  /** The whole file, when mapped. */
  private mapped: ArrayBuffer | undefined;

  private constructor(path: string, fd: number, sizeBytes: number) {
    this.path = path;
    this.fd = fd;
    this.sizeBytes = sizeBytes;
    this.mapped = mapWholeFile(path, fd, sizeBytes);
  }

  /** Whether reads are views of a mapping (else positioned reads). */
  get isMapped(): boolean {
    return this.mapped !== undefined;
  }

  static open(path: string): TableFile {
    const fd = ioCall(path, 'open', () => openSync(path, 'r'));
    try {
      const sizeBytes = ioCall(path, 'stat', () => fstatSync(fd).size);
      return new TableFile(path, fd, sizeBytes);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  get closed(): boolean {
    return this.fd === undefined;
  }

  /** Reads exactly `length` bytes at `offsetBytes` into a new array; a short file is corrupt. */
  read(offsetBytes: number, length: number): Uint8Array {
    if (this.fd === undefined) throw new StrataError('ERR_CLOSED', `table ${this.path} is closed`);
    if (offsetBytes + length > this.sizeBytes) {
      throw corruptionError(
        { path: this.path, offsetBytes },
        `${length} bytes requested past the end of a ${this.sizeBytes}-byte file`,
      );
    }
    if (this.mapped !== undefined) return new Uint8Array(this.mapped, offsetBytes, length);
    // Its own ArrayBuffer, never pooled or reused. Measured against Buffer.allocUnsafeSlow (the
    // same cost) and against carving blocks from shared 32 KB slabs: slabs saved at most a few
    // percent of a cache miss, within this machine's noise, and doubled the memory a 32 MiB cache
    // kept reachable, since one cached block keeps its whole slab alive.
    const fd = this.fd;
    const buffer = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const position = offsetBytes + done;
      const count = this.readAt(fd, buffer, done, position);
      if (count === 0) {
        throw corruptionError({ path: this.path, offsetBytes }, `file ends at byte ${position}`);
      }
      done += count;
    }
    return buffer;
  }

  /**
   * Reads a block and its trailer, checks the trailer, returns a view of the contents. `location`
   * (this file, the handle's offset) names the block in errors; callers that have one pass it.
   */
  readBlock(handle: BlockHandle, location?: BlockLocation): Uint8Array {
    assert(handle.offsetBytes >= 0 && handle.sizeBytes >= 0);
    assert(location === undefined || location.offsetBytes === handle.offsetBytes);
    const stored = this.read(handle.offsetBytes, handle.sizeBytes + BLOCK_TRAILER_BYTES);
    return checkBlockTrailer(
      stored,
      location ?? { path: this.path, offsetBytes: handle.offsetBytes },
    );
  }

  /** One pread into buffer[done, end); ERR_IO on failure. Not via ioCall: no closure per read. */
  private readAt(fd: number, buffer: Uint8Array, done: number, position: number): number {
    try {
      return readSync(fd, buffer, done, buffer.length - done, position);
    } catch (error) {
      throw new StrataError('ERR_IO', `cannot read table ${this.path}`, { cause: error });
    }
  }

  /** Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    // The mapping ends when the last view of it is collected (cached blocks may still hold one).
    this.mapped = undefined;
    ioCall(this.path, 'close', () => closeSync(fd));
  }
}

/** Above this, tables are read with pread (a 4 GiB table is far beyond targetFileSize). */
const MAP_BYTES_MAX = 2 ** 32;

function mapWholeFile(path: string, fd: number, sizeBytes: number): ArrayBuffer | undefined {
  if (sizeBytes === 0 || sizeBytes > MAP_BYTES_MAX) return undefined;
  if (process.env['STRATA_TABLE_MMAP'] === 'off') return undefined;
  const load = loadNativeAddon();
  if (!load.ok || load.addon.mapFile === undefined) return undefined;
  try {
    return load.addon.mapFile(fd, sizeBytes);
  } catch (error) {
    throw new StrataError('ERR_IO', `cannot map table ${path}`, { cause: error });
  }
}
