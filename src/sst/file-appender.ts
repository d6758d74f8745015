/**
 * Buffered, sequential, synchronous writes to a new table file: the table writer appends blocks
 * and the footer, then closes with an optional fsync. Synchronous so it runs the same on the
 * main thread and in a Piscina worker.
 *
 * A block and its trailer are always assembled whole in the buffer, because the trailer's CRC
 * covers the block contents and the compression byte as one contiguous range.
 *
 * Thread model: owned by one table writer on one thread.
 */
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { assert } from '../assert.js';
import type { BlockHandle } from './block-handle.js';
import { writeBlockTrailer } from './block-trailer.js';
import { ioCall } from './io-call.js';
import { BLOCK_TRAILER_BYTES } from './table-format.js';

const BUFFER_BYTES = 64 << 10;

export class FileAppender {
  readonly path: string;
  private fd: number | undefined;
  private buffer = new Uint8Array(BUFFER_BYTES);
  private bufferedBytes = 0;
  private writtenBytes = 0;

  /** Creates the file; it must not exist yet (a table is never overwritten in place). */
  constructor(path: string) {
    this.path = path;
    this.fd = ioCall(path, 'create', () => openSync(path, 'wx'));
  }

  /** Bytes appended so far, which is also the offset of the next byte. */
  get offsetBytes(): number {
    return this.writtenBytes + this.bufferedBytes;
  }

  append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.bufferedBytes);
    this.bufferedBytes += bytes.length;
  }

  /** Appends a block and its trailer (block-trailer.ts); returns the block's handle. */
  appendBlock(contents: Uint8Array): BlockHandle {
    const handle = { offsetBytes: this.offsetBytes, sizeBytes: contents.length };
    this.reserve(contents.length + BLOCK_TRAILER_BYTES);
    const start = this.bufferedBytes;
    this.buffer.set(contents, start);
    writeBlockTrailer(this.buffer, start, start + contents.length);
    this.bufferedBytes += contents.length + BLOCK_TRAILER_BYTES;
    return handle;
  }

  /** Writes what is buffered, fsyncs if asked, closes. Returns the file's size. */
  close(options: { sync: boolean }): number {
    this.flush();
    const fd = this.openFd();
    if (options.sync) ioCall(this.path, 'fsync', () => fsyncSync(fd));
    this.fd = undefined;
    ioCall(this.path, 'close', () => closeSync(fd));
    return this.writtenBytes;
  }

  /** Closes the file if open (ignoring errors: it is being thrown away) and removes it. */
  remove(): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      try {
        closeSync(fd);
      } catch {
        // The file is deleted next; a failed close of a doomed file changes nothing.
      }
    }
    ioCall(this.path, 'remove', () => rmSync(this.path, { force: true }));
  }

  /** Makes room for `byteCount` contiguous bytes in the buffer, flushing or growing it. */
  private reserve(byteCount: number): void {
    if (this.bufferedBytes + byteCount <= this.buffer.length) return;
    this.flush();
    if (byteCount > this.buffer.length) this.buffer = new Uint8Array(byteCount);
  }

  private flush(): void {
    const fd = this.openFd();
    let done = 0;
    for (let attempt = 0; done < this.bufferedBytes; attempt++) {
      assert(attempt < 1_000_000, 'writeSync keeps making no progress');
      const length = this.bufferedBytes - done;
      const position = this.writtenBytes + done;
      done += ioCall(this.path, 'write', () => writeSync(fd, this.buffer, done, length, position));
    }
    this.writtenBytes += this.bufferedBytes;
    this.bufferedBytes = 0;
  }

  private openFd(): number {
    assert(this.fd !== undefined, 'table file already closed');
    return this.fd;
  }
}
