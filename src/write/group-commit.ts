/**
 * Group commit, after Apache Traffic Server's aggregation buffer: writers that arrive while a
 * group is open queue their (already copied) batches; when the group closes, the committer
 * assigns seqs in arrival order, hands the whole group to the target in one `applyBatch` (one
 * arena copy, one persist, one 8-byte commit mark in the memtable), calls the sync hook once if
 * any writer asked for durability, and settles every writer of the group together.
 *
 * When a group closes: a group opens with its first writer and closes in a `setImmediate`
 * callback, not a microtask. A microtask would run after each I/O callback, so writers woken by
 * different sockets or files in one poll phase would each get a group of one; `setImmediate` runs
 * once after the whole poll phase and gathers them all. The price is that a lone writer waits for
 * the rest of the current loop turn, which is far below one fdatasync (~190 µs here).
 *
 * A group larger than `maxGroupBytes` is cut into several `applyBatch` calls, only between two
 * callers' batches: a caller's batch always lands in one call, so it is atomic and becomes
 * visible at once. An `applyBatch` that throws rejects exactly the writers of that call; the
 * memtable rolled it back, so later calls and groups reuse its seqs and carry on.
 *
 * Thread model: main thread only. Every method runs on the event loop that created the committer,
 * and the target is applied from that thread (the memtable takes its own write mutex). Issue 7
 * will let worker threads submit writes; until then nothing here is shared.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { MemtableRecord } from '../memtable/memtable.js';
import type { Seq } from '../sst/internal-key.js';
import { AggregationBuffer } from './aggregation-buffer.js';
import {
  type EncodedOp,
  encodeOps,
  opSizeBytes,
  readSyncOption,
  type WriteOp,
  type WriteOptions,
} from './write-op.js';

export type { WriteOp, WriteOptions } from './write-op.js';

/** What a group is applied to; a `Memtable` is one. */
export interface GroupCommitTarget {
  /** Applies the records atomically and publishes them (raises `visibleSeq`) before returning. */
  applyBatch(records: readonly MemtableRecord[]): void;
  /** The seq of the last applied batch; the committer numbers the next batch after it. */
  readonly visibleSeq: Seq;
  /**
   * Held around numbering and applying each call, when other threads may also write to the
   * target (attached threads writing the memtable directly): their batches then sit wholly
   * before or after, and `visibleSeq` cannot move in between.
   */
  lockForApply?(): void;
  unlockAfterApply?(): void;
}

export interface GroupCommitOptions {
  /** A group above this size (keys + values + 32 bytes per op) is applied in several calls. */
  readonly maxGroupBytes?: number;
  /**
   * Called once per group in which some applied writer asked for `sync: true` (the engine passes
   * msync/fdatasync). Without it `sync: true` asks for nothing beyond `applyBatch`'s own persist.
   */
  readonly sync?: () => void;
  /**
   * Key-value separation: called with each `applyBatch`'s records before they are applied, and
   * whether a writer among them asked for `sync`. It may replace records (a large value by a
   * blob reference it has just written to a blob file, durably first when `sync`). A StrataError
   * it throws rejects exactly the writers of that call, like a failed `applyBatch`.
   */
  readonly separate?: (records: PendingRecord[], sync: boolean) => void;
  /**
   * Derived writes (secondary-index entries): called once per `applyBatch` call, in the group's
   * turn, before seqs are assigned; the returned expander (undefined: nothing to derive) sees
   * each writer's ops in apply order and returns them with the ops derived from them appended.
   * Nothing else is applied between its reads of the current state and the apply, so what it
   * derives is consistent with the data; the derived ops commit in the writer's batch, under its
   * commit mark. It must not throw for any user input.
   */
  readonly expand?: () => OpExpander | undefined;
}

/** See GroupCommitOptions.expand. Keeps its own view of the writes earlier in the same call. */
export interface OpExpander {
  add(ops: readonly EncodedOp[]): readonly EncodedOp[];
}

/** A record about to be applied; `blobCapacity` as in WriteOp (the `separate` hook's to honour). */
export type PendingRecord = MemtableRecord & { readonly blobCapacity?: number };

