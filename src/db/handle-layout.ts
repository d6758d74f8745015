/**
 * The shared control block between a Strata coordinator and the threads attached to it
 * (`db.handle()` / `Strata.attach`), and the messages they exchange. Volatile: nothing here is
 * persisted.
 *
 *   control (Int32Array over a SharedArrayBuffer)
 *   +--------+---------+----------+----------+-------------------------------+
 *   | closed | version | direct   | (unused) | slot 0 | slot 1 | … slot 63    |
 *   +--------+---------+----------+----------+-------------------------------+
 *   slot: 0 free, -1 claimed and reading nothing, v > 0 reading the view of version v
 *
 *   snapshots (BigInt64Array): 64 slots × 32 words, the seqs of the snapshots each thread holds
 *   (0 = empty); compactions keep the versions they see, as for the coordinator's own snapshots.
 *
 * Epoch protocol: the coordinator posts view v to every attached thread's view port, then stores
 * v in `version`; it frees what view u held (memtable pages, table files) only once every slot
 * is free, -1 or above u. A thread stores the version it is about to read in its slot, then
 * re-reads `version`: if it moved meanwhile it starts over, so the coordinator, which scans the
 * slots after storing a new version, always sees a reader of an older view.
 */
import type { MessagePort } from 'node:worker_threads';
import type { FileMeta } from '../catalog/catalog-state.js';
import type { MemtableHandle } from '../memtable/memtable.js';

export const CONTROL_CLOSED = 0;
export const CONTROL_VERSION = 1;
/** 1 while attached threads may write the mutable memtable themselves (no index, no sync). */
export const CONTROL_DIRECT_WRITES = 2;
export const SLOT_BASE = 4;
export const SLOT_COUNT = 64;
export const SLOT_FREE = 0;
export const SLOT_IDLE = -1;
export const SNAPSHOTS_PER_SLOT = 32;

export const CONTROL_WORDS = SLOT_BASE + SLOT_COUNT;

/** What an attached thread reads: posted to it whenever memtables or tables change. */
export interface ViewMessage {
  readonly type: 'view';
  readonly version: number;
  /** Newest first: the mutable memtable, then the frozen ones. */
  readonly memtables: readonly { readonly id: number; readonly handle: MemtableHandle }[];
  readonly levels: readonly (readonly FileMeta[])[];
  readonly seqFloor: number;
}

/** Structured-clone safe; the ports must be in the transfer list (`handle.transferList`). */
export interface StrataHandle {
  readonly dir: string;
  /** The catalog folder: tables and blob files. */
  readonly catalogDir: string;
  readonly slot: number;
  readonly control: SharedArrayBuffer;
  readonly snapshots: SharedArrayBuffer;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Values this large go to the coordinator (blob files); smaller ones may be written here. */
  readonly minBlobSize: number;
  /** A mutable memtable this full takes no direct writes (the coordinator freezes it). */
  readonly memtableSize: number;
  /** Requests to the coordinator (comlink). */
  readonly rpcPort: MessagePort;
  /** Views from the coordinator, read synchronously (receiveMessageOnPort). */
  readonly viewPort: MessagePort;
  /** Pass as the transfer list when posting the handle: `[rpcPort, viewPort]`. */
  readonly transferList: readonly [MessagePort, MessagePort];
}
