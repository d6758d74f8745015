/**
 * The 5 bytes after every block: how it is compressed and a checksum. FORMAT.md, "Block trailer".
 *
 *   +--------------------------+----------------+------------------------------+
 *   | block contents (n bytes) | compression u8 | masked CRC32C u32 LE         |
 *   +--------------------------+----------------+------------------------------+
 *   <------------- CRC32C covers these n + 1 bytes ------------>
 *
 * The CRC is masked as LevelDB masks it (table-format.ts). Format version 1 writes compression 0
 * (none) only; a reader refuses any other type as corrupt rather than guess.
 */
import { crc32c } from '../../nvm/crc32c.js';
import { assert } from '../assert.js';
import { type BlockLocation, corruptionError } from './corruption.js';
import {
  BLOCK_TRAILER_BYTES,
  COMPRESSION_NONE,
  maskCrc,
  readU32,
  unmaskCrc,
  writeU32,
} from './table-format.js';

/**
 * Writes the trailer for buffer[contentsStart, contentsEnd) at contentsEnd.
 * Requires: BLOCK_TRAILER_BYTES free bytes at contentsEnd.
 */
export function writeBlockTrailer(
  buffer: Uint8Array,
  contentsStart: number,
  contentsEnd: number,
): void {
  assert(contentsStart <= contentsEnd);
  assert(contentsEnd + BLOCK_TRAILER_BYTES <= buffer.length, 'no room for the block trailer');
  buffer[contentsEnd] = COMPRESSION_NONE;
  const crc = crc32c(buffer, contentsStart, contentsEnd + 1);
  writeU32(buffer, contentsEnd + 1, maskCrc(crc));
}

/**
 * Checks the trailer at the end of `stored` (contents + trailer, as read from the file) and returns
 * a view of the contents. `location` names the block's offset for errors.
 */
export function checkBlockTrailer(stored: Uint8Array, location: BlockLocation): Uint8Array {
  if (stored.length < BLOCK_TRAILER_BYTES) {
    throw corruptionError(location, `block of ${stored.length} bytes has no trailer`);
  }
  const contentsEnd = stored.length - BLOCK_TRAILER_BYTES;
  const expected = unmaskCrc(readU32(stored, contentsEnd + 1));
  const actual = crc32c(stored, 0, contentsEnd + 1);
  if (actual !== expected) {
    throw corruptionError(
      location,
      `block checksum mismatch (stored ${hex32(expected)}, computed ${hex32(actual)})`,
    );
  }
  const compression = stored[contentsEnd]!;
  if (compression !== COMPRESSION_NONE) {
    throw corruptionError(location, `unknown compression type ${compression}`);
  }
  return stored.subarray(0, contentsEnd);
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
