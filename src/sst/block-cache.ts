/**
 * An LRU of parsed data blocks, bounded by bytes and keyed by (reader cache id, block offset), so
 * every reader of a thread shares one budget. Synchronous; nothing here does I/O.
 *
 *   files: Map<cacheId, Map<offsetBytes, node>>             lookups: two small-integer map gets
 *   recency list:  head (sentinel) <-> newest <-> ... <-> oldest <-> head      evict from oldest
 *
 * Cached blocks are immutable and every block gets its own freshly read buffer, which the cache
 * never reuses: a view of a block's bytes (a value returned by get) stays correct after the block
 * is evicted; eviction only drops the cache's reference.
 *
 * Each open reader has its own cache id (`nextBlockCacheId`), never its file number: every
 * database numbers its files from 1, and one thread (a pool worker compacting for several
 * databases, an application with two) reads many of them, so file 7 of one database must not hit
 * file 7 of another's blocks. A reader evicts its blocks when it closes. Each entry also carries
 * the table's fingerprint (its footer CRC), a second guard for a caller that passes an id twice.
 *
 * Point reads skip the maps and the recency list: a reader binds its blocks to `BlockSlots`, an
 * array by block position that holds a block exactly while the cache does (eviction empties the
 * slot). A hit through a slot only sets the block's `referenced` byte, and eviction gives a
 * referenced block a second chance (CLOCK) instead of moving it on every hit. That made a cached
 * point read of a mapped table a third faster: two map lookups and three relinked nodes are
 * cache misses each.
 *
 * Thread model: a cache belongs to the thread that made it. Worker threads load their own copy of
 * this module, so each has its own `defaultBlockCache`; blocks are never shared across threads.
 */
import { assert } from '../assert.js';
import type { BlockReader } from './block-reader.js';

/** Added to each block's size when charging it, for the node, the Map slot and the reader object. */
export const BLOCK_CACHE_ENTRY_OVERHEAD_BYTES = 160;
export const BLOCK_CACHE_CAPACITY_BYTES_DEFAULT = 32 << 20;

export interface BlockCacheOptions {
  readonly capacityBytes: number;
}

export interface BlockCacheStats {
  readonly capacityBytes: number;
  /** Bytes charged for the blocks in the cache now. */
  readonly sizeBytes: number;
  readonly entryCount: number;
  readonly hitCount: number;
  readonly missCount: number;
  readonly insertCount: number;
  readonly evictionCount: number;
}

/** One reader's blocks by position (its point index's), filled by `bindSlot`. */
export interface BlockSlots {
  readonly blocks: (BlockReader | undefined)[];
  /** 1 after a hit through the slot, which skipped the recency list; eviction clears it. */
  readonly referenced: Uint8Array;
}

export function makeBlockSlots(count: number): BlockSlots {
  return {
    blocks: Array.from({ length: count }, () => undefined),
    referenced: new Uint8Array(count),
  };
}

interface CacheNode {
  readonly fileNumber: number;
  readonly offsetBytes: number;
  readonly fingerprint: number;
  readonly block: BlockReader;
  readonly chargeBytes: number;
  slots: BlockSlots | undefined;
  position: number;
  newer: CacheNode;
  older: CacheNode;
}

export class BlockCache {
  #capacityBytes: number;
  private readonly files = new Map<number, Map<number, CacheNode>>();
  /** Sentinel of the circular recency list: head.older is the newest node, head.newer the oldest. */
  private readonly head: CacheNode;
  private sizeBytes = 0;
  private entryCount = 0;
  private hitCount = 0;
  private missCount = 0;
  private insertCount = 0;
  private evictionCount = 0;

  /** Requires: capacityBytes is a non-negative integer (0 caches nothing). */
  constructor(options: BlockCacheOptions) {
    assert(Number.isSafeInteger(options.capacityBytes) && options.capacityBytes >= 0);
    this.#capacityBytes = options.capacityBytes;
    const head = {
      fileNumber: -1,
      offsetBytes: -1,
      fingerprint: 0,
      chargeBytes: 0,
      slots: undefined,
      position: -1,
    } as CacheNode;
    head.newer = head;
    head.older = head;
    this.head = head;
  }

  /** The cached block, now the most recently used, or undefined (counted as a miss). */
  lookup(fileNumber: number, offsetBytes: number, fingerprint: number): BlockReader | undefined {
    const node = this.files.get(fileNumber)?.get(offsetBytes);
    if (node === undefined || node.fingerprint !== fingerprint) {
      if (node !== undefined) this.remove(node); // a stale table under a reused file number
      this.missCount++;
      return undefined;
    }
    this.hitCount++;
    this.unlink(node);
    this.linkNewest(node);
    return node.block;
  }

  /** Counts a hit a reader found in its slots (which never reach lookup). */
  countSlotHit(): void {
    this.hitCount++;
  }

  /**
   * Puts the cached block at (fileNumber, offsetBytes) in `slots` at `position` until it is
   * evicted. Returns false if the cache does not hold that block (then nothing is bound).
   */
  bindSlot(fileNumber: number, offsetBytes: number, slots: BlockSlots, position: number): boolean {
    const node = this.files.get(fileNumber)?.get(offsetBytes);
    if (node === undefined) return false;
    // Two readers given one cache id: the block follows the one that read it last.
    if (node.slots !== slots) this.unbindSlot(node);
    node.slots = slots;
    node.position = position;
    slots.blocks[position] = node.block;
    return true;
  }

