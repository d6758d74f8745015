/**
 * The fixed 64 bytes at the end of every table: where the index, filter and properties blocks
 * are, the format version, a checksum and the magic. FORMAT.md, "Footer".
 *
 *   byte  0        8        16       24       32       40       48      52      56         64
 *        +--------+--------+--------+--------+--------+--------+-------+-------+----------+
 *        | index  | index  | filter | filter | props  | props  | fmt   | crc   | magic    |
 *        | offset | size   | offset | size   | offset | size   | ver   | u32   | STRATSST |
 *        +--------+--------+--------+--------+--------+--------+-------+-------+----------+
 *          u64 LE each (sizes exclude the 5-byte block trailer)   u32 LE  masked CRC32C of
 *                                                                         bytes 0..51
 *
 * The last 16 bytes (version, crc, magic) keep their places in every format version, so any
 * reader can tell a foreign file (magic) from a newer table (version) before trusting the rest.
 */
import { crc32c } from '../../nvm/crc32c.js';
import { assert } from '../assert.js';
import type { BlockHandle } from './block-handle.js';
import { type BlockLocation, corruptionError } from './corruption.js';
import {
  FOOTER_BYTES,
  maskCrc,
  readU32,
  readU64,
  TABLE_FORMAT_VERSION,
  TABLE_MAGIC,
  type U32,
  writeU32,
  writeU64,
} from './table-format.js';

const VERSION_OFFSET = 48;
const CRC_OFFSET = 52;
const MAGIC_OFFSET = 56;

export interface Footer {
  readonly index: BlockHandle;
  readonly filter: BlockHandle;
  readonly properties: BlockHandle;
  readonly formatVersion: U32;
  /** The stored (masked) footer CRC; it identifies the table's layout for the block cache. */
  readonly crc: U32;
}

export function encodeFooter(handles: Omit<Footer, 'formatVersion' | 'crc'>): Uint8Array {
  const bytes = new Uint8Array(FOOTER_BYTES);
  const order = [handles.index, handles.filter, handles.properties];
  order.forEach((handle, position) => {
    writeU64(bytes, position * 16, handle.offsetBytes);
    writeU64(bytes, position * 16 + 8, handle.sizeBytes);
  });
  writeU32(bytes, VERSION_OFFSET, TABLE_FORMAT_VERSION);
  writeU32(bytes, CRC_OFFSET, maskCrc(crc32c(bytes, 0, CRC_OFFSET)));
  bytes.set(TABLE_MAGIC, MAGIC_OFFSET);
  return bytes;
}

/** Decodes the last FOOTER_BYTES of a table; `location` names the footer's offset in the file. */
export function decodeFooter(bytes: Uint8Array, location: BlockLocation): Footer {
  assert(bytes.length === FOOTER_BYTES);
  for (let index = 0; index < TABLE_MAGIC.length; index++) {
    if (bytes[MAGIC_OFFSET + index] !== TABLE_MAGIC[index]) {
      throw corruptionError(location, 'bad magic: not a Strata sorted table');
    }
  }
  const formatVersion = readU32(bytes, VERSION_OFFSET);
  if (formatVersion > TABLE_FORMAT_VERSION) {
    throw corruptionError(
      location,
      `newer format version ${formatVersion} (this build reads ${TABLE_FORMAT_VERSION})`,
    );
  }
  if (formatVersion !== TABLE_FORMAT_VERSION) {
    throw corruptionError(location, `unknown format version ${formatVersion}`);
  }
  const crc = readU32(bytes, CRC_OFFSET);
  if (crc !== maskCrc(crc32c(bytes, 0, CRC_OFFSET))) {
    throw corruptionError(location, 'footer checksum mismatch');
  }
  const handle = (position: number): BlockHandle => {
    const offsetBytes = readU64(bytes, position * 16);
    const sizeBytes = readU64(bytes, position * 16 + 8);
    if (offsetBytes < 0 || sizeBytes < 0)
      throw corruptionError(location, 'footer handle above 2^53');
    return { offsetBytes, sizeBytes };
  };
  return { index: handle(0), filter: handle(1), properties: handle(2), formatVersion, crc };
}

assert(MAGIC_OFFSET + TABLE_MAGIC.length === FOOTER_BYTES);
assert(VERSION_OFFSET === 3 * 16 && CRC_OFFSET === VERSION_OFFSET + 4);
