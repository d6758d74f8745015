/**
 * A Strata store seen from another thread: `await Strata.attach(handle)` in a worker, with the
 * handle of `db.handle()` (handle-layout.ts). Point reads, scans and snapshots run here, on
 * shared memory and this thread's own table readers: the memtables are the coordinator's NVM
 * image pages, attached (`Memtable.attach`); tables and blob files are opened by path. Writes,
 * appends, index tasks and index queries, flushes and stats go to the coordinator (comlink),
 * whose group commit batches every thread's writes.
 *
 * The view (memtables newest first, tables per level, seq floor) is the coordinator's latest,
 * posted to this thread's view port; before every read the thread checks the shared version
 * and, when it moved, takes the queued view synchronously (receiveMessageOnPort). Its slot names
 * the oldest view it still reads (open iterators and snapshots keep theirs), so the coordinator
 * frees nothing it may touch (handle-layout.ts, "Epoch protocol").
 *
 * Thread model: one attached store per thread, used from that thread only.
 */
import { join } from 'node:path';
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type * as ComlinkModule from 'comlink';
import { BlobFileReader } from '../blob/blob-file-reader.js';
import { decodeBlobRef } from '../blob/blob-ref.js';
import { reviveWorkerError } from '../blob/worker-error.js';
import { blobFileName } from '../catalog/file-names.js';
import { StrataError } from '../errors.js';
import { encodeFields, type FieldValue } from '../fields/field-codec.js';
import { Memtable } from '../memtable/memtable.js';
import { defaultBlockCache } from '../sst/block-cache.js';
import { KIND_BLOB_REFERENCE, KIND_DELETION, KIND_VALUE, type Seq } from '../sst/internal-key.js';
import { Comlink, portEndpoint } from './comlink.js';
import type { CoordinatorApi } from './coordinator-api.js';
import { type FieldReadOptions, fieldsOf } from './field-read.js';
import {
  CONTROL_CLOSED,
  CONTROL_DIRECT_WRITES,
  CONTROL_VERSION,
  SLOT_BASE,
  SLOT_IDLE,
  SNAPSHOTS_PER_SLOT,
  type StrataHandle,
  type ViewMessage,
} from './handle-layout.js';
import type { IndexInfo, IndexQueryOptions, IndexRangeQueryOptions } from './index-manager.js';
import type { StrataIterator } from './iterator.js';
import { encodeBound, encodeKey, encodeValue, invalid } from './options.js';
import {
  type BlobReader,
  type IteratorOptions,
  iteratorOn,
  type LiveMemtable,
  lookupAt,
  type ReadView,
  StrataSnapshot,
  storedKind,
} from './read-view.js';
import { TableSet } from './table-set.js';

/** Bounds the wait for a view message the coordinator posted just before raising the version. */
const VIEW_WAIT_SPINS = 10_000;

type DirectOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

const EMPTY = new Uint8Array(0);

interface AttachedMemtable extends LiveMemtable {
  /** Views (the current one, open iterators and snapshots' reads) that include it. */
  inViews: number;
  gone: boolean;
}

interface PinnedView extends ReadView {
  readonly version: number;
  readonly attached: readonly AttachedMemtable[];
}

export class AttachedStrata {
  readonly dir: string;
  readonly #handle: StrataHandle;
  readonly #control: Int32Array;
  readonly #snapshotWords: BigInt64Array;
  readonly #api: ComlinkModule.Remote<CoordinatorApi>;
  readonly #rpcPort: MessagePort;
  readonly #viewPort: MessagePort;
  readonly #closedByPeer: Promise<never>;
  #peerClosed = false;
  #version = 0;
  #memtables = new Map<number, AttachedMemtable>();
  #current: PinnedView | undefined;
  #tables: TableSet | undefined;
  /** Versions of the views open iterators and snapshots hold, with how many hold each. */
  readonly #pins = new Map<number, number>();
  readonly #blobReaders = new Map<number, BlobFileReader>();
  readonly #snapshots = new Map<StrataSnapshot, number>();
  #closed = false;
  /** Writes this thread applied to the memtable itself (stats). */
  #directWrites = 0;
  /** Requests awaiting a reply: the rpc port keeps the thread alive only while there are some. */
  #inFlight = 0;

