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

interface CacheNode {
  readonly fileNumber: number;
  readonly offsetBytes: number;
  readonly fingerprint: number;
  readonly block: BlockReader;
  readonly chargeBytes: number;
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
    const head = { fileNumber: -1, offsetBytes: -1, fingerprint: 0, chargeBytes: 0 } as CacheNode;
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
    let blocks = this.files.get(fileNumber);
    if (blocks === undefined) {
      blocks = new Map();
      this.files.set(fileNumber, blocks);
    }
    const node = { fileNumber, offsetBytes, fingerprint, block, chargeBytes } as CacheNode;
    blocks.set(offsetBytes, node);
    this.linkNewest(node);
    this.sizeBytes += chargeBytes;
    this.entryCount++;
    this.insertCount++;
    while (this.sizeBytes > this.#capacityBytes) {
      const oldest = this.head.newer;
      assert(oldest !== this.head && oldest !== node, 'the new block alone fits the capacity');
      this.remove(oldest);
      this.evictionCount++;
    }
  }

  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  /** Changes the capacity; a smaller one evicts the oldest blocks down to it at once. */
  resize(capacityBytes: number): void {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes >= 0);
    this.#capacityBytes = capacityBytes;
    while (this.sizeBytes > this.#capacityBytes) {
      const oldest = this.head.newer;
      assert(oldest !== this.head, 'a non-empty cache has an oldest block');
      this.remove(oldest);
      this.evictionCount++;
    }
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

  private remove(node: CacheNode): void {
    const blocks = this.files.get(node.fileNumber);
    assert(blocks !== undefined && blocks.get(node.offsetBytes) === node, 'node is indexed');
    blocks.delete(node.offsetBytes);
    if (blocks.size === 0) this.files.delete(node.fileNumber);
    this.unlink(node);
    this.sizeBytes -= node.chargeBytes;
    this.entryCount--;
    assert(this.sizeBytes >= 0 && this.entryCount >= 0);
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
