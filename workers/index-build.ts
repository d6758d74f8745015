// Piscina task entry of an index build (compiled to dist/workers/index-build.js; the pool takes
// `indexBuildWorkerUrl()`). Thin: the job lives in src/fields/index-build-job.ts. A StrataError
// leaves with its code in the message; the caller revives it with reviveWorkerError.
import { errorForTransfer } from '../src/blob/worker-error.js';
import {
  buildIndex,
  type IndexBuildResult,
  type IndexBuildTask,
} from '../src/fields/index-build-job.js';

export default function indexBuild(task: IndexBuildTask): IndexBuildResult {
  try {
    return buildIndex(task);
  } catch (error) {
    throw errorForTransfer(error);
  }
}