  /**
   * Caches a block, replacing any entry at the same key, then evicts down to the capacity. It is
   * charged `ownedBytes` (default: its size) plus the entry overhead: a block that is a view of
   * a mapped file owns only what parsing allocated.
   */
  insert(
    fileNumber: number,
    offsetBytes: number,
    fingerprint: number,
    block: BlockReader,
    ownedBytes: number = block.sizeBytes,
  ): void {
    const chargeBytes = ownedBytes + BLOCK_CACHE_ENTRY_OVERHEAD_BYTES;
    const existing = this.files.get(fileNumber)?.get(offsetBytes);
    if (existing !== undefined) this.remove(existing);
    if (chargeBytes > this.#capacityBytes) return; // it would only evict everything and itself
    // Evict first, so the new block is never a candidate (a second chance can rotate every
    // other block past it).
    while (this.sizeBytes + chargeBytes > this.#capacityBytes) this.evictOne();
    let blocks = this.files.get(fileNumber);
    if (blocks === undefined) {
      blocks = new Map();
      this.files.set(fileNumber, blocks);
    }
    const slots = undefined;
    const position = -1;
    const fields = { fileNumber, offsetBytes, fingerprint, block, chargeBytes, slots, position };
    const node = fields as CacheNode; // newer and older are set by linkNewest
    blocks.set(offsetBytes, node);
    this.linkNewest(node);
    this.sizeBytes += chargeBytes;
    this.entryCount++;
    this.insertCount++;
  }

  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  /** Changes the capacity; a smaller one evicts the oldest blocks down to it at once. */
  resize(capacityBytes: number): void {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes >= 0);
    this.#capacityBytes = capacityBytes;
    while (this.sizeBytes > this.#capacityBytes) this.evictOne();
  }

  /** Drops every block of one file (call when the file is deleted); returns how many. */
  evictFile(fileNumber: number): number {
    const blocks = this.files.get(fileNumber);
    if (blocks === undefined) return 0;
    const count = blocks.size;
    for (const node of [...blocks.values()]) this.remove(node);
    return count;
  }

  clear(): void {
    for (const fileNumber of [...this.files.keys()]) this.evictFile(fileNumber);
    assert(this.entryCount === 0 && this.sizeBytes === 0);
  }

  stats(): BlockCacheStats {
    return {
      capacityBytes: this.#capacityBytes,
      sizeBytes: this.sizeBytes,
      entryCount: this.entryCount,
      hitCount: this.hitCount,
      missCount: this.missCount,
      insertCount: this.insertCount,
      evictionCount: this.evictionCount,
    };
  }

  /**
   * Evicts the least recently used block that was not hit through its slot since it last came
   * round; a block that was gets moved to the newest end with its mark cleared. Bounded: each
   * block is passed over at most once before every mark is clear.
   */
  private evictOne(): void {
    for (let step = 0; step <= this.entryCount; step++) {
      const oldest = this.head.newer;
      assert(oldest !== this.head, 'a non-empty cache has an oldest block');
      const slots = oldest.slots;
      if (slots !== undefined && slots.referenced[oldest.position] === 1) {
        slots.referenced[oldest.position] = 0;
        this.unlink(oldest);
        this.linkNewest(oldest);
        continue;
      }
      this.remove(oldest);
      this.evictionCount++;
      return;
    }
    assert(false, 'some block is unmarked after one pass');
  }

  private remove(node: CacheNode): void {
    const blocks = this.files.get(node.fileNumber);
    assert(blocks !== undefined && blocks.get(node.offsetBytes) === node, 'node is indexed');
    blocks.delete(node.offsetBytes);
    if (blocks.size === 0) this.files.delete(node.fileNumber);
    this.unlink(node);
    this.unbindSlot(node);
    this.sizeBytes -= node.chargeBytes;
    this.entryCount--;
    assert(this.sizeBytes >= 0 && this.entryCount >= 0);
  }

  /** Empties the slot that holds the node's block, if any. */
  private unbindSlot(node: CacheNode): void {
    if (node.slots === undefined) return;
    node.slots.blocks[node.position] = undefined;
    node.slots.referenced[node.position] = 0;
    node.slots = undefined;
  }

  private unlink(node: CacheNode): void {
    node.newer.older = node.older;
    node.older.newer = node.newer;
  }

  private linkNewest(node: CacheNode): void {
    const newest = this.head.older;
    node.older = newest;
    node.newer = this.head;
    newest.newer = node;
    this.head.older = node;
  }
}

/** The cache readers use unless given another: one per thread (see the thread model above). */
export const defaultBlockCache: BlockCache = new BlockCache({
  capacityBytes: BLOCK_CACHE_CAPACITY_BYTES_DEFAULT,
});

/** Above every file number a catalog hands out in practice, so ids never meet plain numbers. */
let nextCacheId = 2 ** 40;

/** A cache key for a table reader, unique in this thread (see TableReaderOptions.cacheId). */
export function nextBlockCacheId(): number {
  return nextCacheId++;
}
