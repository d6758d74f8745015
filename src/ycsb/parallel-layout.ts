import type { PmEHashHandle } from '../ehash/pm-ehash.js';
import type { PhaseCounters, PhaseOps } from './phase-loop.js';

/**
 * The parallel driver's control buffer (one SharedArrayBuffer, Int32 words) and the messages
 * that travel once per phase. Operations never travel as messages: each worker's share of a
 * phase sits in SharedArrayBuffers that the phase message only references.
 */

/** Workers add 1 once their phase input is in place; main resets it before posting a phase. */
export const CONTROL_READY = 0;
/** Main stores the phase generation and notifies: the start barrier. Workers wait on it. */
export const CONTROL_START = 1;
/** Workers add 1 after their last operation (or a failure); main resets it before a phase. */
export const CONTROL_DONE = 2;
/** Main stores 1 when a worker died, so workers waiting at the barrier give up. */
export const CONTROL_ABORT = 3;
/** Plus the thread index: ops completed so far, stored by that worker after every chunk. */
export const CONTROL_PROGRESS = 4;

export function controlWordCount(threads: number): number {
  return CONTROL_PROGRESS + threads;
}

/** `workerData` of a YCSB worker. */
export interface WorkerInit {
  readonly handle: PmEHashHandle;
  readonly control: SharedArrayBuffer;
  readonly thread: number;
}

export type MainMessage =
  | {
      readonly type: 'phase';
      readonly generation: number;
      readonly sampleEvery: number;
      /** Typed arrays over SharedArrayBuffers: cloning the message shares, not copies, them. */
      readonly ops: PhaseOps;
    }
  | { readonly type: 'close' };

export type WorkerMessage =
  | { readonly type: 'attached' }
  | {
      readonly type: 'done';
      readonly generation: number;
      readonly counters: PhaseCounters;
      /** The sampled latencies, hdr-histogram compressed base64. */
      readonly histogram: string;
      /** From this worker's wake-up at the barrier to its last operation. */
      readonly elapsedMs: number;
    }
  | { readonly type: 'failed'; readonly message: string; readonly code: string | undefined }
  | { readonly type: 'closed' };
