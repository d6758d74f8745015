import { afterAll, describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { BlockBuilder } from './block-builder.js';
import {
  BLOCK_CACHE_ENTRY_OVERHEAD_BYTES,
  BlockCache,
  defaultBlockCache,
  makeBlockSlots,
  nextBlockCacheId,
} from './block-cache.js';
import { BlockReader } from './block-reader.js';
import { encodeInternalKey, userKeyOf } from './internal-key.js';
import { TableReader } from './table-reader.js';
import { buildTable, entry } from './testing/table-fixtures.js';

const folder = makeTempFolder('sst-cache');
afterAll(() => folder.remove());

/** A parsed block of exactly `sizeBytes` bytes. */
function blockOfSize(sizeBytes: number): BlockReader {
  const builder = new BlockBuilder(16);
  const key = encodeInternalKey(Uint8Array.of(1), 1, 1);
  const valueLength = sizeBytes - (3 + key.length + 8); // 3 one-byte varints, 8-byte restarts
  // A value length of 128 or more takes a 2-byte varint.
  builder.add(key, new Uint8Array(valueLength >= 128 ? valueLength - 1 : valueLength));
  const bytes = builder.finish().slice();
  expect(bytes.length).toBe(sizeBytes);
  return BlockReader.parse(bytes, { path: 'memory', offsetBytes: 0 });
}

/** Each test block has one restart, which the reader also keeps decoded: 4 more bytes. */
const charge = (sizeBytes: number) => sizeBytes + 4 + BLOCK_CACHE_ENTRY_OVERHEAD_BYTES;

describe('block cache', () => {
  test('charges each block its size plus the entry overhead', () => {
    const cache = new BlockCache({ capacityBytes: 10_000 });
    cache.insert(1, 0, 7, blockOfSize(100));
    cache.insert(1, 105, 7, blockOfSize(200));
    cache.insert(2, 0, 9, blockOfSize(300));
    expect(cache.stats()).toEqual({
      capacityBytes: 10_000,
      sizeBytes: charge(100) + charge(200) + charge(300),
      entryCount: 3,
      hitCount: 0,
      missCount: 0,
      insertCount: 3,
      evictionCount: 0,
    });
    cache.insert(1, 0, 7, blockOfSize(150)); // replaces, does not add
    expect(cache.stats().sizeBytes).toBe(charge(150) + charge(200) + charge(300));
    expect(cache.stats().entryCount).toBe(3);
    expect(cache.evictFile(1)).toBe(2);
    expect(cache.stats().sizeBytes).toBe(charge(300));
    cache.clear();
    expect(cache.stats()).toMatchObject({ sizeBytes: 0, entryCount: 0 });
  });

  test('evicts the least recently used block first', () => {
    const cache = new BlockCache({ capacityBytes: 3 * charge(100) });
    const blocks = [0, 1, 2, 3].map(() => blockOfSize(100));
    cache.insert(1, 0, 5, blocks[0]!);
    cache.insert(1, 1, 5, blocks[1]!);
    cache.insert(1, 2, 5, blocks[2]!);
    expect(cache.lookup(1, 0, 5)).toBe(blocks[0]); // now block 1 is the oldest
    cache.insert(1, 3, 5, blocks[3]!);
    expect(cache.lookup(1, 1, 5)).toBeUndefined();
    expect(cache.lookup(1, 0, 5)).toBe(blocks[0]);
    expect(cache.lookup(1, 2, 5)).toBe(blocks[2]);
    expect(cache.lookup(1, 3, 5)).toBe(blocks[3]);
    expect(cache.stats()).toMatchObject({
      hitCount: 4,
      missCount: 1,
      evictionCount: 1,
      entryCount: 3,
    });
    expect(cache.stats().sizeBytes).toBeLessThanOrEqual(cache.capacityBytes);
  });

  test('a slot holds its block exactly while the cache does, and is emptied on eviction', () => {
    const cache = new BlockCache({ capacityBytes: 2 * charge(100) });
    const slots = makeBlockSlots(3);
    const blocks = [0, 1, 2].map(() => blockOfSize(100));
    expect(cache.bindSlot(1, 0, slots, 0)).toBe(false); // not cached: nothing bound
    cache.insert(1, 0, 5, blocks[0]!);
    expect(cache.bindSlot(1, 0, slots, 0)).toBe(true);
    expect(slots.blocks[0]).toBe(blocks[0]);
    cache.insert(1, 1, 5, blocks[1]!);
    cache.insert(1, 2, 5, blocks[2]!); // evicts block 0, unreferenced
    expect(slots.blocks[0]).toBeUndefined();
    expect(cache.lookup(1, 0, 5)).toBeUndefined();
    cache.bindSlot(1, 2, slots, 2);
    expect(cache.evictFile(1)).toBe(2);
    expect(slots.blocks[2]).toBeUndefined();
  });

  test('a block hit through its slot gets a second chance before eviction (CLOCK)', () => {
    const cache = new BlockCache({ capacityBytes: 3 * charge(100) });
    const slots = makeBlockSlots(4);
    const blocks = [0, 1, 2, 3].map(() => blockOfSize(100));
    for (let position = 0; position < 3; position++) {
      cache.insert(1, position, 5, blocks[position]!);
      cache.bindSlot(1, position, slots, position);
    }
    slots.referenced[0] = 1; // block 0, the oldest, was hit through its slot
    cache.insert(1, 3, 5, blocks[3]!);
    expect(slots.blocks[0]).toBe(blocks[0]);
    expect(slots.referenced[0]).toBe(0); // its chance is used up
    expect(slots.blocks[1]).toBeUndefined(); // the oldest unreferenced block went instead
    expect(cache.stats()).toMatchObject({ entryCount: 3, evictionCount: 1 });
    cache.insert(1, 4, 5, blockOfSize(100));
    expect(slots.blocks[2]).toBeUndefined();
    // Every block marked: one full pass clears the marks, then the oldest goes.
    slots.referenced.fill(1);
    cache.bindSlot(1, 3, slots, 3);
    cache.insert(1, 5, 5, blockOfSize(100));
    expect(cache.stats().entryCount).toBe(3);
    expect(cache.stats().sizeBytes).toBeLessThanOrEqual(cache.capacityBytes);
  });

  test('table gets hit through slots and count as hits; an evicted slot reads the block again', () => {
    const path = folder.file('slots.sst');
    const entries = Array.from({ length: 100 }, (_, index) =>
      entry(`key${String(index).padStart(3, '0')}`, 1, 1, `v${index}`.repeat(20)),
    );
    const properties = buildTable(path, entries, { blockSizeBytes: 512 });
    // Room for at most half the blocks, mapped or read (each is charged more than the overhead).
    const capacityBytes =
      Math.floor(properties.dataBlockCount / 2) * BLOCK_CACHE_ENTRY_OVERHEAD_BYTES;
    const cache = new BlockCache({ capacityBytes });
    const reader = TableReader.open(path, { fileNumber: 3, cache });
    try {
      for (let round = 0; round < 3; round++) {
        for (const item of entries) {
          const got = reader.get(userKeyOf(item.key), 1);
          expect(new TextDecoder().decode(got!.value)).toBe(new TextDecoder().decode(item.value));
        }
      }
      const stats = cache.stats();
      expect(stats.hitCount + stats.missCount).toBe(3 * entries.length);
      expect(stats.missCount).toBeGreaterThan(properties.dataBlockCount); // some were re-read
      expect(stats.evictionCount).toBeGreaterThan(0);
      expect(stats.sizeBytes).toBeLessThanOrEqual(stats.capacityBytes);
    } finally {
      reader.close();
    }
    expect(cache.stats().entryCount).toBe(0);
  });

  test('resize to a smaller capacity evicts the oldest blocks at once', () => {
    const cache = new BlockCache({ capacityBytes: 4 * charge(100) });
    for (let offset = 0; offset < 4; offset++) cache.insert(1, offset, 7, blockOfSize(100));
    cache.resize(2 * charge(100));
    expect(cache.capacityBytes).toBe(2 * charge(100));
    expect(cache.stats().entryCount).toBe(2);
    expect(cache.lookup(1, 0, 7)).toBeUndefined();
    expect(cache.lookup(1, 1, 7)).toBeUndefined();
    expect(cache.lookup(1, 3, 7)).toBeDefined();
    cache.resize(0);
    expect(cache.stats().sizeBytes).toBe(0);
  });

  test('a different fingerprint under the same file number misses and drops the stale block', () => {
    const cache = new BlockCache({ capacityBytes: 10_000 });
    cache.insert(4, 0, 111, blockOfSize(100));
    expect(cache.lookup(4, 0, 222)).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entryCount: 0, missCount: 1 });
  });

  test('blocks larger than the capacity, or any block at capacity 0, are not cached', () => {
    const small = new BlockCache({ capacityBytes: charge(100) });
    small.insert(1, 0, 1, blockOfSize(101));
    small.insert(1, 1, 1, blockOfSize(100));
    expect(small.stats()).toMatchObject({ entryCount: 1, sizeBytes: charge(100) });
    const none = new BlockCache({ capacityBytes: 0 });
    none.insert(1, 0, 1, blockOfSize(100));
    expect(none.lookup(1, 0, 1)).toBeUndefined();
  });

  test('readers given one cache id share blocks: repeated and second-reader lookups hit', () => {
    const path = folder.file('shared.sst');
    const entries = Array.from({ length: 100 }, (_, index) =>
      entry(`key${String(index).padStart(3, '0')}`, 1, 1, 'v'.repeat(50)),
    );
    const properties = buildTable(path, entries, { blockSizeBytes: 512 });
    const cache = new BlockCache({ capacityBytes: 1 << 20 });
    const cacheId = nextBlockCacheId();
    const first = TableReader.open(path, { fileNumber: 42, cache, cacheId });
    for (const item of entries) first.get(userKeyOf(item.key), 1);
    const afterFirst = cache.stats();
    expect(afterFirst.missCount).toBe(properties.dataBlockCount);
    expect(afterFirst.hitCount).toBe(entries.length - properties.dataBlockCount);
    const second = TableReader.open(path, { fileNumber: 42, cache, cacheId });
    const iterator = second.iterator();
    for (iterator.seekFirst(); iterator.valid(); iterator.next()) iterator.value();
    expect(cache.stats().missCount).toBe(properties.dataBlockCount);
    expect(cache.stats().entryCount).toBe(properties.dataBlockCount);
    first.close();
    second.close();
    // Readers given an id leave the blocks cached for whoever else holds the id.
    expect(cache.stats().entryCount).toBe(properties.dataBlockCount);
    expect(cache.evictFile(cacheId)).toBe(properties.dataBlockCount);
    expect(defaultBlockCache.capacityBytes).toBe(32 << 20);
  });
});
