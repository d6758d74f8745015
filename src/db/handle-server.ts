/**
 * The coordinator's side of attached handles (`db.handle()`): the shared control block
 * (handle-layout.ts), one slot per attached thread, the views posted to them, and the requests
 * they send (comlink) for everything that is not a point read or a scan: writes, appends, index
 * tasks, flushes, stats.
 *
 * What a view holds stays valid while a thread may read it: each published view pins a catalog
 * snapshot (so its tables and blob files are not deleted), released once a newer view exists and
 * no slot reads that one or an older one; a memtable that left the views is dropped only once no
 * slot reads a view that had it (`pastVersion`). A thread that exits, or whose port closes,
 * frees its slot. Closing the store sets `closed`, which attached calls check first
 * (ERR_CLOSED), and closes the ports, which fails their requests in flight.
 *
 * Thread model: main thread (the coordinator). The control block is written with Atomics.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Catalog } from '../catalog/catalog.js';
import type { CatalogSnapshot } from '../catalog/catalog-snapshot.js';
import { StrataError } from '../errors.js';
import type { Memtable } from '../memtable/memtable.js';
import { Comlink, portEndpoint } from './comlink.js';
import {
  CONTROL_CLOSED,
  CONTROL_DIRECT_WRITES,
  CONTROL_VERSION,
  CONTROL_WORDS,
  SLOT_BASE,
  SLOT_COUNT,
  SLOT_FREE,
  SLOT_IDLE,
  SNAPSHOTS_PER_SLOT,
  type StrataHandle,
  type ViewMessage,
} from './handle-layout.js';

/** How often pinned views are re-checked for release while some are held. */
const RELEASE_POLL_MS = 20;
/** How long close waits for attached threads to leave their reads. */
const CLOSE_WAIT_MS = 2_000;

export interface HandleServerHost {
  readonly dir: string;
  readonly catalog: Catalog;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly minBlobSize: number;
  readonly memtableSize: number;
  /** Whether attached threads may write the memtable directly, at first. */
  readonly directWrites: boolean;
  /** The current view, without its version. */
  view(): Omit<ViewMessage, 'type' | 'version'>;
  /** The object comlink exposes to every attached thread. */
  readonly api: object;
  /** Something that waited on the slots may go now (a memtable to drop). */
  slotsMoved(): void;
}

interface Attached {
  readonly slot: number;
  readonly rpc: MessagePort;
  readonly views: MessagePort;
}

