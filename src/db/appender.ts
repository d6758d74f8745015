/**
 * `db.append` (issue 5): one running append per key (a promise chain per key, like a cache's
 * open-directory entry), appends to different keys in parallel. An append whose key holds a blob
 * with room left in its reserve writes the bytes in place, after the used ones, and commits a new
 * reference (used + n, version + 1, CRC combined without reading the old bytes) with a `select`
 * precondition: applied only if the key still holds the reference read and its file is not being
 * collected. Otherwise, or when that commit conflicts, the whole value is rewritten into a new
 * blob whose reserve expects more appends (`appendRatio`), also version-checked; a conflict
 * retries. A crash between the in-place write and the commit leaves the old reference, which
 * never covered the new bytes.
 *
 * Thread model: main thread only, like the Strata that owns it.
 */
import { encodeBlobRef } from '../blob/blob-ref.js';
import { capacityFor } from '../blob/reserve-policy.js';
import { StrataError } from '../errors.js';
import { KIND_BLOB_REFERENCE } from '../sst/internal-key.js';
import { AggregationBuffer } from '../write/aggregation-buffer.js';
import type { EncodedOp, WriteOp } from '../write/write-op.js';
import type { BlobStore } from './blob-store.js';
import type { ResolvedOptions } from './options.js';

/** A key's stored value: its kind and bytes (an encoded reference for a blob). */
export interface Stored {
  readonly kind: number;
  readonly value: Uint8Array;
}

export interface AppenderHost {
  readonly blobs: BlobStore;
  readonly options: ResolvedOptions;
  /** The newest stored version of the key, or undefined if absent or deleted. */
  readStored(key: Uint8Array): Stored | undefined;
  storedIs(key: Uint8Array, expected: Stored | undefined): boolean;
  /** Whether writeNow would commit a reference now (it may still meet a conflict). */
  canWriteNow(): boolean;
  /** Whether other threads may write keys directly (attached handles exist). */
  othersMayWrite(): boolean;
  /**
   * Commits `op` at once (true), or does nothing (false). Throws ERR_CONFLICT when `select` keeps
   * nothing. Requires: canWriteNow() returned true in this turn.
   */
  writeNow(op: WriteOp, select?: (ops: readonly EncodedOp[]) => readonly EncodedOp[]): boolean;
  /** Through the write path; rejects with ERR_CONFLICT when `select` keeps nothing. */
  write(op: WriteOp, select: (ops: readonly EncodedOp[]) => readonly EncodedOp[]): Promise<void>;
  /** Throws ERR_CLOSED once the database is closed. */
  checkOpen(): void;
}

/**
 * Copies of appended bytes an append keeps past its call: slabs of 64 KiB, shared by chunks up
 * to 16 KiB (a fresh 3 KiB array costs more than the in-place write's memcpy; read-view.ts).
 */
const appendCopies = new AggregationBuffer(64 * 1024);

const RESOLVED: Promise<void> = Promise.resolve();

type Select = (ops: readonly EncodedOp[]) => readonly EncodedOp[];

/** An in-place append's reference and the check its commit makes. */
interface InPlaceCommit {
  readonly write: WriteOp;
  readonly select: Select;
}

/** A key as a Map key: its bytes as latin1. */
function idOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
}

/** An append retries this often when concurrent writes to its key keep invalidating it. */
const APPEND_ATTEMPTS = 16;

export class Appender {
  readonly #host: AppenderHost;
  /** The running append of each key (latin1 of its bytes): appends to one key go one by one. */
  readonly #running = new Map<string, Promise<unknown>>();

  constructor(host: AppenderHost) {
    this.#host = host;
  }

