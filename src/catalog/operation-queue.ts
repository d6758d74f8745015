/**
 * The catalog's single executor: a FIFO of tasks run one at a time, each to completion, in the
 * order they were enqueued. Operations, file deletions and automatic checkpoints all pass
 * through it, so nothing the catalog persists ever interleaves.
 *
 * Thread model: main thread only. Tasks are async; "one at a time" means the next task starts
 * after the previous one's promise settled, not that the event loop is blocked meanwhile.
 */
import { assert } from '../assert.js';

/**
 * Pushed operations beyond this are refused with ERR_BUSY (metadata operations are rare, so a
 * longer queue means a runaway). Internal tasks (deletions, checkpoints: at most two per
 * operation) may exceed it up to the hard bound, which is asserted.
 */
export const QUEUE_LENGTH_MAX = 10_000;
const QUEUE_LENGTH_HARD_MAX = 4 * QUEUE_LENGTH_MAX;

export interface QueuedTask {
  /** For assertion messages. */
  readonly name: string;
  /** Must not reject: a task reports its own outcome. */
  run(): Promise<void>;
}

export class OperationQueue {
  private readonly tasks: QueuedTask[] = [];
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  get length(): number {
    return this.tasks.length;
  }

  get full(): boolean {
    return this.tasks.length >= QUEUE_LENGTH_MAX;
  }

  get idle(): boolean {
    return !this.draining && this.tasks.length === 0;
  }

  /** Requires: the caller checked `full` for operations it accepts from outside. */
  enqueue(task: QueuedTask): void {
    assert(this.tasks.length < QUEUE_LENGTH_HARD_MAX, 'catalog queue over its hard bound');
    this.tasks.push(task);
    if (!this.draining) void this.drain();
  }

  /** Resolves once the queue is empty and no task runs. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    assert(!this.draining);
    this.draining = true;
    // Start on a later microtask so that push() returns before any task runs, and a batch of
    // pushes from one synchronous block is queued whole before the first one applies.
    await Promise.resolve();
    for (let task = this.tasks.shift(); task !== undefined; task = this.tasks.shift()) {
      try {
        await task.run();
      } catch (error) {
        assert(false, `catalog task ${task.name} rejected: ${String(error)}`);
      }
    }
    this.draining = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
