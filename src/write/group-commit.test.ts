/**
 * GroupCommitter against a real memtable on an emulated NVM image: concurrent writers share one
 * applyBatch, a caller's batch is never split, the sync hook runs once per group that asked, a
 * failed apply rejects only its writers, bad input changes nothing, and a fast-check model of
 * interleaved writers agrees with a Map oracle (the highest seq wins).
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError, StrataError } from '../errors.js';
import { Memtable, type MemtableRecord } from '../memtable/memtable.js';
import { KIND_DELETION, KIND_VALUE } from '../sst/internal-key.js';
import { GroupCommitter, type WriteOp, type WriteResult } from './group-commit.js';

let temp: ReturnType<typeof makeTempFolder>;
let image: NvmImage;
let memtable: Memtable;
beforeEach(() => {
  temp = makeTempFolder('write');
  image = NvmImage.open(`${temp.path}/image.nvm`, { backend: 'emulated', sizeMaxBytes: 64 << 20 });
  memtable = Memtable.open(image, Memtable.create(image));
});
afterEach(() => {
  memtable.close();
  image.close();
  temp.remove();
});

/** Wraps the memtable, records each applyBatch, and throws ERR_IO on the calls in `failCalls`. */
function countingTarget(inner: Memtable, failCalls: ReadonlySet<number> = new Set()) {
  const batches: (readonly MemtableRecord[])[] = [];
  return {
    batches,
    applyBatch(records: readonly MemtableRecord[]): void {
      batches.push(records);
      if (failCalls.has(batches.length)) throw new StrataError('ERR_IO', 'injected apply failure');
      inner.applyBatch(records);
    },
    get visibleSeq(): number {
      return inner.visibleSeq;
    },
  };
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : new TextDecoder().decode(value);
}

