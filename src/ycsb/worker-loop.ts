import { performance } from 'node:perf_hooks';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { assert } from '../assert.js';
import { isStrataError } from '../errors.js';
import {
  buildRunKeys,
  coreOrderKind,
  emptyCoreCounters,
  runCoreLoad,
  runCoreOps,
} from './core-loop.js';
import { KeyBuilder } from './core-record.js';
import { attachEhashEngine, type EhashEngine } from './engine-ehash.js';
import type { AsyncU64Engine } from './engines.js';
import type { KvEngine } from './kv-engines.js';
import { createLatencyHistogram, recordSamples } from './latency.js';
import { OpOrder, orderPositions, PhaseAborted } from './op-order.js';
import {
  CONTROL_ABORT,
  CONTROL_DONE,
  CONTROL_PROGRESS,
  CONTROL_READY,
  CONTROL_START,
  type EngineAttachment,
  type MainMessage,
  type PartitionOps,
  type PhaseOutcome,
  type PhaseWork,
  type WorkerInit,
  type WorkerMessage,
} from './parallel-layout.js';
import { createSampleBuffer, runAsyncOps, runSyncOps, warmUpReads } from './phase-loop.js';
import { threadTime, threadTimeSpent } from './thread-time.js';
import { Op } from './workload.js';

/** Bounds one wait at the start barrier; the loop re-checks ABORT after each. */
const BARRIER_WAIT_MS = 100;

/** What a worker runs its phases on. */
type WorkerEngine =
  | { readonly engine: 'ehash'; readonly u64: EhashEngine }
  | {
      readonly engine: 'strata';
      readonly u64: AsyncU64Engine;
      readonly kv: KvEngine;
      readonly keys: KeyBuilder;
    };

/**
 * The body of workers/ycsb-worker.ts. Thread model: one worker per thread index, attached to
 * the main thread's engine; in the control buffer it only ever touches its own progress and
 * order words, adds to READY/DONE, and stores ABORT when its phase fails.
 */
export function runYcsbWorker(): void {
  const port = parentPort;
  assert(port !== null, 'the YCSB worker runs in a worker thread');
  const init = workerData as WorkerInit;
  const control = new Int32Array(init.control);
  attach(init.attachment).then(
    (engine) => {
      post(port, { type: 'attached' });
      port.on('message', (message: MainMessage) => {
        if (message.type === 'close') {
          void engine.u64.close().then(
            () => {
              post(port, { type: 'closed' });
              port.close();
            },
            (error: unknown) => post(port, failure(error)),
          );
          return;
        }
        void runPhase(engine, { control, init }, message).then((reply) => post(port, reply));
      });
    },
    (error: unknown) => post(port, failure(error)),
  );
}

async function attach(attachment: EngineAttachment): Promise<WorkerEngine> {
  if (attachment.engine === 'ehash') {
    return { engine: 'ehash', u64: attachEhashEngine(attachment.handle) };
  }
  // Imported here so that ehash workers never load the Strata engine.
  const [{ Strata }, { attachStrataEngine }, { attachStrataKv }] = await Promise.all([
    import('../db/strata.js'),
    import('./engine-strata.js'),
    import('./kv-engine-strata.js'),
  ]);
  const db = await Strata.attach(attachment.handle);
  return {
    engine: 'strata',
    u64: attachStrataEngine(db),
    kv: attachStrataKv(db),
    keys: new KeyBuilder(),
  };
}

interface WorkerContext {
  readonly control: Int32Array;
  readonly init: WorkerInit;
}

/** A phase made ready to run: its input is in place, the loop is one call away. */
interface PreparedPhase {
  readonly order: OpOrder | undefined;
  run(): PhaseOutcome | Promise<PhaseOutcome>;
}

