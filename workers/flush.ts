// Piscina task entry of the memtable flush (compiled to dist/workers/flush.js; the pool takes
// `flushWorkerUrl()`). Thin: the job lives in src/lsm/flush-job.ts.
import { type FlushResult, type FlushTask, flushMemtable } from '../src/lsm/flush-job.js';

export default function flush(task: FlushTask): FlushResult {
  return flushMemtable(task);
}