  private constructor(handle: StrataHandle) {
    this.#handle = handle;
    this.dir = handle.dir;
    this.#control = new Int32Array(handle.control);
    this.#snapshotWords = new BigInt64Array(handle.snapshots);
    this.#rpcPort = handle.rpcPort;
    this.#viewPort = handle.viewPort;
    this.#api = Comlink.wrap<CoordinatorApi>(portEndpoint(this.#rpcPort));
    this.#closedByPeer = new Promise<never>((_resolve, reject) => {
      this.#rpcPort.once('close', () => {
        this.#peerClosed = true;
        reject(closedError(this.dir));
      });
    });
    this.#closedByPeer.catch(() => undefined);
    // An idle attached store does not keep its thread alive (a thread that is done exits).
    this.#rpcPort.unref();
    this.#viewPort.unref();
  }

  /** Internal: `Strata.attach(handle)`. */
  static attach(handle: StrataHandle): AttachedStrata {
    if (
      typeof handle !== 'object' ||
      handle === null ||
      !(handle.control instanceof SharedArrayBuffer)
    ) {
      throw invalid('attach: the handle must come from db.handle() (posted with its transferList)');
    }
    const store = new AttachedStrata(handle);
    store.#checkOpen();
    store.#leave(store.#enter());
    return store;
  }

  /** Writes this thread applied to the shared memtable itself, without the coordinator. */
  get directWrites(): number {
    return this.#directWrites;
  }

  get closed(): boolean {
    return this.#closed || this.#peerClosed || Atomics.load(this.#control, CONTROL_CLOSED) === 1;
  }

  /** The newest value of `key`, or undefined. Synchronous, on shared memory. */
  get(key: Uint8Array | string): Uint8Array | undefined {
    this.#checkOpen();
    const bytes = encodeKey(key, this.#handle.maxKeyBytes);
    const view = this.#enter();
    try {
      const stored = lookupAt(view.memtables, view.levels, view.seq, bytes);
      return stored !== undefined && storedKind === KIND_BLOB_REFERENCE
        ? this.#readBlob(stored)
        : stored;
    } finally {
      this.#leave(view);
    }
  }

  getFields(
    key: Uint8Array | string,
    options: FieldReadOptions = {},
  ): Record<string, Uint8Array | string> | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : fieldsOf(value, options);
  }

  /** A synchronous iterable of [key, value] in key order, as on the coordinator. */
  iterator(options: IteratorOptions = {}): StrataIterator {
    this.#checkOpen();
    const snapshot = (options as { snapshot?: unknown } | null)?.snapshot;
    if (snapshot !== undefined) {
      if (!(snapshot instanceof StrataSnapshot) || !this.#snapshots.has(snapshot)) {
        throw invalid('iterator: options.snapshot must be a snapshot of this attached store');
      }
      const { snapshot: _pinned, ...rest } = options;
      return snapshot.iterator(rest);
    }
    const view = this.#pin(this.#enter());
    this.#leave(view);
    try {
      return iteratorOn(
        view,
        options,
        () => this.#unpin(view),
        this.#blobs(),
        () => this.#checkOpen(),
      );
    } catch (error) {
      this.#unpin(view);
      throw error;
    }
  }

  /** Pins the current seq: compactions on the coordinator keep what it sees until release(). */
  snapshot(): StrataSnapshot {
    this.#checkOpen();
    const view = this.#enter();
    this.#leave(view);
    const word = this.#freeSnapshotWord();
    Atomics.store(this.#snapshotWords, word, BigInt(view.seq));
    const snapshot = new StrataSnapshot(view.seq, {
      maxKeyBytes: this.#handle.maxKeyBytes,
      blobs: this.#blobs(),
      view: () => {
        this.#checkOpen();
        const current = this.#enter();
        this.#leave(current);
        return current;
      },
      acquire: (inner) => this.#pin(inner as PinnedView),
      release: (inner) => this.#unpin(inner as PinnedView),
      forget: (released) => {
        const index = this.#snapshots.get(released);
        this.#snapshots.delete(released);
        if (index !== undefined) Atomics.store(this.#snapshotWords, index, 0n);
      },
    });
    this.#snapshots.set(snapshot, word);
    return snapshot;
  }

  /**
   * Resolves once committed. Small values go straight into the shared mutable memtable from this
   * thread (its write mutex orders them with the coordinator's group commits); large values,
   * stores with indexes or `sync: true`, and a full or frozen memtable go to the coordinator.
   */
  put(key: Uint8Array | string, value: Uint8Array | string): Promise<void> {
    return this.#write(() => [
      {
        type: 'put' as const,
        key: encodeKey(key, this.#handle.maxKeyBytes),
        value: encodeValue(value, this.#handle.maxValueBytes),
      },
    ]);
  }

  del(key: Uint8Array | string): Promise<void> {
    return this.#write(() => [{ type: 'del', key: encodeKey(key, this.#handle.maxKeyBytes) }]);
  }

  /** Atomic, as on the coordinator (checked here, applied there). */
  batch(
    ops: readonly {
      readonly type: 'put' | 'del';
      readonly key: Uint8Array | string;
      readonly value?: Uint8Array | string;
    }[],
  ): Promise<void> {
    return this.#write(() => {
      if (!Array.isArray(ops)) throw invalid('batch ops must be an array');
      const encoded = ops.map((op, index) => {
        if (typeof op !== 'object' || op === null) throw invalid(`ops[${index}] must be an object`);
        const key = encodeKey(op.key, this.#handle.maxKeyBytes, `ops[${index}].key`);
        if (op.type === 'del') return { type: 'del' as const, key };
        if (op.type !== 'put') throw invalid(`ops[${index}].type must be 'put' or 'del'`);
        if (op.value === undefined) throw invalid(`ops[${index}].value is required for put`);
        const value = encodeValue(op.value, this.#handle.maxValueBytes, `ops[${index}].value`);
        return { type: 'put' as const, key, value };
      });
      return encoded;
    });
  }

  putFields(key: Uint8Array | string, fields: Readonly<Record<string, FieldValue>>): Promise<void> {
    return this.#request(() => {
      const value = encodeValue(encodeFields(fields), this.#handle.maxValueBytes, 'field record');
      return this.#api.batch([
        { type: 'put', key: encodeKey(key, this.#handle.maxKeyBytes), value },
      ]);
    });
  }

  append(key: Uint8Array | string, bytes: Uint8Array | string): Promise<void> {
    return this.#request(() =>
      this.#api.append(
        encodeKey(key, this.#handle.maxKeyBytes),
        encodeValue(bytes, this.#handle.maxValueBytes, 'bytes'),
      ),
    );
  }

  createIndex(field: string): Promise<void> {
    return this.#request(() => this.#api.createIndex(field));
  }

  dropIndex(field: string): Promise<void> {
    return this.#request(() => this.#api.dropIndex(field));
  }

  listIndexes(): Promise<IndexInfo[]> {
    return this.#request(() => this.#api.listIndexes());
  }

  /** As on the coordinator; snapshots of attached stores are not supported here. */
  queryByIndex(
    field: string,
    value: Uint8Array | string,
    options: Omit<IndexQueryOptions, 'snapshot'> = {},
  ): Promise<Uint8Array[]> {
    return this.#request(() => {
      if ((options as { snapshot?: unknown }).snapshot !== undefined) {
        throw invalid('queryByIndex on an attached store takes no snapshot');
      }
      const bytes = encodeBound(value, 'index value');
      if (bytes === undefined) throw invalid('index value must be a Uint8Array or a string');
      return this.#api.queryByIndex(field, bytes, options);
    });
  }

  queryRangeByIndex(
    field: string,
    options: Omit<IndexRangeQueryOptions, 'snapshot'> = {},
  ): Promise<Uint8Array[]> {
    return this.#request(() => {
      if ((options as { snapshot?: unknown }).snapshot !== undefined) {
        throw invalid('queryRangeByIndex on an attached store takes no snapshot');
      }
      const bounds: Record<string, Uint8Array | number | boolean | string | undefined> = {};
      for (const name of ['gt', 'gte', 'lt', 'lte'] as const) {
        const bound = encodeBound(options[name], name);
        if (bound !== undefined) bounds[name] = bound;
      }
      return this.#api.queryRangeByIndex(field, { ...options, ...bounds });
    });
  }

  flush(): Promise<void> {
    return this.#request(() => this.#api.flush());
  }

  compactRange(start?: Uint8Array | string, end?: Uint8Array | string): Promise<void> {
    return this.#request(() =>
      this.#api.compactRange(encodeBound(start, 'start'), encodeBound(end, 'end')),
    );
  }

  collectBlobGarbage(): Promise<number> {
    return this.#request(() => this.#api.collectBlobGarbage());
  }

  /** The coordinator's stats. */
  stats(): Promise<Record<string, unknown>> {
    return this.#request(() => this.#api.stats());
  }

  /**
   * Detaches: snapshots are released, this thread's readers closed and its slot freed (the
   * coordinator sees the port close). Idempotent. Open iterators must be closed first.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const snapshot of [...this.#snapshots.keys()]) snapshot.release();
    Atomics.store(this.#control, SLOT_BASE + this.#handle.slot, SLOT_IDLE);
    this.#tables?.close();
    for (const reader of this.#blobReaders.values()) reader.close();
    this.#blobReaders.clear();
    for (const memtable of this.#memtables.values()) memtable.memtable.close();
    this.#memtables.clear();
    this.#api[Comlink.releaseProxy]();
    this.#rpcPort.close();
    this.#viewPort.close();
  }

  /** Checks and encodes the ops here; writes them directly when it can, else asks the coordinator. */
  #write(encode: () => DirectOp[]): Promise<void> {
    let ops: DirectOp[];
    try {
      this.#checkOpen();
      ops = encode();
      if (ops.length === 0 || this.#writeDirect(ops)) {
        this.#directWrites++;
        return Promise.resolve();
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#request(() => this.#api.batch(ops));
  }

  /**
   * Applies `ops` to the view's mutable memtable under its write mutex, numbered after both its
   * applied seq and the view's seq floor; false (nothing written) when the coordinator must.
   */
  #writeDirect(ops: readonly DirectOp[]): boolean {
    if (Atomics.load(this.#control, CONTROL_DIRECT_WRITES) !== 1) return false;
    let bytes = 0;
    for (const op of ops) {
      if (op.type === 'put' && op.value.length >= this.#handle.minBlobSize) return false;
      bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
    }
    const view = this.#enter();
    try {
      const mutable = view.attached[0];
      if (mutable === undefined) return false;
      const memtable = mutable.memtable;
      if (memtable.approximateBytes + bytes >= this.#handle.memtableSize) return false;
      memtable.lock();
      try {
        // Checked under the mutex: the coordinator seals a frozen memtable, and stops direct
        // writes before an index becomes active, holding this same mutex.
        if (memtable.sealedLocked()) return false;
        if (Atomics.load(this.#control, CONTROL_DIRECT_WRITES) !== 1) return false;
        const first = Math.max(memtable.appliedSeqLocked(), this.#current!.seq) + 1;
        memtable.applyBatchLocked(
          ops.map((op, index) => ({
            seq: first + index,
            kind: op.type === 'put' ? KIND_VALUE : KIND_DELETION,
            userKey: op.key,
            value: op.type === 'put' ? op.value : EMPTY,
          })),
        );
        return true;
      } finally {
        memtable.unlock();
      }
    } finally {
      this.#leave(view);
    }
  }

  /** Runs `call` (which checks its arguments first) against the coordinator; ERR_CLOSED if it goes. */
  #request<T>(call: () => Promise<T>): Promise<T> {
    try {
      this.#checkOpen();
      const reply = call();
      if (this.#inFlight++ === 0) this.#rpcPort.ref();
      const settled = (): void => {
        if (--this.#inFlight === 0 && !this.#closed) this.#rpcPort.unref();
      };
      return Promise.race([reply, this.#closedByPeer])
        .catch((error: unknown) => {
          throw this.closed ? closedError(this.dir) : reviveWorkerError(error);
        })
        .finally(settled);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #checkOpen(): void {
    if (this.closed) throw closedError(this.dir);
  }

  /**
   * Takes the newest view (if it moved) and marks this thread as reading it: the slot claims
   * the shared version before the view's tables are opened, so the coordinator keeps them.
   */
  #enter(): PinnedView {
    const slotWord = SLOT_BASE + this.#handle.slot;
    for (let spins = 0; ; spins++) {
      const version = Atomics.load(this.#control, CONTROL_VERSION);
      Atomics.store(this.#control, slotWord, this.#oldestPinned(version));
      // Re-read: a coordinator that raised the version before our store may not have seen it.
      if (Atomics.load(this.#control, CONTROL_VERSION) !== version) continue;
      if (this.#version < version) this.#drainViews();
      if (this.#version >= version) {
        Atomics.store(this.#control, slotWord, this.#oldestPinned(this.#version));
        const view = this.#current!;
        return { ...view, seq: this.#seqOf(view) };
      }
      // The coordinator posts a view before it raises the version: it is on its way.
      if (spins > VIEW_WAIT_SPINS) {
        throw new StrataError('ERR_BUSY', `no view of ${this.dir} arrived from its coordinator`);
      }
    }
  }

  #oldestPinned(version: number): number {
    let oldest = version;
    for (const pinned of this.#pins.keys()) oldest = Math.min(oldest, pinned);
    return oldest;
  }

  /** Back to the oldest view an open iterator or snapshot still reads, or idle. */
  #leave(_view: PinnedView): void {
    let oldest = Number.POSITIVE_INFINITY;
    for (const version of this.#pins.keys()) oldest = Math.min(oldest, version);
    Atomics.store(
      this.#control,
      SLOT_BASE + this.#handle.slot,
      oldest === Number.POSITIVE_INFINITY ? SLOT_IDLE : oldest,
    );
  }

  #pin(view: PinnedView): PinnedView {
    this.#pins.set(view.version, (this.#pins.get(view.version) ?? 0) + 1);
    for (const memtable of view.attached) memtable.inViews++;
    this.#tables!.acquire(view.levels);
    return view;
  }

  #unpin(view: PinnedView): void {
    const count = (this.#pins.get(view.version) ?? 0) - 1;
    if (count <= 0) this.#pins.delete(view.version);
    else this.#pins.set(view.version, count);
    for (const memtable of view.attached) {
      memtable.inViews--;
      this.#closeIfUnused(memtable);
    }
    if (!this.#closed) this.#tables!.release(view.levels);
    this.#leave(view);
  }

  #seqOf(view: PinnedView): Seq {
    const mutable = view.memtables[0];
    return Math.max(this.#current!.seq, mutable === undefined ? 0 : mutable.memtable.visibleSeq);
  }

  /** Adopts the newest view queued on the view port, if any. */
  #drainViews(): void {
    let latest: ViewMessage | undefined;
    for (;;) {
      const received = receiveMessageOnPort(this.#viewPort);
      if (received === undefined) break;
      latest = received.message as ViewMessage;
    }
    if (latest !== undefined && latest.version > this.#version) this.#adopt(latest);
  }

  #adopt(message: ViewMessage): void {
    const previous = this.#current;
    const attached: AttachedMemtable[] = [];
    const next = new Map<number, AttachedMemtable>();
    for (const { id, handle } of message.memtables) {
      let live = this.#memtables.get(id);
      if (live === undefined) {
        live = {
          id,
          memtable: Memtable.attach(handle),
          refs: 0,
          retired: false,
          unpinned: false,
          dropped: false,
          inViews: 0,
          gone: false,
        };
      }
      next.set(id, live);
      attached.push(live);
    }
    if (this.#tables === undefined) {
      this.#tables = TableSet.open(this.#handle.catalogDir, defaultBlockCache, message.levels);
    } else {
      this.#tables.sync(message.levels);
    }
    for (const live of attached) live.inViews++;
    const old = this.#memtables;
    this.#memtables = next;
    if (previous !== undefined) {
      for (const live of previous.attached) live.inViews--;
    }
    for (const [id, live] of old) {
      if (next.has(id)) continue;
      live.gone = true;
      this.#closeIfUnused(live);
    }
    this.#version = message.version;
    this.#current = {
      version: message.version,
      attached,
      memtables: attached,
      levels: this.#tables.levels,
      seq: message.seqFloor,
    };
  }

  #closeIfUnused(live: AttachedMemtable): void {
    if (!live.gone || live.inViews > 0 || live.dropped) return;
    live.dropped = true;
    live.memtable.close();
  }

  #blobs(): BlobReader {
    return { read: (encodedRef: Uint8Array) => this.#readBlob(encodedRef) };
  }

  #readBlob(encodedRef: Uint8Array): Uint8Array {
    const ref = decodeBlobRef(encodedRef, 'a stored blob reference');
    let reader = this.#blobReaders.get(ref.fileNumber);
    if (reader === undefined) {
      const path = join(this.#handle.catalogDir, blobFileName(ref.fileNumber));
      reader = BlobFileReader.open(path, ref.fileNumber);
      this.#blobReaders.set(ref.fileNumber, reader);
    }
    return reader.read(ref);
  }

  #freeSnapshotWord(): number {
    const base = this.#handle.slot * SNAPSHOTS_PER_SLOT;
    const used = new Set(this.#snapshots.values());
    for (let index = base; index < base + SNAPSHOTS_PER_SLOT; index++) {
      if (!used.has(index)) return index;
    }
    throw new StrataError(
      'ERR_BUSY',
      `an attached thread holds at most ${SNAPSHOTS_PER_SLOT} snapshots at once; release some first`,
    );
  }
}

function closedError(dir: string): StrataError {
  return new StrataError('ERR_CLOSED', `database ${dir} is closed`);
}