  /**
   * Requires: a checked key and checked bytes, which the caller may reuse once this returns
   * (what an append keeps past its call, it copies: behind another append to the key, or past a
   * commit that waits).
   */
  append(key: Uint8Array, bytes: Uint8Array): Promise<void> {
    let id: string | undefined;
    if (this.#running.size > 0) {
      id = idOf(key);
      if (this.#running.has(id)) return this.#queue(id, key.slice(), appendCopies.copy(bytes));
    }
    try {
      if (this.#appendInPlaceNow(key, bytes)) return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
    id ??= idOf(key);
    return this.#track(id, this.#appendNow(key.slice(), bytes, false));
  }

  /**
   * The common case done in the caller's turn, with no promise, no copy and no per-key entry:
   * the key holds a blob with room in its reserve and the engine can commit at once. True when
   * committed; false (nothing committed) sends the append down the general path, which reads the
   * key again. Nothing else runs on this thread in between, and writes from attached threads are
   * caught by the commit's version check (an ERR_CONFLICT then also takes the general path).
   */
  #appendInPlaceNow(key: Uint8Array, bytes: Uint8Array): boolean {
    const host = this.#host;
    host.checkOpen();
    if (!host.canWriteNow()) return false;
    const read = host.readStored(key);
    if (read?.kind !== KIND_BLOB_REFERENCE) return false;
    const inPlace = this.#writeInPlace(key, read, bytes);
    if (inPlace === undefined) return false;
    // Nothing on this thread ran since the read; only an attached thread's direct write could
    // have changed the key, so only then is the version check needed.
    const select = host.othersMayWrite() ? inPlace.select : undefined;
    try {
      return host.writeNow(inPlace.write, select);
    } catch (error) {
      if (error instanceof StrataError && error.code === 'ERR_CONFLICT') return false;
      throw error;
    }
  }

  /** Runs the append after the one running for `id`, with private copies of key and bytes. */
  #queue(id: string, key: Uint8Array, bytes: Uint8Array): Promise<void> {
    const previous = this.#running.get(id)!;
    const start = (): Promise<void> => this.#appendNow(key, bytes, true);
    return this.#track(id, previous.then(start, start));
  }

  /** Makes `run` the running append of `id` until it settles. */
  #track(id: string, run: Promise<void>): Promise<void> {
    this.#running.set(id, run);
    const forget = (): void => {
      if (this.#running.get(id) === run) this.#running.delete(id);
    };
    run.then(forget, forget);
    return run;
  }

  async #appendNow(key: Uint8Array, given: Uint8Array, copied: boolean): Promise<void> {
    const host = this.#host;
    let bytes = given;
    let bytesAreCopy = copied;
    for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
      host.checkOpen();
      const read = host.readStored(key);
      // Committed only if the key still holds exactly what was read (the version check).
      let select = (ops: readonly EncodedOp[]): readonly EncodedOp[] =>
        host.storedIs(key, read) ? ops : [];
      let write: WriteOp;
      if (read?.kind === KIND_BLOB_REFERENCE) {
        const inPlace = this.#writeInPlace(key, read, bytes);
        if (inPlace !== undefined) ({ write, select } = inPlace);
        else write = this.#rewrite(key, concatBytes(host.blobs.read(read.value), bytes));
      } else {
        const base = read?.value ?? new Uint8Array(0);
        this.#checkSize(base.length + bytes.length);
        write = this.#rewrite(key, concatBytes(base, bytes));
      }
      try {
        if (host.canWriteNow() && host.writeNow(write, select)) return;
        // A retry runs after this wait, when the caller may have reused its buffer.
        if (!bytesAreCopy) {
          bytes = appendCopies.copy(bytes);
          bytesAreCopy = true;
        }
        await host.write(write, select);
        return;
      } catch (error) {
        if (error instanceof StrataError && error.code === 'ERR_CONFLICT') continue;
        throw error;
      }
    }
    throw new StrataError(
      'ERR_CONFLICT',
      `append: other writes to the key changed it ${APPEND_ATTEMPTS} times in a row`,
    );
  }

  /**
   * Writes `bytes` into the reserve of the blob `read` names and returns the reference to commit
   * with its version check, or undefined (nothing written) when the reserve is too small or the
   * file is being collected. ERR_VALUE_TOO_LARGE past maxValueBytes.
   */
  #writeInPlace(key: Uint8Array, read: Stored, bytes: Uint8Array): InPlaceCommit | undefined {
    const host = this.#host;
    const ref = host.blobs.decode(read.value);
    this.#checkSize(ref.used + bytes.length);
    if (ref.capacity - ref.used < bytes.length || !host.blobs.isAppendable(ref.fileNumber)) {
      return undefined;
    }
    const next = host.blobs.writeInPlace(ref, bytes, host.options.sync);
    return {
      write: { type: 'blobRef', key, value: encodeBlobRef(next) },
      // A GC round that retired the file before this commits has scanned (or will scan) the old
      // reference and would remove the file under the new one: then retry, rewriting.
      select: (ops) =>
        host.storedIs(key, read) && host.blobs.isAppendable(ref.fileNumber) ? ops : [],
    };
  }

  /** A put of the whole value into a new blob whose reserve expects more appends. */
  #rewrite(key: Uint8Array, value: Uint8Array): WriteOp {
    const { blobs, options } = this.#host;
    blobs.countRewrittenAppend();
    const policy = { ...options.blobReserve, ratio: options.blobAppendReserveRatio };
    return { type: 'put', key, value, blobCapacity: capacityFor(value.length, policy) };
  }

  #checkSize(totalBytes: number): void {
    const { maxValueBytes } = this.#host.options;
    if (totalBytes > maxValueBytes) {
      throw new StrataError(
        'ERR_VALUE_TOO_LARGE',
        `append: the value would be ${totalBytes} bytes, above maxValueBytes ${maxValueBytes}`,
      );
    }
  }
}

function concatBytes(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head, 0);
  joined.set(tail, head.length);
  return joined;
}
