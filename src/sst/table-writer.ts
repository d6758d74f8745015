/**
 * Writes one immutable sorted table from entries given in internal-key order. FORMAT.md, "File".
 *
 *   +--------------+-----+--------------+--------------+------------------+-------------+--------+
 *   | data block 0 | ... | data block n | filter block | properties block | index block | footer |
 *   +--------------+-----+--------------+--------------+------------------+-------------+--------+
 *     each block is followed by its 5-byte trailer                                        64 bytes
 *
 * A data block is cut when it reaches `blockSizeBytes`. Its index entry waits for the next key,
 * so that the separator can be shortened to fall between the two blocks (separator.ts).
 *
 * The writer writes to exactly the path it is given and never renames: the catalog hands it a
 * temporary name and renames the finished file when it commits the flush or compaction.
 *
 * Thread model: one writer on one thread, typically a Piscina flush or compaction worker.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { BlockBuilder } from './block-builder.js';
import { type BlockHandle, encodeBlockHandle } from './block-handle.js';
import { BLOOM_BITS_PER_KEY_DEFAULT, BloomFilterBuilder } from './bloom-filter.js';
import { FileAppender } from './file-appender.js';
import { encodeFooter } from './footer.js';
import {
  compareBytes,
  compareInternalKeyRanges,
  internalKeyKind,
  internalKeySeq,
  isValidEntryKey,
  KIND_DELETION,
  SEQ_MAX,
  TRAILER_BYTES,
  userKeyOf,
} from './internal-key.js';
import { shortestSeparator, shortSuccessor } from './separator.js';
import {
  BLOCK_SIZE_BYTES_DEFAULT,
  INDEX_RESTART_INTERVAL,
  RESTART_INTERVAL_DEFAULT,
  TABLE_FORMAT_VERSION,
} from './table-format.js';
import { encodeTableProperties, type TableProperties } from './table-properties.js';

export interface TableWriterOptions {
  /** A data block is cut once it reaches this size (default 4096). */
  readonly blockSizeBytes?: number;
  /** Entries between full keys in a data block (default 16). */
  readonly restartInterval?: number;
  /** Bloom filter bits per distinct user key, 1..64 (default 10: about 1% false positives). */
  readonly bitsPerKey?: number;
  /** fsync before close (default true). Tests and benchmarks turn it off. */
  readonly sync?: boolean;
  /** Stored as the table's creation time (default: Date.now() at finish). */
  readonly createdAtMs?: number;
}

type WriterState = 'open' | 'finished' | 'abandoned';

export class TableWriter {
  readonly path: string;
  private readonly blockSizeBytes: number;
  private readonly sync: boolean;
  private readonly createdAtMs: number | undefined;
  private readonly file: FileAppender;
  private readonly dataBlock: BlockBuilder;
  private readonly indexBlock = new BlockBuilder(INDEX_RESTART_INTERVAL);
  private readonly filter: BloomFilterBuilder;
  /** The last data block written, whose index entry waits for the next key. */
  private pendingHandle: BlockHandle | undefined;
  private lastKey = new Uint8Array(64);
  private lastKeyLength = 0;
  private smallestKey: Uint8Array | undefined;
  private state: WriterState = 'open';
  private entryCountValue = 0;
  private tombstoneCount = 0;
  private dataBlockCount = 0;
  private rawKeyBytes = 0;
  private rawValueBytes = 0;
  private seqMin = SEQ_MAX;
  private seqMax = 0;

  /** Creates the file at `path`, which must not exist (ERR_IO otherwise). */
  constructor(path: string, options: TableWriterOptions = {}) {
    this.path = path;
    this.blockSizeBytes = integerOption('blockSizeBytes', options.blockSizeBytes, {
      fallback: BLOCK_SIZE_BYTES_DEFAULT,
      minimum: 1,
    });
    const restartInterval = integerOption('restartInterval', options.restartInterval, {
      fallback: RESTART_INTERVAL_DEFAULT,
      minimum: 1,
    });
    const bitsPerKey = integerOption('bitsPerKey', options.bitsPerKey, {
      fallback: BLOOM_BITS_PER_KEY_DEFAULT,
      minimum: 1,
      maximum: 64,
    });
    this.sync = options.sync ?? true;
    if (options.createdAtMs !== undefined) {
      integerOption('createdAtMs', options.createdAtMs, { fallback: 0, minimum: 0 });
    }
    this.createdAtMs = options.createdAtMs;
    this.dataBlock = new BlockBuilder(restartInterval);
    this.filter = new BloomFilterBuilder(bitsPerKey);
    this.file = new FileAppender(path);
  }

  get entryCount(): number {
    return this.entryCountValue;
  }

  /** The file's size so far, counting the open data block; compaction cuts outputs by it. */
  estimatedSizeBytes(): number {
    return this.file.offsetBytes + this.dataBlock.estimatedSizeBytes();
  }

