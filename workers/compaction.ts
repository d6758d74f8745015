// Piscina task entry of a compaction (compiled to dist/workers/compaction.js; the pool takes
// `compactionWorkerUrl()`). Thin: the job lives in src/lsm/compaction-job.ts.
import {
  type CompactionResult,
  type CompactionTask,
  compactTables,
} from '../src/lsm/compaction-job.js';

export default function compaction(task: CompactionTask): CompactionResult {
  return compactTables(task);
}