export class HandleServer {
  readonly #host: HandleServerHost;
  readonly #control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  readonly #snapshots = new BigInt64Array(
    new SharedArrayBuffer(SLOT_COUNT * SNAPSHOTS_PER_SLOT * 8),
  );
  readonly #attached = new Map<number, Attached>();
  /** Published versions still pinned, oldest first. */
  #pins: { version: number; snapshot: CatalogSnapshot }[] = [];
  #version = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(host: HandleServerHost) {
    this.#host = host;
    Atomics.store(this.#control, CONTROL_DIRECT_WRITES, host.directWrites ? 1 : 0);
  }

  /**
   * Allows or stops attached threads' direct memtable writes. Stopping takes the mutable
   * memtable's write mutex, under which they check the flag: once this returns, none writes.
   */
  setDirectWrites(allowed: boolean, mutable: () => Memtable): void {
    if (allowed) {
      Atomics.store(this.#control, CONTROL_DIRECT_WRITES, 1);
      return;
    }
    if (Atomics.load(this.#control, CONTROL_DIRECT_WRITES) === 0) return;
    const memtable = mutable();
    memtable.lock();
    try {
      Atomics.store(this.#control, CONTROL_DIRECT_WRITES, 0);
    } finally {
      memtable.unlock();
    }
  }

  get version(): number {
    return this.#version;
  }

  get attachedCount(): number {
    return this.#attached.size;
  }

  /** A new handle for one thread. ERR_BUSY when every slot is taken. */
  createHandle(): StrataHandle {
    if (this.#version === 0) this.publish();
    let slot = -1;
    for (let index = 0; index < SLOT_COUNT; index++) {
      const word = SLOT_BASE + index;
      if (Atomics.compareExchange(this.#control, word, SLOT_FREE, SLOT_IDLE) === SLOT_FREE) {
        slot = index;
        break;
      }
    }
    if (slot < 0) {
      throw new StrataError('ERR_BUSY', `a store takes at most ${SLOT_COUNT} attached handles`);
    }
    const rpcChannel = new MessageChannel();
    const viewChannel = new MessageChannel();
    const attached: Attached = { slot, rpc: rpcChannel.port1, views: viewChannel.port1 };
    this.#attached.set(slot, attached);
    Comlink.expose(this.#host.api, portEndpoint(rpcChannel.port1));
    // The thread's end closes when it exits or crashes: its slot is free again.
    rpcChannel.port1.once('close', () => this.#release(attached));
    // Nothing but the attached thread's exit keeps the coordinator's process alive here.
    rpcChannel.port1.unref();
    viewChannel.port1.unref();
    viewChannel.port1.postMessage(this.#message());
    return {
      dir: this.#host.dir,
      catalogDir: this.#host.catalog.dir,
      slot,
      control: this.#control.buffer as SharedArrayBuffer,
      snapshots: this.#snapshots.buffer as SharedArrayBuffer,
      maxKeyBytes: this.#host.maxKeyBytes,
      maxValueBytes: this.#host.maxValueBytes,
      minBlobSize: this.#host.minBlobSize,
      memtableSize: this.#host.memtableSize,
      rpcPort: rpcChannel.port2,
      viewPort: viewChannel.port2,
      transferList: [rpcChannel.port2, viewChannel.port2],
    };
  }

  /**
   * Posts the current view to every attached thread, then raises the version (readers that
   * see the new version find its message already queued). Pins the catalog for it.
   */
  publish(): void {
    this.#version++;
    this.#pins.push({ version: this.#version, snapshot: this.#host.catalog.getSnapshot() });
    const message = this.#message();
    for (const attached of this.#attached.values()) attached.views.postMessage(message);
    Atomics.store(this.#control, CONTROL_VERSION, this.#version);
    this.#releasePins();
  }

  /** Whether no attached thread reads a view older than `version`. */
  pastVersion(version: number): boolean {
    return this.#oldestRead() >= version;
  }

  /** The seqs of every attached thread's snapshots (compactions keep what they see). */
  snapshotSeqs(): number[] {
    const seqs: number[] = [];
    for (const attached of this.#attached.values()) {
      const base = attached.slot * SNAPSHOTS_PER_SLOT;
      for (let index = 0; index < SNAPSHOTS_PER_SLOT; index++) {
        const seq = Atomics.load(this.#snapshots, base + index);
        if (seq !== 0n) seqs.push(Number(seq));
      }
    }
    return seqs;
  }

  /**
   * Attached calls fail with ERR_CLOSED from now on; resolves once no attached thread is inside
   * a read (or after a bound, for a thread that keeps an iterator open and never steps it).
   */
  async markClosed(): Promise<void> {
    Atomics.store(this.#control, CONTROL_CLOSED, 1);
    const deadline = performance.now() + CLOSE_WAIT_MS;
    while (this.#oldestRead() !== Number.POSITIVE_INFINITY && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Ports close (requests in flight fail with ERR_CLOSED), pins go. */
  close(): void {
    Atomics.store(this.#control, CONTROL_CLOSED, 1);
    for (const attached of [...this.#attached.values()]) {
      attached.rpc.close();
      attached.views.close();
      this.#release(attached);
    }
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const pin of this.#pins) pin.snapshot.release();
    this.#pins = [];
  }

  #message(): ViewMessage {
    return { type: 'view', version: this.#version, ...this.#host.view() };
  }

  /** The oldest version any slot reads; Infinity when none reads. */
  #oldestRead(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const attached of this.#attached.values()) {
      const state = Atomics.load(this.#control, SLOT_BASE + attached.slot);
      if (state > 0 && state < oldest) oldest = state;
    }
    return oldest;
  }

  #releasePins(): void {
    const oldest = Math.min(this.#oldestRead(), this.#version);
    while (this.#pins.length > 1 && this.#pins[0]!.version < oldest) {
      this.#pins.shift()!.snapshot.release();
    }
    if (this.#pins.length > 1 && this.#timer === undefined) {
      this.#timer = setInterval(() => {
        this.#releasePins();
        this.#host.slotsMoved();
      }, RELEASE_POLL_MS);
      this.#timer.unref();
    } else if (this.#pins.length <= 1 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #release(attached: Attached): void {
    if (this.#attached.get(attached.slot) !== attached) return;
    this.#attached.delete(attached.slot);
    const base = attached.slot * SNAPSHOTS_PER_SLOT;
    for (let index = 0; index < SNAPSHOTS_PER_SLOT; index++) {
      Atomics.store(this.#snapshots, base + index, 0n);
    }
    Atomics.store(this.#control, SLOT_BASE + attached.slot, SLOT_FREE);
    this.#releasePins();
    this.#host.slotsMoved();
  }
}
