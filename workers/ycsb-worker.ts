// Worker entry of the parallel YCSB driver (compiled to dist/workers/ycsb-worker.js). Thin: the
// loop lives in src/ycsb/worker-loop.ts.
import { runYcsbWorker } from '../src/ycsb/worker-loop.js';

runYcsbWorker();