async function runPhase(
  engine: WorkerEngine,
  context: WorkerContext,
  message: Extract<MainMessage, { type: 'phase' }>,
): Promise<WorkerMessage> {
  const { control, init } = context;
  const histogram = createLatencyHistogram();
  const samplesNs = createSampleBuffer(message.work.ops.count, message.sampleEvery);
  // DONE stops the phase clock on the main thread, so it is signalled before the histogram work.
  let doneSignalled = false;
  const signalDone = () => {
    if (doneSignalled) return;
    doneSignalled = true;
    Atomics.add(control, CONTROL_DONE, 1);
    Atomics.notify(control, CONTROL_DONE);
  };
  try {
    const loopOptions = {
      sampleEvery: message.sampleEvery,
      samplesNs,
      onProgress: (done: number) => Atomics.store(control, CONTROL_PROGRESS + init.thread, done),
    };
    const phase = preparePhase(engine, context, message.work, loopOptions);
    phase.order?.publishStart();
    Atomics.add(control, CONTROL_READY, 1);
    Atomics.notify(control, CONTROL_READY);
    waitForStart(control, message.generation);
    const startedTime = threadTime();
    const startedMs = performance.now();
    const running = phase.run();
    const outcome = running instanceof Promise ? await running : running;
    const elapsedMs = performance.now() - startedMs;
    signalDone();
    const scheduler = threadTimeSpent(startedTime, threadTime());
    recordSamples(histogram, samplesNs);
    return {
      type: 'done',
      generation: message.generation,
      outcome,
      histogram: encodeIntoCompressedBase64(histogram),
      elapsedMs,
      orderWaitMs: phase.order?.waitedMs ?? 0,
      scheduler,
    };
  } catch (error) {
    // Threads waiting for this one's order words (or at the barrier) must give up too.
    if (!(error instanceof PhaseAborted)) Atomics.store(control, CONTROL_ABORT, 1);
    return failure(error);
  } finally {
    signalDone();
    histogram.destroy();
  }
}

/** Untimed set-up of one phase (warm-up, keys, order), then its loop as a closure. */
function preparePhase(
  engine: WorkerEngine,
  context: WorkerContext,
  work: PhaseWork,
  loopOptions: {
    readonly sampleEvery: number;
    readonly samplesNs: Float64Array;
    readonly onProgress: (done: number) => void;
  },
): PreparedPhase {
  if (engine.engine === 'ehash') {
    assert(work.kind === 'u64' && !work.ordered, 'ehash runs the course files, without scans');
    const ops = work.ops;
    warmUpReads(engine.u64, ops);
    return {
      order: undefined,
      run: () => ({ kind: 'u64', counters: runSyncOps(engine.u64, ops, loopOptions) }),
    };
  }
  switch (work.kind) {
    case 'u64': {
      const order = work.ordered ? u64Order(context, work.ops) : undefined;
      return {
        order,
        run: async () => ({
          kind: 'u64',
          counters: await runAsyncOps(engine.u64, work.ops, loopOptions, order),
        }),
      };
    }
    case 'core-load':
      return {
        order: undefined,
        run: async () => {
          await runCoreLoad(engine.kv, engine.keys, work.ops, loopOptions);
          return { kind: 'core', counters: emptyCoreCounters() };
        },
      };
    case 'core-run': {
      const ops = work.ops;
      buildRunKeys(engine.keys, ops);
      const opIndices = ops.opIndices;
      assert(opIndices !== undefined, 'a partition keeps its ops’ phase indices');
      const order = work.ordered
        ? newOrder(
            context,
            orderPositions(
              ops.count,
              (position) => coreOrderKind(ops.kinds[position]!),
              (position) => opIndices[position]!,
            ),
          )
        : undefined;
      const options = order === undefined ? loopOptions : { ...loopOptions, order };
      return {
        order,
        run: async () => ({
          kind: 'core',
          counters: await runCoreOps(engine.kv, engine.keys, ops, options),
        }),
      };
    }
  }
}

function u64Order(context: WorkerContext, ops: PartitionOps): OpOrder {
  const opIndices = ops.opIndices;
  assert(opIndices !== undefined, 'an ordered partition keeps its ops’ indices');
  return newOrder(
    context,
    orderPositions(
      ops.count,
      (position) => {
        const op = ops.ops[position];
        if (op === Op.scan) return 'scan';
        return op === Op.read ? 'other' : 'write';
      },
      (position) => opIndices[position]!,
    ),
  );
}

function newOrder(
  context: WorkerContext,
  positions: { readonly writes: Uint32Array; readonly scans: Uint32Array },
): OpOrder {
  const place = { threads: context.init.threads, thread: context.init.thread };
  return new OpOrder(context.control, place, positions.writes, positions.scans);
}

/** Waits at the start barrier until main stores this phase's generation (or aborts). */
function waitForStart(control: Int32Array, generation: number): void {
  for (;;) {
    const current = Atomics.load(control, CONTROL_START);
    if (current === generation) return;
    if (Atomics.load(control, CONTROL_ABORT) !== 0) throw new PhaseAborted();
    Atomics.wait(control, CONTROL_START, current, BARRIER_WAIT_MS);
  }
}

function failure(error: unknown): WorkerMessage {
  return {
    type: 'failed',
    message: error instanceof Error ? error.message : String(error),
    code: isStrataError(error) ? error.code : undefined,
    aborted: error instanceof PhaseAborted,
  };
}

function post(port: MessagePort, message: WorkerMessage): void {
  port.postMessage(message);
}
