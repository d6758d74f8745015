import { afterAll, describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { BlockBuilder } from './block-builder.js';
import {
  BLOCK_CACHE_ENTRY_OVERHEAD_BYTES,
  BlockCache,
  defaultBlockCache,
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
