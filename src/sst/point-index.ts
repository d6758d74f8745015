/**
 * A table's index decoded once for point reads: each data block's separator key and place, plus
 * a number per separator that lets a get binary-search a Float64Array instead of comparing byte
 * arrays. Iterators still walk the index block itself (table-iterator.ts).
 *
 * The numbers: a separator between two blocks lies within the table's keys, so all but the last
 * start with the common user-key prefix of the first and the second-to-last separator. The last
 * one may not (LevelDB shortens it to a successor of the table's last key, `user9…` to `v`); if
 * not, it is above every key with that prefix, and its number is +Infinity. The 6 bytes after the
 * prefix, read as a big-endian integer with missing bytes as 0, never decrease from one
 * separator to the next (a shorter key that is a prefix of a longer one maps to a number no
 * larger). So a target whose number is t lies after every separator whose number is below t and
 * before every one whose number is above it; only the separators whose number equals t need a
 * full key comparison, itself a binary search.
 *
 * Thread model: owned by one TableReader, on one thread.
 */
import { assert, invariantsEnabled } from '../assert.js';
import { type BlockHandle, decodeBlockHandle } from './block-handle.js';
import type { BlockIterator } from './block-iterator.js';
import type { BlockLocation } from './corruption.js';
import { compareBytes, compareInternalKeys, TRAILER_BYTES } from './internal-key.js';

/** 6 bytes keep the numbers exact in a double (below 2^53). */
const PREFIX_NUMBER_BYTES = 6;

export class PointIndex {
  readonly count: number;
  private readonly keys: Uint8Array[];
  private readonly offsets: Float64Array;
  private readonly sizes: Float64Array;
  private readonly numbers: Float64Array;
  /** The user-key prefix all separators share. */
  private readonly common: Uint8Array;

  private constructor(keys: Uint8Array[], offsets: Float64Array, sizes: Float64Array) {
    this.count = keys.length;
    this.keys = keys;
    this.offsets = offsets;
    this.sizes = sizes;
    this.common = commonUserKeyPrefix(keys);
    this.numbers = new Float64Array(keys.length);
    const prefixLength = this.common.length;
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index]!;
      const userKeyLength = key.length - TRAILER_BYTES;
      const shares =
        userKeyLength >= prefixLength &&
        compareBytes(key, 0, prefixLength, this.common, 0, prefixLength) === 0;
      assert(shares || index === keys.length - 1, 'only the last separator leaves the prefix');
      this.numbers[index] = shares
        ? prefixNumber(key, userKeyLength, prefixLength)
        : Number.POSITIVE_INFINITY;
    }
    for (let index = 1; invariantsEnabled && index < keys.length; index++) {
      assert(this.numbers[index - 1]! <= this.numbers[index]!, 'separator numbers are sorted');
    }
  }

  /**
   * Decodes every entry of an index block. A malformed handle is ERR_CORRUPT at `location`.
   * Requires: the entries' keys are sorted internal keys (the index block was checked).
   */
  static decode(iterator: BlockIterator, location: BlockLocation): PointIndex {
    const keys: Uint8Array[] = [];
    const offsets: number[] = [];
    const sizes: number[] = [];
    for (iterator.seekFirst(); iterator.valid(); iterator.next()) {
      const handle = decodeBlockHandle(iterator.value(), location);
      keys.push(iterator.key().slice());
      offsets.push(handle.offsetBytes);
      sizes.push(handle.sizeBytes);
    }
    return new PointIndex(keys, Float64Array.from(offsets), Float64Array.from(sizes));
  }

  /** From separators (sorted internal keys) and their blocks' handles. */
  static of(keys: readonly Uint8Array[], handles: readonly BlockHandle[]): PointIndex {
    assert(keys.length === handles.length, 'a handle per separator');
    return new PointIndex(
      [...keys],
      Float64Array.from(handles, (handle) => handle.offsetBytes),
      Float64Array.from(handles, (handle) => handle.sizeBytes),
    );
  }

  /** The position of the first separator >= target (an internal key), or count if none is. */
  search(target: Uint8Array): number {
    assert(target.length >= TRAILER_BYTES, 'search target is an internal key');
    const count = this.count;
    if (count === 0) return 0;
    const common = this.common;
    const userKeyLength = target.length - TRAILER_BYTES;
    const shared = Math.min(userKeyLength, common.length);
    const byPrefix = compareBytes(target, 0, shared, common, 0, shared);
    if (byPrefix < 0) return 0;
    if (byPrefix > 0) {
      // Above every separator but perhaps the last, which may have left the prefix.
      return compareInternalKeys(this.keys[count - 1]!, target) >= 0 ? count - 1 : count;
    }
    if (userKeyLength < common.length) return 0; // a proper prefix of every separator
    const number = prefixNumber(target, userKeyLength, common.length);
    const numbers = this.numbers;
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (numbers[middle]! < number) low = middle + 1;
      else high = middle;
    }
    let tiesEnd = low;
    high = count;
    while (tiesEnd < high) {
      const middle = (tiesEnd + high) >>> 1;
      if (numbers[middle]! <= number) tiesEnd = middle + 1;
      else high = middle;
    }
    // Separators in [low, tiesEnd) share the target's number: compare them in full.
    high = tiesEnd;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareInternalKeys(this.keys[middle]!, target) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Requires: 0 <= position < count. */
  offsetBytes(position: number): number {
    return this.offsets[position]!;
  }

  /** Requires: 0 <= position < count. */
  sizeBytes(position: number): number {
    return this.sizes[position]!;
  }
}

function commonUserKeyPrefix(keys: readonly Uint8Array[]): Uint8Array {
  if (keys.length === 0) return new Uint8Array(0);
  const first = keys[0]!;
  const last = keys[Math.max(0, keys.length - 2)]!;
  const limit = Math.min(first.length, last.length) - TRAILER_BYTES;
  let length = 0;
  while (length < limit && first[length] === last[length]) length++;
  return first.slice(0, length);
}

/** The PREFIX_NUMBER_BYTES bytes of key[start, userKeyEnd) as a big-endian number, 0-padded. */
function prefixNumber(key: Uint8Array, userKeyEnd: number, start: number): number {
  let number = 0;
  for (let index = start; index < start + PREFIX_NUMBER_BYTES; index++) {
    number = number * 256 + (index < userKeyEnd ? key[index]! : 0);
  }
  return number;
}