/** The seqs a caller's batch received: consecutive, firstSeq for its first op. */
export interface WriteResult {
  readonly firstSeq: Seq;
  readonly lastSeq: Seq;
}

export interface GroupCommitStats {
  /** Groups closed (each is one or more `applyBatch` calls). */
  readonly groups: number;
  readonly applyBatchCalls: number;
  /** Writes and ops committed; failed ones are in `writesFailed`. */
  readonly writes: number;
  readonly ops: number;
  readonly writesFailed: number;
  readonly largestGroupWrites: number;
  readonly largestGroupOps: number;
  readonly syncCalls: number;
}

export const MAX_GROUP_BYTES_DEFAULT = 1 << 20;

/** See GroupCommitter.writeNow: at most this many writes between two event-loop turns. */
export const IMMEDIATE_WRITES_MAX = 16;

interface PendingWrite {
  readonly ops: readonly EncodedOp[];
  readonly sizeBytes: number;
  readonly sync: boolean;
  readonly select: ((ops: readonly EncodedOp[]) => readonly EncodedOp[]) | undefined;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

/** How one writer of a closing group ended: its seqs, or the error that rejects it. */
type Outcome = { readonly ok: true; readonly result: WriteResult } | Failure;
type Failure = { readonly ok: false; readonly error: unknown };

export class GroupCommitter {
  private readonly target: GroupCommitTarget;
  private readonly maxGroupBytes: number;
  private readonly syncHook: (() => void) | undefined;
  private readonly separateHook: GroupCommitOptions['separate'];
  private readonly expandHook: GroupCommitOptions['expand'];
  /** Writers of the open group, in arrival order. Drained by every `closeGroup`. */
  private pending: PendingWrite[] = [];
  private closeScheduled = false;
  /** writeNow calls since a group last closed (see writeNow). */
  private immediateWrites = 0;
  /** Where writers' bytes are copied while their group is open. */
  private readonly aggregation = new AggregationBuffer();
  private readonly copyIn = (bytes: Uint8Array): Uint8Array => this.aggregation.copy(bytes);
  private counters = {
    groups: 0,
    applyBatchCalls: 0,
    writes: 0,
    ops: 0,
    writesFailed: 0,
    largestGroupWrites: 0,
    largestGroupOps: 0,
    syncCalls: 0,
  };

  constructor(target: GroupCommitTarget, options: GroupCommitOptions = {}) {
    const maxGroupBytes = options.maxGroupBytes ?? MAX_GROUP_BYTES_DEFAULT;
    if (!Number.isSafeInteger(maxGroupBytes) || maxGroupBytes < 1) {
      throw new StrataError('ERR_INVALID_ARGUMENT', 'maxGroupBytes must be an integer >= 1');
    }
    if (options.sync !== undefined && typeof options.sync !== 'function') {
      throw new StrataError('ERR_INVALID_ARGUMENT', 'sync must be a function');
    }
    this.target = target;
    this.maxGroupBytes = maxGroupBytes;
    this.syncHook = options.sync;
    this.separateHook = options.separate;
    this.expandHook = options.expand;
  }

  /**
   * Queues `ops` as one atomic batch in the open group. Resolves once the group is applied (and
   * synced, if `sync`); rejects with ERR_INVALID_ARGUMENT before queueing anything when the input
   * is malformed, or with the StrataError of the failed apply or sync.
   */
  write(ops: readonly WriteOp[], options?: WriteOptions): Promise<WriteResult> {
    let encoded: EncodedOp[];
    let sync: boolean;
    const select = options?.select;
    try {
      encoded = encodeOps(ops, this.copyIn);
      sync = readSyncOption(options);
      if (select !== undefined && typeof select !== 'function') {
        throw new StrataError('ERR_INVALID_ARGUMENT', 'write: options.select must be a function');
      }
    } catch (error) {
      return Promise.reject(error);
    }
    let sizeBytes = 0;
    for (const op of encoded) sizeBytes += opSizeBytes(op);
    return new Promise<WriteResult>((resolve, reject) => {
      this.pending.push({ ops: encoded, sizeBytes, sync, select, resolve, reject });
      if (!this.closeScheduled) {
        this.closeScheduled = true;
        setImmediate(() => this.closeGroup());
      }
    });
  }

