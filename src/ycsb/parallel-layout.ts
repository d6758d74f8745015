import type { StrataHandle } from '../db/handle-layout.js';
import type { PmEHashHandle } from '../ehash/pm-ehash.js';
import type { CoreCounters, CoreLoadOps, CoreRunOps } from './core-loop.js';
import type { PhaseCounters, PhaseOps } from './phase-loop.js';

/**
 * The parallel driver's control buffer (one SharedArrayBuffer, Int32 words) and the messages
 * that travel once per phase. Operations never travel as messages: each worker's share of a
 * phase sits in SharedArrayBuffers that the phase message only references.
 *
 *   +-------+-------+------+-------+----------------+------------------+-----------------+
 *   | READY | START | DONE | ABORT | PROGRESS × N   | NEXT_WRITE × N   | NEXT_SCAN × N   |
 *   +-------+-------+------+-------+----------------+------------------+-----------------+
 *   N = threads; word of thread t in an array = array base + t.
 */

/** Workers add 1 once their phase input is in place; main resets it before posting a phase. */
export const CONTROL_READY = 0;
/** Main stores the phase generation and notifies: the start barrier. Workers wait on it. */
export const CONTROL_START = 1;
/** Workers add 1 after their last operation (or a failure); main resets it before a phase. */
export const CONTROL_DONE = 2;
/**
 * Stored 1 when the phase cannot finish: by main when a worker died, by a worker whose phase
 * failed. Workers waiting at the barrier or on another thread's order words give up.
 */
export const CONTROL_ABORT = 3;
/** Plus the thread index: ops completed so far, stored by that worker after every chunk. */
export const CONTROL_PROGRESS = 4;

/**
 * Order words (op-order.ts), only for phases with both scans and writes: the phase op index of
 * the thread's first write (NEXT_WRITE) or scan (NEXT_SCAN) that has not completed yet,
 * ORDER_NONE when none is left. Stored by their own worker only (before READY, then after each
 * write or scan), read by the others. Op indices of such phases stay below ORDER_NONE.
 */
export const ORDER_NONE = 0x7fffffff;

export function nextWriteWord(threads: number, thread: number): number {
  return CONTROL_PROGRESS + threads + thread;
}

export function nextScanWord(threads: number, thread: number): number {
  return CONTROL_PROGRESS + 2 * threads + thread;
}

export function controlWordCount(threads: number): number {
  return CONTROL_PROGRESS + 3 * threads;
}

/**
 * What a worker attaches to: the ehash table (the same handle for every thread) or a Strata
 * store (one `db.handle()` per thread; its ports travel in the transfer list).
 */
export type EngineAttachment =
  | { readonly engine: 'ehash'; readonly handle: PmEHashHandle }
  | { readonly engine: 'strata'; readonly handle: StrataHandle };

/** An engine the parallel driver can run on: it hands out one attachment per worker. */
export interface AttachableEngine {
  attachment(): EngineAttachment;
}

/** `workerData` of a YCSB worker. */
export interface WorkerInit {
  readonly attachment: EngineAttachment;
  readonly control: SharedArrayBuffer;
  readonly thread: number;
  readonly threads: number;
}

/**
 * One thread's share of a phase; the kind picks the loop (course u64 ops or YCSB core ops).
 * `ordered`: the phase has scans and writes, so the thread keeps to OpOrder (op-order.ts).
 */
export type PhaseWork =
  | { readonly kind: 'u64'; readonly ops: PartitionOps; readonly ordered: boolean }
  | { readonly kind: 'core-load'; readonly ops: CoreLoadOps }
  | { readonly kind: 'core-run'; readonly ops: CoreRunOps; readonly ordered: boolean };

/** A thread's u64 operations; `opIndices` (phase op index of each) only for ordered phases. */
export interface PartitionOps extends PhaseOps {
  readonly opIndices: Uint32Array | undefined;
}

export type PhaseOutcome =
  | { readonly kind: 'u64'; readonly counters: PhaseCounters }
  | { readonly kind: 'core'; readonly counters: CoreCounters };

export type MainMessage =
  | {
      readonly type: 'phase';
      readonly generation: number;
      readonly sampleEvery: number;
      /** Typed arrays over SharedArrayBuffers: cloning the message shares, not copies, them. */
      readonly work: PhaseWork;
    }
  | { readonly type: 'close' };

export interface DoneMessage {
  readonly type: 'done';
  readonly generation: number;
  readonly outcome: PhaseOutcome;
  /** The sampled latencies, hdr-histogram compressed base64. */
  readonly histogram: string;
  /** From this worker's wake-up at the barrier to its last operation. */
  readonly elapsedMs: number;
  /** Time spent waiting for other threads' earlier writes or scans (ordered phases). */
  readonly orderWaitMs: number;
  /** This thread's time on a CPU and waiting for one over the phase (thread-time.ts; Linux). */
  readonly scheduler: { readonly cpuMs: number; readonly runQueueMs: number } | undefined;
}

export type WorkerMessage =
  | { readonly type: 'attached' }
  | DoneMessage
  | {
      readonly type: 'failed';
      readonly message: string;
      readonly code: string | undefined;
      /** The worker gave up because another thread failed (ABORT), not on its own error. */
      readonly aborted: boolean;
    }
  | { readonly type: 'closed' };
