/**
 * Opens a sorted table and answers point reads and iterators over it. Layout: FORMAT.md.
 *
 *   open:  footer (last 64 bytes) -> index, filter, properties blocks, each CRC-checked, kept
 *   get:   filter.mayContain(userKey)? -> index.seek(lookupKey) -> data block (via the block
 *          cache) .seek(lookupKey) -> the newest version with seq <= snapshotSeq, if any
 *
 * Everything is checked before it is trusted: the footer's magic, version and CRC; that the three
 * meta blocks and the data region tile the file exactly; every block's trailer; every handle in
 * the index against the data region; every entry's bounds and kind. A failed check is ERR_CORRUPT
 * naming the file and the offset of the block (or footer) at fault.
 *
 * Thread model: a reader belongs to one thread (it owns a file descriptor and uses its thread's
 * block cache). The table is immutable, so each thread that needs it opens its own reader.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import {
  type BlockCache,
  type BlockSlots,
  defaultBlockCache,
  makeBlockSlots,
  nextBlockCacheId,
} from './block-cache.js';
import { decodeBlockHandle } from './block-handle.js';
import type { BlockIterator } from './block-iterator.js';
import { BlockReader } from './block-reader.js';
import { BloomFilter } from './bloom-filter.js';
import { type BlockLocation, corruptionError } from './corruption.js';
import { decodeFooter, type Footer } from './footer.js';
import {
  type InternalKeyKind,
  internalKeyKind,
  internalKeySeq,
  lookupKey,
  SEQ_MAX,
  type Seq,
} from './internal-key.js';
import { PointIndex } from './point-index.js';
import { TableFile } from './table-file.js';
import { BLOCK_TRAILER_BYTES, FOOTER_BYTES } from './table-format.js';
import { type DataBlockSource, TableIterator } from './table-iterator.js';
import { decodeTableProperties, type TableProperties } from './table-properties.js';

export interface TableReaderOptions {
  /** The catalog's number for this file (names it in errors and stats). */
  readonly fileNumber: number;
  /** Defaults to this thread's `defaultBlockCache`. */
  readonly cache?: BlockCache;
  /**
   * This reader's key in the cache; default a fresh `nextBlockCacheId()`, unique in the thread.
   * Never the file number: every database of a thread (and every database a pool worker
   * compacts for) numbers its files from 1, so file numbers collide across databases.
   */
  readonly cacheId?: number;
  /**
   * false: read blocks without caching them (a compaction reads each block once and would only
   * push hot blocks out). Default true.
   */
  readonly fillCache?: boolean;
}

export interface TableGetResult {
  /** KIND_DELETION means the key was deleted at `seq`: the caller stops looking in older tables. */
  readonly kind: InternalKeyKind;
  readonly seq: Seq;
  /** A view of the cached block's bytes, which are never overwritten; empty for a tombstone. */
  readonly value: Uint8Array;
}

export class TableReader {
  readonly path: string;
  readonly fileNumber: number;
  /** The key of this table's blocks in the cache. */
  readonly cacheId: number;
  readonly properties: TableProperties;
  private readonly index: BlockReader;
  private readonly file: TableFile;
  private readonly filter: BloomFilter;
  private readonly cache: BlockCache;
  /** The id was made for this reader, so close() evicts its blocks: no one else can look them up. */
  private readonly ownsCacheId: boolean;
  private readonly fillCache: boolean;
  /** The footer CRC: tells this table's cached blocks apart from another's with the same number. */
  private readonly fingerprint: number;
  /** Data blocks lie in [0, dataEndBytes); the filter block starts there. */
  private readonly dataEndBytes: number;
  private readonly indexLocation: BlockLocation;
  private readonly blockSource: DataBlockSource;
  /**
   * get() reuses these two iterators instead of allocating them per call. It is safe because get
   * is synchronous and calls nothing that could call get again.
   */
  private readonly indexIteratorForGet: BlockIterator;
  private dataIteratorForGet: BlockIterator | undefined;
  /** The index decoded once, on the first get (point-index.ts). */
  private pointIndex: PointIndex | undefined;
  /** get()'s cached blocks by index position (block-cache.ts, "Point reads"). */
  private blockSlots: BlockSlots | undefined;

