/**
 * The memtable against a sorted-array oracle: fast-check batches of puts and deletes over keys
 * with zero bytes, empty keys, long keys and many versions, checked by get at random snapshots,
 * forward and backward scans, seeks and `entries`, across reopen; forced hash collisions; arena
 * runs smaller than a record; lifecycle (create, drop, orphans) and bad input.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { PageKind } from '../../nvm/types.js';
import { isStrataError } from '../errors.js';
import { KIND_DELETION, KIND_VALUE } from '../sst/internal-key.js';
import { type KeyHashFunction, Memtable, type MemtableRecord } from './memtable.js';
import { Oracle, render, scanBackward, scanForward } from './testing/oracle.js';

const LONG_KEY = Uint8Array.from({ length: 300 }, (_, index) => (index * 7) % 256);
const FIXED_KEYS = [
  new Uint8Array(0),
  Uint8Array.of(0),
  Uint8Array.of(0, 0),
  Uint8Array.of(0, 1),
  Uint8Array.of(1),
  Uint8Array.of(255, 0, 255),
  LONG_KEY,
  Uint8Array.of(...LONG_KEY, 0),
];
const keyArbitrary = fc.oneof(
  fc.constantFrom(...FIXED_KEYS),
  fc.uint8Array({ maxLength: 4, min: 0, max: 3 }),
);
const valueArbitrary = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 3000, maxLength: 9000 }) },
);
const opArbitrary = fc.record({
  del: fc.boolean(),
  userKey: keyArbitrary,
  value: valueArbitrary,
});
const stepArbitrary = fc.oneof(
  { weight: 6, arbitrary: fc.array(opArbitrary, { minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constant('reopen' as const) },
);

/** Every key hashes to one of three values: chains hold many different keys. */
const collidingHash: KeyHashFunction = (key, out) => {
  out[0] = key.length % 3;
  out[1] = 0;
};

let temp: ReturnType<typeof makeTempFolder>;
beforeEach(() => {
  temp = makeTempFolder('memtable');
});
afterEach(() => temp.remove());

function openImage(name = 'image.nvm'): NvmImage {
  return NvmImage.open(`${temp.path}/${name}`, { backend: 'mapped', sizeMaxBytes: 256 << 20 });
}

function check(memtable: Memtable, oracle: Oracle, snapshots: readonly number[]): void {
  const keys = [...FIXED_KEYS, ...oracle.entries.map((entry) => entry.userKey)];
  for (const snapshot of snapshots) {
    const expected = render(oracle.visible(snapshot));
    expect(render(scanForward(memtable, snapshot))).toEqual(expected);
    expect(render(scanBackward(memtable, snapshot))).toEqual(expected);
    expect(render([...memtable.entries(snapshot)])).toEqual(render(oracle.newestPerKey(snapshot)));
    for (const key of keys.slice(0, 40)) {
      const want = oracle.get(key, snapshot);
      const got = memtable.get(key, snapshot);
      expect(got && render([{ userKey: key, ...got }])).toEqual(want && render([want]));
      const iterator = memtable.iterator(snapshot);
      iterator.seek(key);
      const firstAtOrAfter = oracle.visible(snapshot).find((entry) => {
        return Buffer.compare(entry.userKey, key) >= 0;
      });
      expect(iterator.valid() ? iterator.seq() : undefined).toBe(firstAtOrAfter?.seq);
    }
  }
}

