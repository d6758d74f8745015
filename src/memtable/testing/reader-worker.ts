/**
 * Worker entry for the thread tests (runs from dist/). A reader attaches the memtable and, until
 * told to stop, checks that every snapshot shows each batch wholly or not at all: all keys of
 * the table carry the same batch number, by get and by scan. A writer applies batches through
 * its attached handle.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KIND_VALUE } from '../../sst/internal-key.js';
import { Memtable, type MemtableHandle } from '../memtable.js';

export interface ThreadTask {
  readonly handle: MemtableHandle;
  readonly role: 'reader' | 'writer';
  readonly keyCount: number;
  /** Writer: batch numbers [firstBatch, firstBatch + batchCount). Seq of key k: batch*keys+k+1. */
  readonly firstBatch: number;
  readonly batchCount: number;
  readonly stop: SharedArrayBuffer;
  /** Readers only: which progress word (1 + readerIndex) of `stop` counts this one's checks. */
  readonly readerIndex?: number;
}

export interface ThreadResult {
  readonly checks: number;
  readonly failures: string[];
  readonly batchesSeen: number;
}

export function batchKey(index: number): Uint8Array {
  return Uint8Array.of(0, index, 0);
}

/** One batch: every key gets the batch number as its value. */
export function batchRecords(batch: number, keyCount: number) {
  return Array.from({ length: keyCount }, (_, index) => ({
    kind: KIND_VALUE,
    userKey: batchKey(index),
    value: Uint8Array.of(batch & 0xff, (batch >>> 8) & 0xff, (batch >>> 16) & 0xff),
    seq: batch * keyCount + index + 1,
  }));
}

function batchOf(value: Uint8Array): number {
  return value[0]! | (value[1]! << 8) | (value[2]! << 16);
}

function runReader(memtable: Memtable, task: ThreadTask): ThreadResult {
  const stop = new Int32Array(task.stop);
  const failures: string[] = [];
  const seen = new Set<number>();
  let checks = 0;
  while (Atomics.load(stop, 0) === 0 && failures.length < 5) {
    const snapshot = memtable.visibleSeq;
    const byGet = new Set<number>();
    for (let index = 0; index < task.keyCount; index++) {
      const entry = memtable.get(batchKey(index), snapshot);
      byGet.add(entry === undefined ? -1 : batchOf(entry.value));
    }
    const byScan = new Set<number>();
    let scanned = 0;
    for (const entry of memtable.entries(snapshot)) {
      byScan.add(batchOf(entry.value));
      scanned++;
    }
    if (scanned !== 0 && scanned !== task.keyCount) failures.push(`scan saw ${scanned} keys`);
    if (byGet.size !== 1) failures.push(`get saw batches ${[...byGet].join(',')}`);
    if (byScan.size > 1) failures.push(`scan saw batches ${[...byScan].join(',')}`);
    for (const batch of byGet) seen.add(batch);
    checks++;
    // Word 1 + readerIndex counts this reader's checks: the writer goes on until all have read.
    const progressWord = 1 + (task.readerIndex ?? 0);
    if (stop.length > progressWord) Atomics.add(stop, progressWord, 1);
  }
  return { checks, failures, batchesSeen: seen.size };
}

function runWriter(memtable: Memtable, task: ThreadTask): ThreadResult {
  for (let batch = task.firstBatch; batch < task.firstBatch + task.batchCount; batch++) {
    memtable.applyBatch(batchRecords(batch, task.keyCount));
  }
  return { checks: task.batchCount, failures: [], batchesSeen: task.batchCount };
}

if (parentPort !== null && workerData !== null && workerData !== undefined) {
  const task = workerData as ThreadTask;
  const memtable = Memtable.attach(task.handle);
  try {
    const result = task.role === 'reader' ? runReader(memtable, task) : runWriter(memtable, task);
    parentPort.postMessage(result);
  } finally {
    memtable.close();
  }
}