describe('grouping', () => {
  test('64 writers in one tick share one applyBatch and resolve in arrival order', async () => {
    const target = countingTarget(memtable);
    const committer = new GroupCommitter(target);
    const writes = Array.from({ length: 64 }, (_, index) =>
      committer.write([{ type: 'put', key: `k${index}`, value: bytes(`v${index}`) }]),
    );
    expect(committer.pendingWrites).toBe(64);
    const results = await Promise.all(writes);
    expect(target.batches).toHaveLength(1);
    expect(results.map((result) => result.firstSeq)).toEqual(results.map((_, index) => index + 1));
    for (const result of results) expect(result.lastSeq).toBe(result.firstSeq);
    expect(memtable.visibleSeq).toBe(64);
    for (let index = 0; index < 64; index++) {
      const entry = memtable.get(bytes(`k${index}`));
      expect(entry?.kind).toBe(KIND_VALUE);
      expect(entry?.seq).toBe(index + 1);
      expect(text(entry?.value)).toBe(`v${index}`);
    }
    const stats = committer.stats();
    expect(stats).toMatchObject({ groups: 1, writes: 64, ops: 64, applyBatchCalls: 1 });
    expect(stats).toMatchObject({ largestGroupWrites: 64, largestGroupOps: 64, syncCalls: 0 });
  });

  test('a batch of 10 ops is never split, even when it exceeds maxGroupBytes', async () => {
    const target = countingTarget(memtable);
    const committer = new GroupCommitter(target, { maxGroupBytes: 1 });
    const batch = (tag: string): WriteOp[] =>
      Array.from({ length: 10 }, (_, index) => ({
        type: 'put',
        key: `${tag}${index}`,
        value: tag,
      }));
    const [a, single, b] = await Promise.all([
      committer.write(batch('a')),
      committer.write([{ type: 'del', key: 'a3' }]),
      committer.write(batch('b')),
    ]);
    expect(target.batches.map((records) => records.length)).toEqual([10, 1, 10]);
    expect(a).toEqual({ firstSeq: 1, lastSeq: 10 });
    expect(single).toEqual({ firstSeq: 11, lastSeq: 11 });
    expect(b).toEqual({ firstSeq: 12, lastSeq: 21 });
    expect(memtable.get(bytes('a3'))?.kind).toBe(KIND_DELETION);
    expect(text(memtable.get(bytes('b9'))?.value)).toBe('b');
    expect(committer.stats()).toMatchObject({ groups: 1, applyBatchCalls: 3, ops: 21 });
  });

  test('small batches pack into slices of at most maxGroupBytes', async () => {
    const target = countingTarget(memtable);
    // Each op: 2-byte key + 2-byte value + 32 overhead = 36 bytes; three fit in 110.
    const committer = new GroupCommitter(target, { maxGroupBytes: 110 });
    const writes = Array.from({ length: 7 }, (_, index) =>
      committer.write([{ type: 'put', key: `k${index}`, value: `v${index}` }]),
    );
    await Promise.all(writes);
    expect(target.batches.map((records) => records.length)).toEqual([3, 3, 1]);
    expect(target.batches.flat().map((record) => record.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  test('a caller that mutates its buffer after write() does not change the commit', async () => {
    const committer = new GroupCommitter(memtable);
    const value = bytes('before');
    const written = committer.write([{ type: 'put', key: 'k', value }]);
    value.set(bytes('after!'));
    await written;
    expect(text(memtable.get(bytes('k'))?.value)).toBe('before');
  });

  test('writers of a later tick form a new group', async () => {
    const target = countingTarget(memtable);
    const committer = new GroupCommitter(target);
    await committer.write([{ type: 'put', key: 'x', value: '1' }]);
    await committer.write([{ type: 'put', key: 'x', value: '2' }]);
    expect(target.batches).toHaveLength(2);
    expect(memtable.get(bytes('x'))).toMatchObject({ seq: 2, kind: KIND_VALUE });
    expect(committer.stats().groups).toBe(2);
  });
});

describe('sync', () => {
  test('the hook runs once per group that asked and never for one that did not', async () => {
    let syncCalls = 0;
    const committer = new GroupCommitter(memtable, { sync: () => syncCalls++ });
    await Promise.all([
      committer.write([{ type: 'put', key: 'a', value: '1' }]),
      committer.write([{ type: 'put', key: 'b', value: '1' }], { sync: true }),
      committer.write([{ type: 'put', key: 'c', value: '1' }], { sync: true }),
    ]);
    expect(syncCalls).toBe(1);
    await Promise.all([
      committer.write([{ type: 'put', key: 'a', value: '2' }]),
      committer.write([{ type: 'put', key: 'b', value: '2' }], { sync: false }),
    ]);
    expect(syncCalls).toBe(1);
    await committer.write([{ type: 'del', key: 'a' }], { sync: true });
    expect(syncCalls).toBe(2);
    expect(committer.stats().syncCalls).toBe(2);
  });

  test('the hook runs once for a group split into several applyBatch calls', async () => {
    let syncCalls = 0;
    const target = countingTarget(memtable);
    const committer = new GroupCommitter(target, { maxGroupBytes: 1, sync: () => syncCalls++ });
    const writes = Array.from({ length: 5 }, (_, index) =>
      committer.write([{ type: 'put', key: `k${index}`, value: 'v' }], { sync: true }),
    );
    await Promise.all(writes);
    expect(target.batches).toHaveLength(5);
    expect(syncCalls).toBe(1);
  });

  test('a failed sync rejects the writers that asked and resolves the others', async () => {
    const committer = new GroupCommitter(memtable, {
      sync: () => {
        throw new Error('fdatasync: EIO');
      },
    });
    const [plain, durable] = await Promise.allSettled([
      committer.write([{ type: 'put', key: 'a', value: '1' }]),
      committer.write([{ type: 'put', key: 'b', value: '1' }], { sync: true }),
    ]);
    expect(plain.status).toBe('fulfilled');
    expect(durable.status).toBe('rejected');
    const reason = (durable as PromiseRejectedResult).reason as unknown;
    expect(isStrataError(reason, 'ERR_IO')).toBe(true);
    expect((reason as Error).cause).toBeInstanceOf(Error);
  });
});

describe('failures', () => {
  test('a failed applyBatch rejects exactly its writers; the next group succeeds', async () => {
    const target = countingTarget(memtable, new Set([1]));
    const committer = new GroupCommitter(target);
    const first = await Promise.allSettled(
      Array.from({ length: 4 }, (_, index) =>
        committer.write([{ type: 'put', key: `f${index}`, value: 'lost' }]),
      ),
    );
    for (const outcome of first) {
      expect(outcome.status).toBe('rejected');
      expect(isStrataError((outcome as PromiseRejectedResult).reason, 'ERR_IO')).toBe(true);
    }
    expect(memtable.visibleSeq).toBe(0);
    const second = await Promise.all([
      committer.write([{ type: 'put', key: 'ok', value: 'kept' }]),
      committer.write([{ type: 'put', key: 'f0', value: 'later' }]),
    ]);
    expect(second).toEqual([
      { firstSeq: 1, lastSeq: 1 },
      { firstSeq: 2, lastSeq: 2 },
    ]);
    expect(text(memtable.get(bytes('ok'))?.value)).toBe('kept');
    expect(text(memtable.get(bytes('f0'))?.value)).toBe('later');
    expect(memtable.get(bytes('f1'))).toBeUndefined();
    expect(committer.stats()).toMatchObject({ groups: 2, writes: 2, writesFailed: 4 });
  });

  test('in a split group only the failed slice is rejected', async () => {
    const target = countingTarget(memtable, new Set([2]));
    const committer = new GroupCommitter(target, { maxGroupBytes: 1 });
    const outcomes = await Promise.allSettled(
      ['a', 'b', 'c'].map((key) => committer.write([{ type: 'put', key, value: key }])),
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((outcomes[2] as PromiseFulfilledResult<WriteResult>).value.firstSeq).toBe(2);
    expect(memtable.get(bytes('b'))).toBeUndefined();
    expect(memtable.get(bytes('c'))?.seq).toBe(2);
  });

  test('the memtable rejecting a batch (closed) rejects the group with its StrataError', async () => {
    const committer = new GroupCommitter(memtable);
    const written = committer.write([{ type: 'put', key: 'k', value: 'v' }]);
    memtable.close();
    await expect(written).rejects.toSatisfy((error) => isStrataError(error, 'ERR_CLOSED'));
  });
});

describe('input validation', () => {
  const bad: [string, unknown, unknown?][] = [
    ['ops not an array', 'put k v'],
    ['empty ops', []],
    ['op not an object', [null]],
    ['unknown type', [{ type: 'merge', key: 'k', value: 'v' }]],
    ['missing type', [{ key: 'k', value: 'v' }]],
    ['numeric key', [{ type: 'put', key: 7, value: 'v' }]],
    ['array key', [{ type: 'put', key: [1, 2], value: 'v' }]],
    ['put without value', [{ type: 'put', key: 'k' }]],
    ['put with a number value', [{ type: 'put', key: 'k', value: 3 }]],
    ['del with a value', [{ type: 'del', key: 'k', value: 'v' }]],
    [
      'bad op after good ones',
      [
        { type: 'put', key: 'a', value: 'v' },
        { type: 'x', key: 'b' },
      ],
    ],
    ['sync not a boolean', [{ type: 'put', key: 'k', value: 'v' }], { sync: 'yes' }],
    ['options not an object', [{ type: 'put', key: 'k', value: 'v' }], 5],
  ];
  test.each(bad)('%s: ERR_INVALID_ARGUMENT and nothing applied', async (_, ops, options) => {
    const target = countingTarget(memtable);
    const committer = new GroupCommitter(target);
    const good = committer.write([{ type: 'put', key: 'good', value: 'v' }]);
    const call = committer.write as (ops: unknown, options?: unknown) => Promise<WriteResult>;
    await expect(call.call(committer, ops, options)).rejects.toSatisfy((error) =>
      isStrataError(error, 'ERR_INVALID_ARGUMENT'),
    );
    await good;
    expect(target.batches).toHaveLength(1);
    expect(target.batches[0]!.map((record) => text(record.userKey))).toEqual(['good']);
    expect(memtable.visibleSeq).toBe(1);
  });

  test('bad constructor options are refused', () => {
    expect(() => new GroupCommitter(memtable, { maxGroupBytes: 0 })).toThrow(StrataError);
    expect(() => new GroupCommitter(memtable, { maxGroupBytes: 1.5 })).toThrow(StrataError);
  });

  test('string keys and values are UTF-8 encoded; Uint8Array keys are taken as bytes', async () => {
    const committer = new GroupCommitter(memtable);
    await committer.write([
      { type: 'put', key: 'ключ', value: 'значение' },
      { type: 'put', key: Uint8Array.of(0, 255), value: new Uint8Array(0) },
    ]);
    expect(text(memtable.get(bytes('ключ'))?.value)).toBe('значение');
    expect(memtable.get(Uint8Array.of(0, 255))?.value).toEqual(new Uint8Array(0));
  });
});

describe('model', () => {
  const opArbitrary = fc.record({
    del: fc.boolean(),
    key: fc.constantFrom('a', 'b', 'c', 'd', ''),
    value: fc.string({ maxLength: 6 }),
  });
  const writerArbitrary = fc.record({
    ops: fc.array(opArbitrary, { minLength: 1, maxLength: 5 }),
    sync: fc.boolean(),
    /** Ticks to wait before writing: writers of equal delay share a group. */
    delay: fc.integer({ min: 0, max: 3 }),
  });

  test('interleaved writers agree with a Map oracle in seq order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(writerArbitrary, { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 1, max: 400 }),
        async (writers, maxGroupBytes) => {
          const headerPage = Memtable.create(image);
          const table = Memtable.open(image, headerPage);
          try {
            const target = countingTarget(table);
            const committer = new GroupCommitter(target, { maxGroupBytes, sync: () => {} });
            const results = await Promise.all(
              writers.map(async (writer) => {
                for (let tick = 0; tick < writer.delay; tick++) await nextTick();
                const ops: WriteOp[] = writer.ops.map((op) =>
                  op.del ? { type: 'del', key: op.key } : { type: 'put', ...op },
                );
                return committer.write(ops, { sync: writer.sync });
              }),
            );
            const bySeq = results
              .map((result, index) => ({ result, writer: writers[index]! }))
              .sort((left, right) => left.result.firstSeq - right.result.firstSeq);
            const arrival = writers
              .map((writer, index) => ({ delay: writer.delay, index }))
              .sort((left, right) => left.delay - right.delay)
              .map((entry) => entry.index);
            expect(bySeq.map((entry) => writers.indexOf(entry.writer))).toEqual(arrival);
            const oracle = new Map<string, string | undefined>();
            let expectedSeq = 1;
            for (const { result, writer } of bySeq) {
              expect(result.firstSeq).toBe(expectedSeq);
              expect(result.lastSeq).toBe(expectedSeq + writer.ops.length - 1);
              expectedSeq = result.lastSeq + 1;
              for (const op of writer.ops) oracle.set(op.key, op.del ? undefined : op.value);
            }
            for (const records of target.batches) {
              expect(records.length).toBeGreaterThan(0);
            }
            expect(table.visibleSeq).toBe(expectedSeq - 1);
            for (const [key, value] of oracle) {
              const entry = table.get(bytes(key));
              if (value === undefined) expect(entry?.kind).toBe(KIND_DELETION);
              else expect(text(entry?.value)).toBe(value);
            }
          } finally {
            table.close();
            Memtable.drop(image, headerPage);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

function nextTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('a target shared with other writers (lockForApply)', () => {
  test('numbering and applying happen under the lock; another writer between calls is numbered after', async () => {
    const events: string[] = [];
    let held = false;
    const target = {
      lockForApply(): void {
        memtable.lock();
        held = true;
        events.push('lock');
      },
      unlockAfterApply(): void {
        held = false;
        memtable.unlock();
        events.push('unlock');
      },
      applyBatch(records: readonly MemtableRecord[]): void {
        expect(held).toBe(true);
        events.push(`apply ${records[0]!.seq}`);
        memtable.applyBatchLocked(records);
      },
      get visibleSeq(): number {
        return memtable.visibleSeq;
      },
    };
    const committer = new GroupCommitter(target);
    await committer.write([{ type: 'put', key: 'a', value: '1' }]);
    // Another thread's batch lands between two groups, under the same mutex.
    memtable.applyBatch([{ seq: 2, kind: KIND_VALUE, userKey: bytes('x'), value: bytes('other') }]);
    const result = await committer.write([{ type: 'put', key: 'b', value: '2' }]);
    expect(result.firstSeq).toBe(3);
    expect(events).toEqual(['lock', 'apply 1', 'unlock', 'lock', 'apply 3', 'unlock']);
    expect(text(memtable.get(bytes('x'), 3)?.value)).toBe('other');
  });

  test('a lock that fails with a StrataError rejects that call’s writers; the lock is released after a failed apply', async () => {
    let lockFails = true;
    let unlocks = 0;
    const target = {
      lockForApply(): void {
        if (lockFails) throw new StrataError('ERR_BUSY', 'injected busy mutex');
      },
      unlockAfterApply(): void {
        unlocks++;
      },
      applyBatch(): void {
        throw new StrataError('ERR_IO', 'injected apply failure');
      },
      visibleSeq: 0,
    };
    const committer = new GroupCommitter(target);
    const busy = committer.write([{ type: 'put', key: 'a', value: '1' }]);
    await expect(busy).rejects.toMatchObject({ code: 'ERR_BUSY' });
    expect(unlocks).toBe(0);
    lockFails = false;
    await expect(committer.write([{ type: 'put', key: 'a', value: '1' }])).rejects.toMatchObject({
      code: 'ERR_IO',
    });
    expect(unlocks).toBe(1);
  });
});

describe('writeNow: a lone write applied in the caller turn', () => {
  test('applies at once when no group is open, and is visible before it returns', () => {
    const target = countingTarget(memtable);
    const committer = new GroupCommitter(target);
    const value = bytes('now');
    const result = committer.writeNow([{ type: 'put', key: 'k', value }]);
    expect(result).toEqual({ firstSeq: 1, lastSeq: 1 });
    value.fill(0); // applied already: the caller may reuse its buffer
    expect(text(memtable.get(bytes('k'))?.value)).toBe('now');
    expect(target.batches.length).toBe(1);
    expect(committer.stats()).toMatchObject({ groups: 1, writes: 1, ops: 1 });
  });

  test('declines while a group is open, so a write issued earlier is never overtaken', async () => {
    const target = countingTarget(memtable);
    const committer = new GroupCommitter(target);
    const earlier = committer.write([{ type: 'put', key: 'k', value: bytes('first') }]);
    expect(committer.writeNow([{ type: 'put', key: 'k', value: bytes('second') }])).toBeUndefined();
    await earlier;
    expect(text(memtable.get(bytes('k'))?.value)).toBe('first');
    expect(committer.writeNow([{ type: 'put', key: 'k', value: bytes('second') }])).toBeDefined();
    expect(text(memtable.get(bytes('k'))?.value)).toBe('second');
  });

  test('declines sync writes, and after 16 in a row until a group has closed', async () => {
    const committer = new GroupCommitter(countingTarget(memtable));
    const put = (index: number) => [{ type: 'put' as const, key: `k${index}`, value: bytes('v') }];
    expect(committer.writeNow(put(0), { sync: true })).toBeUndefined();
    for (let index = 0; index < 16; index++) expect(committer.writeNow(put(index))).toBeDefined();
    expect(committer.writeNow(put(16))).toBeUndefined(); // the event loop gets its turn
    await committer.write(put(16));
    expect(committer.writeNow(put(17))).toBeDefined();
  });

  test('a select that keeps nothing throws ERR_CONFLICT and applies nothing', () => {
    const target = countingTarget(memtable);
    const committer = new GroupCommitter(target);
    let caught: unknown;
    try {
      committer.writeNow([{ type: 'put', key: 'k', value: bytes('v') }], { select: () => [] });
    } catch (error) {
      caught = error;
    }
    expect(isStrataError(caught, 'ERR_CONFLICT')).toBe(true);
    expect(memtable.get(bytes('k'))).toBeUndefined();
    expect(committer.stats()).toMatchObject({ writesFailed: 1, writes: 0 });
    const bad = [{ type: 'bogus', key: 'k' }] as unknown as WriteOp[];
    expect(() => committer.writeNow(bad)).toThrow(/must be 'put', 'del' or 'blobRef'/);
  });
});