  /**
   * Appends one entry; both arrays are copied. After an ERR_IO the writer can only be abandoned.
   * Requires: the writer is open; internalKey is a valid entry key (a stored kind, seq <= SEQ_MAX)
   * strictly greater than the previous one.
   */
  add(internalKey: Uint8Array, value: Uint8Array): void {
    assert(this.state === 'open', 'add on a finished or abandoned table writer');
    assert(isValidEntryKey(internalKey), 'an entry key has a stored kind and seq <= SEQ_MAX');
    const first = this.entryCountValue === 0;
    if (!first) {
      const order = compareInternalKeyRanges(
        this.lastKey,
        0,
        this.lastKeyLength,
        internalKey,
        0,
        internalKey.length,
      );
      assert(order < 0, 'table keys must be added in strictly increasing internal-key order');
    }
    if (this.pendingHandle !== undefined) {
      this.addIndexEntry(shortestSeparator(this.lastKeyView(), internalKey));
    }
    const userKey = userKeyOf(internalKey);
    if (first || !this.lastUserKeyEquals(userKey)) this.filter.addKey(userKey);
    if (first) this.smallestKey = internalKey.slice();
    this.dataBlock.add(internalKey, value);
    this.rememberLastKey(internalKey);
    this.countEntry(internalKey, value.length);
    if (this.dataBlock.estimatedSizeBytes() >= this.blockSizeBytes) this.flushDataBlock();
  }

  /**
   * Writes the filter, properties and index blocks and the footer, fsyncs (unless `sync: false`)
   * and closes the file. Returns what the properties block says, plus the file size.
   * Requires: the writer is open and at least one entry was added (else call abandon()).
   */
  finish(): TableProperties {
    assert(this.state === 'open', 'finish on a finished or abandoned table writer');
    assert(this.entryCountValue > 0, 'a table holds at least one entry; abandon an empty one');
    assert(this.smallestKey !== undefined);
    if (!this.dataBlock.empty) this.flushDataBlock();
    this.addIndexEntry(shortSuccessor(this.lastKeyView()));
    const filter = this.file.appendBlock(this.filter.finish());
    const stored = {
      formatVersion: TABLE_FORMAT_VERSION,
      entryCount: this.entryCountValue,
      tombstoneCount: this.tombstoneCount,
      userKeyCount: this.filter.keyCount,
      dataBlockCount: this.dataBlockCount,
      rawKeyBytes: this.rawKeyBytes,
      rawValueBytes: this.rawValueBytes,
      seqMin: this.seqMin,
      seqMax: this.seqMax,
      smallestKey: this.smallestKey,
      largestKey: this.lastKeyView().slice(),
      createdAtMs: this.createdAtMs ?? Date.now(),
    };
    const properties = this.file.appendBlock(encodeTableProperties(stored));
    const index = this.file.appendBlock(this.indexBlock.finish());
    this.file.append(encodeFooter({ index, filter, properties }));
    const fileSizeBytes = this.file.close({ sync: this.sync });
    this.state = 'finished';
    return { ...stored, fileSizeBytes };
  }

  /** Deletes the file, finished or not. Safe to call after a failed add or finish. */
  abandon(): void {
    this.state = 'abandoned';
    this.file.remove();
  }

  private flushDataBlock(): void {
    assert(this.pendingHandle === undefined, 'the previous block has its index entry');
    this.pendingHandle = this.file.appendBlock(this.dataBlock.finish());
    this.dataBlock.reset();
    this.dataBlockCount++;
  }

  private addIndexEntry(separator: Uint8Array): void {
    assert(this.pendingHandle !== undefined, 'an index entry needs a written block');
    this.indexBlock.add(separator, encodeBlockHandle(this.pendingHandle));
    this.pendingHandle = undefined;
  }

  private countEntry(internalKey: Uint8Array, valueLength: number): void {
    const seq = internalKeySeq(internalKey);
    this.entryCountValue++;
    if (internalKeyKind(internalKey) === KIND_DELETION) this.tombstoneCount++;
    this.rawKeyBytes += internalKey.length;
    this.rawValueBytes += valueLength;
    if (seq < this.seqMin) this.seqMin = seq;
    if (seq > this.seqMax) this.seqMax = seq;
  }

  private lastUserKeyEquals(userKey: Uint8Array): boolean {
    const lastUserKeyLength = this.lastKeyLength - TRAILER_BYTES;
    return compareBytes(this.lastKey, 0, lastUserKeyLength, userKey, 0, userKey.length) === 0;
  }

  private lastKeyView(): Uint8Array {
    return this.lastKey.subarray(0, this.lastKeyLength);
  }

  private rememberLastKey(key: Uint8Array): void {
    if (key.length > this.lastKey.length) {
      this.lastKey = new Uint8Array(Math.max(key.length, this.lastKey.length * 2));
    }
    this.lastKey.set(key, 0);
    this.lastKeyLength = key.length;
  }
}

function integerOption(
  name: string,
  value: number | undefined,
  limits: { fallback: number; minimum: number; maximum?: number },
): number {
  if (value === undefined) return limits.fallback;
  const maximum = limits.maximum ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || value < limits.minimum || value > maximum) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `table writer option ${name} out of range: ${value}`,
    );
  }
  return value;
}
