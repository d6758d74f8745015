/**
 * Index keys. The index holds, per data block, a key that is >= every key of the block and <
 * every key of the next block. Any such key works; a short one keeps the index small, so the
 * writer shortens the user key as LevelDB's FindShortestSeparator and FindShortSuccessor do and
 * gives it the seek trailer (SEQ_MAX, KIND_SEEK): the smallest internal key of that user key.
 *
 *   last key of block   "apple"#7      next block's first  "cherry"#3
 *   separator           "b" + (SEQ_MAX, KIND_SEEK)          ("apple" < "b" < "cherry")
 *
 * When nothing shorter is safe (one user key is a prefix of the other, or the bytes are adjacent),
 * the separator is the block's last key itself.
 */
import { assert } from '../assert.js';
import {
  compareInternalKeys,
  KIND_SEEK,
  SEQ_MAX,
  TRAILER_BYTES,
  userKeyOf,
  writeTrailer,
} from './internal-key.js';

/** Requires: lastKey < nextKey (internal order). Returns a new array. */
export function shortestSeparator(lastKey: Uint8Array, nextKey: Uint8Array): Uint8Array {
  assert(compareInternalKeys(lastKey, nextKey) < 0, 'separator needs lastKey < nextKey');
  const last = userKeyOf(lastKey);
  const next = userKeyOf(nextKey);
  const commonLimit = Math.min(last.length, next.length);
  let differAt = 0;
  while (differAt < commonLimit && last[differAt] === next[differAt]) differAt++;
  if (differAt >= commonLimit) return lastKey.slice(); // one user key is a prefix of the other
  const lastByte = last[differAt]!;
  if (lastByte >= 0xff || lastByte + 1 >= next[differAt]!) return lastKey.slice();
  if (differAt + 1 >= last.length) return lastKey.slice(); // would not be shorter
  const separator = withSeekTrailer(last, differAt + 1);
  separator[differAt] = lastByte + 1;
  assert(compareInternalKeys(lastKey, separator) < 0);
  assert(compareInternalKeys(separator, nextKey) < 0);
  return separator;
}

/** A short key >= lastKey, for the last block of a table. Returns a new array. */
export function shortSuccessor(lastKey: Uint8Array): Uint8Array {
  const last = userKeyOf(lastKey);
  for (let index = 0; index < last.length; index++) {
    const byte = last[index]!;
    if (byte === 0xff) continue;
    if (index + 1 >= last.length) return lastKey.slice(); // would not be shorter
    const successor = withSeekTrailer(last, index + 1);
    successor[index] = byte + 1;
    assert(compareInternalKeys(lastKey, successor) < 0);
    return successor;
  }
  return lastKey.slice(); // all 0xff: nothing shorter is greater
}

/** The first `userKeyLength` bytes of userKey followed by the seek trailer. */
function withSeekTrailer(userKey: Uint8Array, userKeyLength: number): Uint8Array {
  const key = new Uint8Array(userKeyLength + TRAILER_BYTES);
  key.set(userKey.subarray(0, userKeyLength), 0);
  writeTrailer(key, userKeyLength, SEQ_MAX, KIND_SEEK);
  return key;
}