  private constructor(parts: {
    file: TableFile;
    options: TableReaderOptions;
    footer: Footer;
    index: BlockReader;
    filter: BloomFilter;
    properties: TableProperties;
  }) {
    this.path = parts.file.path;
    this.file = parts.file;
    this.fileNumber = parts.options.fileNumber;
    this.ownsCacheId = parts.options.cacheId === undefined;
    this.cacheId = parts.options.cacheId ?? nextBlockCacheId();
    this.cache = parts.options.cache ?? defaultBlockCache;
    this.fillCache = parts.options.fillCache ?? true;
    this.fingerprint = parts.footer.crc;
    this.dataEndBytes = parts.footer.filter.offsetBytes;
    this.index = parts.index;
    this.indexLocation = parts.index.location;
    this.filter = parts.filter;
    this.properties = parts.properties;
    this.indexIteratorForGet = this.index.iterator();
    this.blockSource = {
      index: this.index,
      readDataBlock: (handleValue) => this.readDataBlock(handleValue),
    };
  }

  /** Opens and checks a table. ERR_IO if it cannot be read, ERR_CORRUPT if it is damaged. */
  static open(path: string, options: TableReaderOptions): TableReader {
    assert(Number.isSafeInteger(options.fileNumber) && options.fileNumber >= 0, 'fileNumber');
    const file = TableFile.open(path);
    try {
      return TableReader.load(file, options);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  private static load(file: TableFile, options: TableReaderOptions): TableReader {
    const sizeBytes = file.sizeBytes;
    if (sizeBytes < FOOTER_BYTES) {
      throw corruptionError(
        { path: file.path, offsetBytes: 0 },
        `truncated: ${sizeBytes} bytes is shorter than the ${FOOTER_BYTES}-byte footer`,
      );
    }
    const footerLocation = { path: file.path, offsetBytes: sizeBytes - FOOTER_BYTES };
    const footer = decodeFooter(file.read(sizeBytes - FOOTER_BYTES, FOOTER_BYTES), footerLocation);
    checkLayout(footer, footerLocation);
    const locate = (offsetBytes: number): BlockLocation => ({ path: file.path, offsetBytes });
    const index = BlockReader.parse(file.readBlock(footer.index), locate(footer.index.offsetBytes));
    const filterLocation = locate(footer.filter.offsetBytes);
    const filter = BloomFilter.parse(file.readBlock(footer.filter), filterLocation);
    const propertiesLocation = locate(footer.properties.offsetBytes);
    const propertiesBytes = file.readBlock(footer.properties);
    const properties = decodeTableProperties(propertiesBytes, propertiesLocation, sizeBytes);
    if (properties.formatVersion !== footer.formatVersion) {
      throw corruptionError(propertiesLocation, 'properties and footer disagree on the version');
    }
    return new TableReader({ file, options, footer, index, filter, properties });
  }

  /** False means no version of userKey is in this table; true means one may be. */
  mayContain(userKey: Uint8Array): boolean {
    this.checkOpen();
    return this.filter.mayContain(userKey);
  }

  /**
   * The newest version of userKey with seq <= snapshotSeq, tombstones included, or undefined if
   * this table holds none. Requires: 0 <= snapshotSeq <= SEQ_MAX.
   */
  get(userKey: Uint8Array, snapshotSeq: Seq): TableGetResult | undefined {
    this.checkOpen();
    assert(Number.isInteger(snapshotSeq) && snapshotSeq >= 0 && snapshotSeq <= SEQ_MAX);
    if (!this.filter.mayContain(userKey)) return undefined;
    const target = lookupKey(userKey, snapshotSeq);
    if (this.pointIndex === undefined) {
      this.pointIndex = PointIndex.decode(this.indexIteratorForGet, this.indexLocation);
      this.blockSlots = makeBlockSlots(this.pointIndex.count);
    }
    const index = this.pointIndex;
    // The first block whose separator is >= target: every key of the blocks before is smaller.
    const position = index.search(target);
    if (position === index.count) return undefined;
    const data = this.dataIteratorOn(this.readDataBlockAt(index, position));
    data.seek(target);
    if (!data.valid()) {
      // Only when the target falls between a block's last key and its shortened separator; then
      // the next block's first key has a larger user key, but checking costs little.
      if (position + 1 === index.count) return undefined;
      data.reset(this.readDataBlockAt(index, position + 1));
      data.seekFirst();
    }
    return this.entryFor(data, userKey);
  }

  /** An iterator over every entry (all versions, tombstones included), initially unpositioned. */
  iterator(): TableIterator {
    this.checkOpen();
    return new TableIterator(this.blockSource);
  }

  /**
   * Closes the file. Idempotent; later calls throw ERR_CLOSED. A reader that made its own cache id
   * evicts its blocks; one given an id leaves them to whoever shares it.
   */
  close(): void {
    if (this.ownsCacheId && !this.file.closed) this.cache.evictFile(this.cacheId);
    this.file.close();
  }

  /** The data block an index entry names, from the cache or the file. */
  private readDataBlock(handleValue: Uint8Array): BlockReader {
    this.checkOpen();
    const handle = decodeBlockHandle(handleValue, this.indexLocation);
    return this.readDataBlockHandle(handle.offsetBytes, handle.sizeBytes);
  }

  /** readDataBlock for the point index's block at `position`: its slot, else the cache. */
  private readDataBlockAt(index: PointIndex, position: number): BlockReader {
    const slots = this.blockSlots!;
    const slotted = slots.blocks[position];
    if (slotted !== undefined) {
      slots.referenced[position] = 1;
      this.cache.countSlotHit();
      return slotted;
    }
    const offsetBytes = index.offsetBytes(position);
    const block = this.readDataBlockHandle(offsetBytes, index.sizeBytes(position));
    if (this.fillCache) this.cache.bindSlot(this.cacheId, offsetBytes, slots, position);
    return block;
  }

  private readDataBlockHandle(offsetBytes: number, sizeBytes: number): BlockReader {
    if (offsetBytes + sizeBytes + BLOCK_TRAILER_BYTES > this.dataEndBytes) {
      throw corruptionError(
        this.indexLocation,
        `index names a block at byte ${offsetBytes} of ${sizeBytes} bytes, ` +
          `outside the data region [0, ${this.dataEndBytes})`,
      );
    }
    if (this.fillCache) {
      const cached = this.cache.lookup(this.cacheId, offsetBytes, this.fingerprint);
      if (cached !== undefined) return cached;
    }
    const location = { path: this.path, offsetBytes };
    const handle = { offsetBytes, sizeBytes };
    const block = BlockReader.parse(this.file.readBlock(handle, location), location);
    if (!this.fillCache) return block;
    // A block of a mapped file is a view of the page cache: caching it costs only its parsed
    // restart array, so that is what it is charged.
    const chargeBytes = this.file.isMapped ? 4 * block.restarts.length : undefined;
    this.cache.insert(this.cacheId, offsetBytes, this.fingerprint, block, chargeBytes);
    return block;
  }

  private checkOpen(): void {
    if (this.file.closed) throw new StrataError('ERR_CLOSED', `table ${this.path} is closed`);
  }

  private dataIteratorOn(block: BlockReader): BlockIterator {
    if (this.dataIteratorForGet === undefined) this.dataIteratorForGet = block.iterator();
    else this.dataIteratorForGet.reset(block);
    return this.dataIteratorForGet;
  }

  /** The get result if the data iterator sits on a version of userKey. */
  private entryFor(data: BlockIterator, userKey: Uint8Array): TableGetResult | undefined {
    if (!data.valid() || !data.userKeyEquals(userKey)) return undefined;
    if (!data.keyIsEntryKey()) {
      throw corruptionError(data.location, 'a data block holds a key with a bad trailer');
    }
    const key = data.keyView();
    return {
      kind: internalKeyKind(key) as InternalKeyKind,
      seq: internalKeySeq(key),
      value: data.value(),
    };
  }
}

/** Format version 1 lays out data, filter, properties, index, footer with no gaps. */
function checkLayout(footer: Footer, footerLocation: BlockLocation): void {
  const end = (handle: { offsetBytes: number; sizeBytes: number }): number =>
    handle.offsetBytes + handle.sizeBytes + BLOCK_TRAILER_BYTES;
  const tiles =
    footer.filter.offsetBytes > 0 &&
    end(footer.filter) === footer.properties.offsetBytes &&
    end(footer.properties) === footer.index.offsetBytes &&
    end(footer.index) === footerLocation.offsetBytes;
  if (!tiles) {
    throw corruptionError(footerLocation, 'footer handles do not tile the file');
  }
}