  /**
   * Applies one writer's `ops` at once, in the caller's turn, when no group is open (so nothing
   * issued before it can land after it) and it does not ask for `sync`. It skips the event-loop
   * turn a group waits for, about a fifth of an in-place append. Returns its seqs, or undefined
   * (nothing done) when it must go through write(): a group is open, `sync` was asked, or
   * IMMEDIATE_WRITES_MAX writes went this way since a group last closed, so that a loop of
   * awaited writes still yields to timers, I/O and background work. Throws what write() would
   * reject with. Its bytes are not copied: they are applied before it returns.
   */
  writeNow(ops: readonly WriteOp[], options?: WriteOptions): WriteResult | undefined {
    if (!this.canWriteNow()) return undefined;
    const encoded = encodeOps(ops, (bytes) => bytes);
    if (readSyncOption(options)) return undefined;
    const select = options?.select;
    if (select !== undefined && typeof select !== 'function') {
      throw new StrataError('ERR_INVALID_ARGUMENT', 'write: options.select must be a function');
    }
    let sizeBytes = 0;
    for (const op of encoded) sizeBytes += opSizeBytes(op);
    this.immediateWrites++;
    this.counters.groups++;
    const ignore = (): void => {};
    const writer = {
      ops: encoded,
      sizeBytes,
      sync: false,
      select,
      resolve: ignore,
      reject: ignore,
    };
    const outcomes = this.applySlice([writer]);
    this.settle([writer], outcomes); // the counters; the caller gets the outcome below
    const outcome = outcomes[0]!;
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  }

  /** Whether writeNow would take a write that does not ask for `sync` now. */
  canWriteNow(): boolean {
    return (
      this.pending.length === 0 &&
      !this.closeScheduled &&
      this.immediateWrites < IMMEDIATE_WRITES_MAX
    );
  }

  /** Writers queued in the group that has not closed yet. */
  get pendingWrites(): number {
    return this.pending.length;
  }

  stats(): GroupCommitStats {
    return { ...this.counters };
  }

  private closeGroup(): void {
    const group = this.pending;
    this.pending = [];
    this.closeScheduled = false;
    this.immediateWrites = 0;
    // Writers that arrive while this group applies (a target may start some) copy elsewhere.
    const slab = this.aggregation.detach();
    assert(group.length > 0, 'a group closes only after a writer opened it');
    this.counters.groups++;
    const outcomes: Outcome[] = [];
    try {
      for (const slice of sliceGroup(group, this.maxGroupBytes)) {
        outcomes.push(...this.applySlice(slice));
      }
      this.syncIfAsked(group, outcomes);
    } catch (error) {
      // Not a StrataError: a broken invariant. Reject everyone still waiting, then crash.
      for (let index = outcomes.length; index < group.length; index++)
        outcomes.push({ ok: false, error });
      this.settle(group, outcomes);
      throw error;
    }
    this.settle(group, outcomes);
    this.aggregation.recycle(slab);
  }

  /** Applies callers `slice` in one `applyBatch`; StrataErrors become their outcomes. */
  private applySlice(slice: readonly PendingWrite[]): Outcome[] {
    try {
      this.target.lockForApply?.();
    } catch (error) {
      if (!(error instanceof StrataError)) throw error;
      return slice.map((): Outcome => ({ ok: false, error }));
    }
    try {
      return this.applySliceLocked(slice);
    } finally {
      this.target.unlockAfterApply?.();
    }
  }

