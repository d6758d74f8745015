// Piscina task entry of a blob GC (compiled to dist/workers/blob-gc.js; the pool takes
// `blobGcWorkerUrl()`). Thin: the job lives in src/blob/blob-gc-job.ts. A StrataError leaves
// with its code in the message; the caller revives it with reviveWorkerError (worker-error.ts).
import { type BlobGcResult, type BlobGcTask, rewriteBlobs } from '../src/blob/blob-gc-job.js';
import { errorForTransfer } from '../src/blob/worker-error.js';

export default function blobGc(task: BlobGcTask): BlobGcResult {
  try {
    return rewriteBlobs(task);
  } catch (error) {
    throw errorForTransfer(error);
  }
}