describe.each([
  { name: 'murmur hash', keyHash: undefined },
  { name: 'forced collisions', keyHash: collidingHash },
])('model check with $name', ({ keyHash }) => {
  test('batches, snapshots, scans, seeks and reopen match a sorted-array oracle', () => {
    const options = keyHash === undefined ? {} : { keyHash };
    fc.assert(
      fc.property(fc.array(stepArbitrary, { maxLength: 14 }), fc.integer(), (steps, seed) => {
        const image = openImage(`model-${seed & 0xffff}-${Math.random()}.nvm`);
        const header = Memtable.create(image, { runSizeBytes: 8192, baseSeq: 100 });
        let memtable = Memtable.open(image, header, { ...options, heightSeed: seed });
        const oracle = new Oracle();
        let seq = 100;
        try {
          for (const step of steps) {
            if (step === 'reopen') {
              memtable.close();
              memtable = Memtable.open(image, header, options);
              continue;
            }
            const records: MemtableRecord[] = step.map((op) => ({
              kind: op.del ? KIND_DELETION : KIND_VALUE,
              userKey: op.userKey,
              value: op.del ? new Uint8Array(0) : op.value,
              seq: ++seq,
            }));
            memtable.applyBatch(records);
            oracle.apply(records);
            expect(memtable.visibleSeq).toBe(seq);
            check(memtable, oracle, [seq - records.length, seq]); // before and after the batch
          }
          expect(memtable.entryCount).toBe(oracle.entries.length);
          check(memtable, oracle, [100, 101, Math.floor((seq + 100) / 2), seq, seq + 5]);
        } finally {
          memtable.close();
          image.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('arena and lifecycle', () => {
  test('records larger than a run, many versions of one key, reopen keeps stats', () => {
    const image = openImage();
    const header = Memtable.create(image, { runSizeBytes: 4096 });
    const memtable = Memtable.open(image, header);
    const key = Uint8Array.of(0, 7, 0);
    const oracle = new Oracle();
    for (let seq = 1; seq <= 300; seq++) {
      const value = new Uint8Array(seq % 50 === 0 ? 20_000 : seq % 13).fill(seq & 0xff);
      const batch = [{ kind: KIND_VALUE, userKey: key, value, seq }];
      memtable.applyBatch(batch);
      oracle.apply(batch);
    }
    check(memtable, oracle, [0, 1, 49, 50, 51, 299, 300]);
    const before = memtable.stats();
    expect(before.entryCount).toBe(300);
    expect(before.arenaRuns).toBeGreaterThan(5);
    expect(before.hashKeys).toBe(1);
    memtable.close();
    image.close();
    const again = openImage();
    const reopened = Memtable.open(again, header);
    expect(reopened.stats()).toEqual(before);
    check(reopened, oracle, [0, 150, 300]);
    reopened.drop();
    let pages = 0;
    for (const kind of [PageKind.memtableHeader, PageKind.memtableArena, PageKind.ehashHeader])
      again.forEachPage(kind, undefined, () => pages++);
    expect(pages).toBe(0);
    again.close();
  });

  test('reclaimOrphans frees memtables not in the live set and keeps live ones', () => {
    const image = openImage();
    const live = Memtable.create(image);
    const orphan = Memtable.create(image);
    const memtable = Memtable.open(image, orphan);
    memtable.applyBatch([
      { kind: KIND_VALUE, userKey: Uint8Array.of(1), value: Uint8Array.of(2), seq: 1 },
    ]);
    memtable.close();
    Memtable.reclaimOrphans(image, new Set([live]));
    expect(image.pageKind(orphan)).toBe(PageKind.free);
    expect(image.pageKind(live)).toBe(PageKind.memtableHeader);
    const headers: number[] = [];
    image.forEachPage(PageKind.ehashHeader, undefined, (page) => headers.push(page));
    expect(headers.length).toBe(1);
    Memtable.open(image, live).close();
    image.close();
  });

  test('bad batches are refused before anything changes', () => {
    const image = openImage();
    const memtable = Memtable.open(image, Memtable.create(image, { baseSeq: 10 }));
    const key = Uint8Array.of(1);
    const value = new Uint8Array(0);
    const refuse = (records: MemtableRecord[]): void => {
      expect(() => memtable.applyBatch(records)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
      );
    };
    refuse([{ kind: KIND_VALUE, userKey: key, value, seq: 10 }]); // not above the base
    refuse([
      { kind: KIND_VALUE, userKey: key, value, seq: 12 },
      { kind: KIND_VALUE, userKey: key, value, seq: 12 },
    ]);
    refuse([{ kind: 9, userKey: key, value, seq: 11 }]);
    refuse([{ kind: KIND_VALUE, userKey: key, value, seq: 10 + 2 ** 32 }]);
    refuse([{ kind: KIND_VALUE, userKey: 'k' as unknown as Uint8Array, value, seq: 11 }]);
    expect(memtable.entryCount).toBe(0);
    memtable.applyBatch([{ kind: KIND_VALUE, userKey: key, value, seq: 11 }]);
    refuse([{ kind: KIND_VALUE, userKey: key, value, seq: 11 }]);
    expect(memtable.get(key)?.seq).toBe(11);
    memtable.close();
    expect(() => memtable.get(key)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => Memtable.open(image, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
    const stray = image.allocPages(1, PageKind.memtableArena, 0);
    expect(() => Memtable.open(image, stray)).toThrow(
      expect.objectContaining({ code: 'ERR_CORRUPT' }),
    );
    image.close();
  });

  test('ERR_NVM_FULL leaves the memtable as it was', () => {
    const image = NvmImage.open(`${temp.path}/small.nvm`, {
      backend: 'mapped',
      sizeMaxBytes: 64 * 4096,
    });
    const memtable = Memtable.open(image, Memtable.create(image, { runSizeBytes: 4096 }));
    const oracle = new Oracle();
    let seq = 0;
    let full = false;
    for (let round = 0; round < 200 && !full; round++) {
      const batch = [0, 1, 2].map((index) => ({
        kind: KIND_VALUE,
        userKey: Uint8Array.of(round % 7, index),
        value: new Uint8Array(700).fill(round),
        seq: ++seq,
      }));
      try {
        memtable.applyBatch(batch);
        oracle.apply(batch);
      } catch (error) {
        if (!isStrataError(error, 'ERR_NVM_FULL')) throw error;
        full = true;
        seq -= 3;
      }
    }
    expect(full).toBe(true);
    check(memtable, oracle, [seq]);
    expect(memtable.entryCount).toBe(oracle.entries.length);
    memtable.close();
    image.close();
  });

  test('a batch that fails while linking (hash split finds no page) is rolled back', () => {
    const image = NvmImage.open(`${temp.path}/tight.nvm`, {
      backend: 'mapped',
      sizeMaxBytes: 64 * 4096,
    });
    const header = Memtable.create(image, { runSizeBytes: 16 * 4096 });
    const memtable = Memtable.open(image, header);
    for (;;) {
      try {
        image.allocPages(1, PageKind.ehashBuckets, 999_999); // leave no page for a bucket split
      } catch (error) {
        if (isStrataError(error, 'ERR_NVM_FULL')) break;
        throw error;
      }
    }
    const oracle = new Oracle();
    let seq = 0;
    let failures = 0;
    for (let round = 0; round < 60 && failures === 0; round++) {
      const batch = Array.from({ length: 10 }, (_, index) => ({
        kind: KIND_VALUE,
        userKey: Uint8Array.of(round, index, 0),
        value: Uint8Array.of(round),
        seq: seq + index + 1,
      }));
      try {
        memtable.applyBatch(batch);
        oracle.apply(batch);
        seq += batch.length;
      } catch (error) {
        if (!isStrataError(error, 'ERR_NVM_FULL')) throw error;
        failures++;
      }
    }
    expect(failures).toBe(1);
    check(memtable, oracle, [seq]);
    expect(memtable.entryCount).toBe(oracle.entries.length);
    expect(memtable.stats().hashKeys).toBe(oracle.entries.length);
    // New versions of present keys need no split: the memtable keeps working.
    const update = [
      {
        kind: KIND_DELETION,
        userKey: Uint8Array.of(0, 0, 0),
        value: Uint8Array.of(),
        seq: seq + 1,
      },
    ];
    memtable.applyBatch(update);
    oracle.apply(update);
    memtable.close();
    const reopened = Memtable.open(image, header);
    check(reopened, oracle, [seq, seq + 1]);
    expect(reopened.entryCount).toBe(oracle.entries.length);
    reopened.close();
    image.close();
  });
});
