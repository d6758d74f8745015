/**
 * A block handle names a block's place in its file: the offset of its first byte and its size
 * without the 5-byte trailer. Index entries hold handles as two varint64s (FORMAT.md, "Index
 * block"); the footer holds them as fixed u64 pairs (footer.ts).
 *
 *   +--------------------+------------------+
 *   | offset varint64    | size varint64    |     at most 20 bytes
 *   +--------------------+------------------+
 */
import { type BlockLocation, corruptionError } from './corruption.js';
import type { U64 } from './table-format.js';
import {
  type ByteCursor,
  decodeVarint64,
  encodeVarint64,
  VARINT64_BYTES_MAX,
  varint64Length,
} from './varint.js';

export interface BlockHandle {
  readonly offsetBytes: U64;
  readonly sizeBytes: U64;
}

export const BLOCK_HANDLE_BYTES_MAX = 2 * VARINT64_BYTES_MAX;

export function encodeBlockHandle(handle: BlockHandle): Uint8Array {
  const bytes = new Uint8Array(
    varint64Length(handle.offsetBytes) + varint64Length(handle.sizeBytes),
  );
  const end = encodeVarint64(bytes, encodeVarint64(bytes, 0, handle.offsetBytes), handle.sizeBytes);
  return bytes.subarray(0, end);
}

/**
 * Decodes a handle that must fill `bytes` exactly. `location` names the block holding it (the
 * index block) for the error message.
 */
export function decodeBlockHandle(bytes: Uint8Array, location: BlockLocation): BlockHandle {
  const cursor: ByteCursor = { offset: 0 };
  const offsetBytes = decodeVarint64(bytes, cursor, bytes.length);
  const sizeBytes = offsetBytes < 0 ? -1 : decodeVarint64(bytes, cursor, bytes.length);
  if (sizeBytes < 0 || cursor.offset !== bytes.length) {
    throw corruptionError(location, `malformed block handle of ${bytes.length} bytes`);
  }
  return { offsetBytes, sizeBytes };
}