  private applySliceLocked(slice: readonly PendingWrite[]): Outcome[] {
    const firstSeq = this.target.visibleSeq + 1;
    const records: PendingRecord[] = [];
    const results: WriteResult[] = [];
    let sync = false;
    const expander = this.expandHook?.();
    for (const writer of slice) {
      const writerFirstSeq = firstSeq + records.length;
      let ops = writer.ops;
      if (writer.select !== undefined) {
        // sliceGroup gave it a slice of its own: nothing lands between this check and the apply.
        assert(slice.length === 1, 'a selecting writer is applied alone');
        ops = writer.select(writer.ops);
        if (ops.length === 0) {
          const error = new StrataError('ERR_CONFLICT', 'write: its precondition no longer holds');
          return [{ ok: false, error }];
        }
      }
      if (expander !== undefined) ops = expander.add(ops);
      for (const op of ops) records.push(pendingRecord(op, firstSeq + records.length));
      sync ||= writer.sync;
      results.push({ firstSeq: writerFirstSeq, lastSeq: firstSeq + records.length - 1 });
    }
    const lastSeq = firstSeq + records.length - 1;
    assert(Number.isSafeInteger(lastSeq), 'seqs stay below 2^53');
    this.counters.applyBatchCalls++;
    try {
      this.separateHook?.(records, sync);
      this.target.applyBatch(records);
    } catch (error) {
      if (!(error instanceof StrataError)) throw error;
      return slice.map((): Outcome => ({ ok: false, error }));
    }
    assert(this.target.visibleSeq === lastSeq, 'applyBatch publishes the batch before returning');
    return results.map((result): Outcome => ({ ok: true, result }));
  }

  /** One sync call for the whole group; a failed sync rejects only the writers that asked. */
  private syncIfAsked(group: readonly PendingWrite[], outcomes: Outcome[]): void {
    assert(outcomes.length === group.length);
    if (this.syncHook === undefined) return;
    const asked = group.some((writer, index) => writer.sync && outcomes[index]?.ok === true);
    if (!asked) return;
    this.counters.syncCalls++;
    try {
      this.syncHook();
    } catch (cause) {
      const error =
        cause instanceof StrataError
          ? cause
          : new StrataError('ERR_IO', 'group commit: sync failed', { cause });
      for (let index = 0; index < group.length; index++) {
        if (group[index]!.sync && outcomes[index]!.ok) outcomes[index] = { ok: false, error };
      }
    }
  }

  /** Resolves or rejects every writer of the group in one pass, in arrival order. */
  private settle(group: readonly PendingWrite[], outcomes: readonly Outcome[]): void {
    assert(outcomes.length === group.length);
    let groupOps = 0;
    for (let index = 0; index < group.length; index++) {
      const writer = group[index]!;
      const outcome = outcomes[index]!;
      groupOps += writer.ops.length;
      if (outcome.ok) {
        this.counters.writes++;
        this.counters.ops += writer.ops.length;
        writer.resolve(outcome.result);
      } else {
        this.counters.writesFailed++;
        writer.reject(outcome.error);
      }
    }
    this.counters.largestGroupWrites = Math.max(this.counters.largestGroupWrites, group.length);
    this.counters.largestGroupOps = Math.max(this.counters.largestGroupOps, groupOps);
  }
}

/**
 * Cuts a group into runs of whole callers of at most `maxGroupBytes` each; a caller larger than
 * the limit, or one with a `select` precondition, gets a run of its own.
 */
function sliceGroup(group: readonly PendingWrite[], maxGroupBytes: number): PendingWrite[][] {
  const slices: PendingWrite[][] = [];
  let current: PendingWrite[] = [];
  let currentBytes = 0;
  for (const writer of group) {
    const alone = writer.select !== undefined || current[0]?.select !== undefined;
    if (current.length > 0 && (alone || currentBytes + writer.sizeBytes > maxGroupBytes)) {
      slices.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(writer);
    currentBytes += writer.sizeBytes;
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

/** The record of `op` at `seq`, built field by field (an object spread took a slow path). */
function pendingRecord(op: EncodedOp, seq: Seq): PendingRecord {
  if (op.blobCapacity === undefined) {
    return { kind: op.kind, userKey: op.userKey, value: op.value, seq };
  }
  return {
    kind: op.kind,
    userKey: op.userKey,
    value: op.value,
    seq,
    blobCapacity: op.blobCapacity,
  };
}
