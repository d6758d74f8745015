/**
 * The public iterator: a DbIterator over the merged sources of one read view, plus the pin that
 * keeps the view's memtables from being freed while it reads them. Iterating it with for…of to
 * the end, or breaking out of the loop, releases the pin; a cursor user (seek/next/prev) calls
 * `close()`. After that every call throws ERR_CLOSED.
 *
 * Thread model: main thread, one caller, like the DbIterator inside.
 */
import { StrataError } from '../errors.js';
import type { DbIterator } from '../lsm/db-iterator.js';
import { KIND_BLOB_REFERENCE } from '../sst/internal-key.js';
import { AggregationBuffer } from '../write/aggregation-buffer.js';

/** Reads the value an encoded blob reference names (a fresh array the caller may keep). */
export type ResolveBlob = (encodedRef: Uint8Array) => Uint8Array;

/** Copies of keys and values up to a quarter of this share 64 KiB slabs. */
const COPY_SLAB_BYTES = 64 * 1024;

export class StrataIterator implements Iterable<[Uint8Array, Uint8Array]> {
  readonly #inner: DbIterator;
  readonly #resolveBlob: ResolveBlob;
  #release: (() => void) | undefined;
  readonly #check: (() => void) | undefined;
  #copies: AggregationBuffer | undefined;

  /** Internal: use `db.iterator()` or `snapshot.iterator()`. */
  constructor(
    inner: DbIterator,
    release: () => void,
    resolveBlob: ResolveBlob,
    check?: () => void,
  ) {
    this.#inner = inner;
    this.#check = check;
    this.#release = release;
    this.#resolveBlob = resolveBlob;
  }

  get closed(): boolean {
    return this.#release === undefined;
  }

  valid(): boolean {
    return this.#open().valid();
  }

  /** A copy of the current key. Requires: valid(). */
  key(): Uint8Array {
    return this.#copy(this.#open().key());
  }

  /** A copy of the current value (read from its blob file if it lives in one). Requires: valid(). */
  value(): Uint8Array {
    const inner = this.#open();
    return this.#valueOf(inner.kind(), inner.value());
  }

  seekFirst(): void {
    this.#open().seekFirst();
  }

  seekLast(): void {
    this.#open().seekLast();
  }

  /** Moves to the first key >= `key` within the bounds. */
  seek(key: Uint8Array | string): void {
    const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key;
    if (!(bytes instanceof Uint8Array)) {
      throw new StrataError('ERR_INVALID_ARGUMENT', 'seek key must be a Uint8Array or a string');
    }
    this.#open().seek(bytes);
  }

  next(): void {
    this.#open().next();
  }

  prev(): void {
    this.#open().prev();
  }

  /** Releases the memtables this iterator reads. Idempotent. */
  close(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  *[Symbol.iterator](): Iterator<[Uint8Array, Uint8Array]> {
    const inner = this.#open();
    try {
      for (const [key, value] of inner) yield [this.#copy(key), this.#valueOf(inner.kind(), value)];
    } finally {
      this.close();
    }
  }

  /**
   * A private copy, carved from this iterator's own slabs (the write path's aggregation buffer,
   * never detached or recycled): a memcpy, not an allocation per entry. Entries of one iterator
   * may share an ArrayBuffer, as Node's pooled Buffers do; nothing ever writes a slab again.
   */
  #copy(bytes: Uint8Array): Uint8Array {
    this.#copies ??= new AggregationBuffer(COPY_SLAB_BYTES);
    return this.#copies.copy(bytes);
  }

  #valueOf(kind: number, stored: Uint8Array): Uint8Array {
    return kind === KIND_BLOB_REFERENCE ? this.#resolveBlob(stored) : this.#copy(stored);
  }

  #open(): DbIterator {
    if (this.#release === undefined) throw new StrataError('ERR_CLOSED', 'iterator is closed');
    // An attached thread's iterator stops when its coordinator closes (the memory goes).
    this.#check?.();
    return this.#inner;
  }
}
