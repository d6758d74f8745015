/**
 * Worker entry of a stress thread (src/stress/stress-thread.ts), started by `strata stress`
 * (src/stress/stress-run.ts) from dist/workers/stress-worker.js with its ThreadInit as workerData.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runStressThread, type ThreadInit } from '../src/stress/stress-thread.js';

const port = parentPort;
if (port === null) throw new Error('stress-worker runs as a worker thread');
await runStressThread(workerData as ThreadInit, port);
