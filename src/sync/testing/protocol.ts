/**
 * What the sync tests and their worker entry files (compiled to dist/src/sync/testing/) agree on:
 * the control words every test buffer starts with, and each worker's input and result shapes.
 * Test support only; nothing in Strata imports it.
 */

/** Int32 word offsets in the control array that every test worker receives. */
export const CONTROL_GO = 0; // set to 1 by the main thread once every worker said it is ready
export const CONTROL_HELD = 1; // hold-worker: 1 while it holds its lock
export const CONTROL_RELEASE = 2; // hold-worker: the main thread sets 1 to make it release
export const CONTROL_INSIDE = 3; // threads inside an exclusive section right now
export const CONTROL_READERS_INSIDE = 4; // rwlock readers inside right now
export const CONTROL_WRITERS_DONE = 5; // writer workers that finished all iterations
export const CONTROL_WORDS = 8;

export interface WorkerInput {
  control: Int32Array;
  /** The worker's `setWaitLimitMs`: a deadlock becomes an ERR_BUSY failure, not a hang. */
  waitLimitMs: number;
}

export interface MutexWorkerInput extends WorkerInput {
  words: Int32Array;
  lockIndex: number;
  counterIndex: number;
  iterations: number;
  /** False runs the same read-modify-write without the lock, to show that the test can fail. */
  useLock: boolean;
}

export interface ExclusionResult {
  /** Times a thread entered its exclusive section while another was inside. */
  violations: number;
}

/** Writers keep `recordWords` words equal; readers check they never accept a torn record. */
export interface SeqWorkerInput extends WorkerInput {
  role: 'writer' | 'reader';
  /** 'seqlock' writers are serialised by the mutex at `mutexIndex`; seq-mutex needs none. */
  flavor: 'seq-mutex' | 'seqlock';
  words: Int32Array;
  lockIndex: number;
  mutexIndex: number;
  counterIndex: number;
  recordIndex: number;
  recordWords: number;
  iterations: number;
  writerCount: number;
  /** Every `slowEvery`-th write section lasts long enough to push readers into sleeping. */
  slowEvery: number;
}

export interface SeqReaderResult {
  accepted: number;
  retries: number;
  /** Torn records that validation accepted: must stay zero. */
  tornAccepted: number;
  /** Torn records that validation rejected: shows tearing happened and was caught. */
  tornRejected: number;
  /** Accepted records older than one accepted before: must stay zero. */
  wentBack: number;
}

export interface RwWorkerInput extends WorkerInput {
  role: 'writer' | 'reader';
  words: Int32Array;
  lockIndex: number;
  counterIndex: number;
  writersInsideIndex: number;
  iterations: number;
  writerCount: number;
}

export interface RwWorkerResult extends ExclusionResult {
  operations: number;
  readersInsideMax: number;
}

export type HoldKind = 'mutex' | 'seq-mutex' | 'seqlock' | 'rw-read' | 'rw-write';

/**
 * 'hold' takes the lock, sets CONTROL_HELD and keeps it until CONTROL_RELEASE. 'acquire' waits
 * for the lock like any worker (spinning, then sleeping), then releases it at once; for the
 * seqlock it runs one `seqReadBegin`.
 */
export interface HoldWorkerInput extends WorkerInput {
  kind: HoldKind;
  action: 'hold' | 'acquire';
  words: Int32Array;
  index: number;
}

export interface HoldWorkerResult {
  /** The lock word right after acquiring (for the seqlock: the value seqReadBegin returned). */
  word: number;
}

/** Lock words and counters of the random-mix test; see mix-worker.ts. */
export const MIX_MUTEXES = 3;
export const MIX_RWLOCKS = 2;
export const MIX_SEQ_MUTEXES = 4;
export const MIX_MUTEX_BASE = 0;
export const MIX_RW_BASE = MIX_MUTEX_BASE + MIX_MUTEXES;
export const MIX_SEQ_BASE = MIX_RW_BASE + MIX_RWLOCKS;
export const MIX_MUTEX_COUNTER_BASE = 16;
export const MIX_RW_COUNTER_BASE = MIX_MUTEX_COUNTER_BASE + MIX_MUTEXES;
/** Seq-mutex k guards two words at MIX_SEQ_RECORD_BASE + 2k that must always be equal. */
export const MIX_SEQ_RECORD_BASE = 32;
export const MIX_WORDS = 64;

export interface MixWorkerInput extends WorkerInput {
  words: Int32Array;
  seed: number;
  operations: number;
}

export interface MixWorkerResult {
  mutexWrites: number[];
  rwWrites: number[];
  seqWrites: number[];
  tornAccepted: number;
  violations: number;
}
