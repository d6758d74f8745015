/**
 * Builds one block of sorted internal keys and their values, LevelDB style: each key stores only
 * the bytes it does not share with the key before it, except at a restart point every
 * `restartInterval` entries, where the whole key is stored so a reader can binary-search the
 * restart points. FORMAT.md, "Block".
 *
 *   +---------+---------+-----+---------+-----------+-----+-------------+---------------+
 *   | entry 0 | entry 1 | ... | entry n | restart 0 | ... | restart r-1 | restart count |
 *   +---------+---------+-----+---------+-----------+-----+-------------+---------------+
 *                                         u32 LE: byte offset of an entry  u32 LE: r >= 1
 *
 *   entry = | shared varint32 | unshared varint32 | value length varint32 | key[shared..] | value |
 *
 * Thread model: one builder belongs to one table writer on one thread.
 */
import { assert, invariantsEnabled } from '../assert.js';
import { BlockReader } from './block-reader.js';
import { compareInternalKeyRanges, TRAILER_BYTES } from './internal-key.js';
import { writeU32 } from './table-format.js';
import { encodeVarint32, VARINT32_BYTES_MAX } from './varint.js';

const BUFFER_BYTES_INITIAL = 8 << 10;

export class BlockBuilder {
  readonly restartInterval: number;
  private buffer = new Uint8Array(BUFFER_BYTES_INITIAL);
  /** Bytes of entries written so far (restarts are appended by finish). */
  private sizeBytes = 0;
  private restarts: number[] = [0];
  private entriesSinceRestart = 0;
  private entryCountValue = 0;
  private lastKey = new Uint8Array(64);
  private lastKeyLength = 0;
  private finished = false;

  /** Requires: restartInterval >= 1. */
  constructor(restartInterval: number) {
    assert(Number.isInteger(restartInterval) && restartInterval >= 1, 'restartInterval >= 1');
    this.restartInterval = restartInterval;
  }

  get entryCount(): number {
    return this.entryCountValue;
  }

  get empty(): boolean {
    return this.entryCountValue === 0;
  }

  /** The block's size if it were finished now. */
  estimatedSizeBytes(): number {
    return this.sizeBytes + (this.restarts.length + 1) * 4;
  }

  /**
   * Appends one entry. The builder copies both arrays.
   * Requires: not finished; key is an internal key greater than every key added since reset.
   */
  add(key: Uint8Array, value: Uint8Array): void {
    assert(!this.finished, 'add after finish without reset');
    assert(key.length >= TRAILER_BYTES, 'block keys are internal keys');
    assert(
      this.entryCountValue === 0 ||
        compareInternalKeyRanges(this.lastKey, 0, this.lastKeyLength, key, 0, key.length) < 0,
      'block keys must be added in strictly increasing order',
    );
    let shared = 0;
    if (this.entriesSinceRestart >= this.restartInterval) {
      this.restarts.push(this.sizeBytes);
      this.entriesSinceRestart = 0;
    } else if (this.entryCountValue > 0) {
      shared = commonPrefixLength(this.lastKey, this.lastKeyLength, key);
    }
    const unshared = key.length - shared;
    this.ensureCapacity(this.sizeBytes + 3 * VARINT32_BYTES_MAX + unshared + value.length);
    let offset = encodeVarint32(this.buffer, this.sizeBytes, shared);
    offset = encodeVarint32(this.buffer, offset, unshared);
    offset = encodeVarint32(this.buffer, offset, value.length);
    this.buffer.set(shared === 0 ? key : key.subarray(shared), offset);
    offset += unshared;
    this.buffer.set(value, offset);
    this.sizeBytes = offset + value.length;
    this.rememberLastKey(key);
    this.entriesSinceRestart++;
    this.entryCountValue++;
  }

  /**
   * Appends the restart array and returns the finished block: a view of the builder's buffer that
   * stays valid until reset(). Requires: at least one entry.
   */
  finish(): Uint8Array {
    assert(!this.finished, 'finish twice without reset');
    assert(this.entryCountValue > 0, 'a block holds at least one entry');
    const restartCount = this.restarts.length;
    this.ensureCapacity(this.sizeBytes + (restartCount + 1) * 4);
    for (const restart of this.restarts) {
      writeU32(this.buffer, this.sizeBytes, restart);
      this.sizeBytes += 4;
    }
    writeU32(this.buffer, this.sizeBytes, restartCount);
    this.sizeBytes += 4;
    this.finished = true;
    const block = this.buffer.subarray(0, this.sizeBytes);
    if (invariantsEnabled) this.checkReadBack(block);
    return block;
  }

  /** Empties the builder for the next block; the view finish() returned becomes invalid. */
  reset(): void {
    this.sizeBytes = 0;
    this.restarts = [0];
    this.entriesSinceRestart = 0;
    this.entryCountValue = 0;
    this.lastKeyLength = 0;
    this.finished = false;
  }

  /** O(n): the reader must see as many entries as were added, ending at the last key. */
  private checkReadBack(block: Uint8Array): void {
    const iterator = BlockReader.parse(block, {
      path: '(block being built)',
      offsetBytes: 0,
    }).iterator();
    let entryCount = 0;
    for (iterator.seekFirst(); iterator.valid(); iterator.next()) entryCount++;
    assert(entryCount === this.entryCountValue, 'a built block reads back every entry');
    iterator.seekLast();
    const last = iterator.keyView();
    const order = compareInternalKeyRanges(
      last,
      0,
      last.length,
      this.lastKey,
      0,
      this.lastKeyLength,
    );
    assert(order === 0, 'a built block reads back its last key');
  }

  private rememberLastKey(key: Uint8Array): void {
    if (key.length > this.lastKey.length) {
      this.lastKey = new Uint8Array(Math.max(key.length, this.lastKey.length * 2));
    }
    this.lastKey.set(key, 0);
    this.lastKeyLength = key.length;
  }

  private ensureCapacity(sizeBytes: number): void {
    if (sizeBytes <= this.buffer.length) return;
    assert(sizeBytes <= 0xffffffff, 'restart offsets are u32: a block stays below 4 GiB');
    const grown = new Uint8Array(Math.max(sizeBytes, this.buffer.length * 2));
    grown.set(this.buffer.subarray(0, this.sizeBytes), 0);
    this.buffer = grown;
  }
}

function commonPrefixLength(last: Uint8Array, lastLength: number, key: Uint8Array): number {
  const limit = Math.min(lastLength, key.length);
  let length = 0;
  while (length < limit && last[length] === key[length]) length++;
  return length;
}
