/**
 * One block that block-builder.ts wrote, parsed for reading (layout in FORMAT.md, "Block"). Parse
 * checks and decodes the restart array; entries are checked by `BlockIterator`
 * (block-iterator.ts) as it reaches them.
 *
 *   +---------+-----+-----------+-----------+-----+-------------+---------------+
 *   | entry 0 | ... | entry m-1 | restart 0 | ... | restart r-1 | restart count |
 *   +---------+-----+-----------+-----------+-----+-------------+---------------+
 *   ^ restart 0 = 0              ^ restartsOffset: entries end here
 *
 * Thread model: a BlockReader is immutable and may sit in the block cache, shared by every
 * iterator of its thread.
 */
import { BlockIterator } from './block-iterator.js';
import { type BlockLocation, corruptionError } from './corruption.js';
import { TRAILER_BYTES } from './internal-key.js';
import { readU32 } from './table-format.js';

export class BlockReader {
  /** The block without its trailer. Never written after parse: cached views stay valid. */
  readonly bytes: Uint8Array;
  readonly location: BlockLocation;
  /** Where the restart array starts, which is also where the entries end. */
  readonly restartsOffset: number;
  /** The restart array, decoded once at parse: seeks and prev() read it constantly. */
  readonly restarts: Uint32Array;

  private constructor(bytes: Uint8Array, location: BlockLocation, restarts: Uint32Array) {
    this.bytes = bytes;
    this.location = location;
    this.restarts = restarts;
    this.restartsOffset = bytes.length - 4 * (restarts.length + 1);
  }

  /** Checks the restart array; entries are checked as iterators reach them. */
  static parse(bytes: Uint8Array, location: BlockLocation): BlockReader {
    if (bytes.length < 4) throw corruptionError(location, `block of ${bytes.length} bytes`);
    const restartCount = readU32(bytes, bytes.length - 4);
    // At least one entry of at least 3 header bytes and an 8-byte key precedes the restarts.
    const restartCountMax = Math.floor((bytes.length - 4 - 3 - TRAILER_BYTES) / 4);
    if (restartCount < 1 || restartCount > restartCountMax) {
      throw corruptionError(
        location,
        `restart count ${restartCount} in a ${bytes.length}-byte block`,
      );
    }
    const restartsOffset = bytes.length - 4 * (restartCount + 1);
    const restarts = new Uint32Array(restartCount);
    let previous = -1;
    for (let index = 0; index < restartCount; index++) {
      const restart = readU32(bytes, restartsOffset + 4 * index);
      const first = index === 0;
      if ((first && restart !== 0) || restart <= previous || restart >= restartsOffset) {
        throw corruptionError(location, `restart ${index} at entry offset ${restart}`);
      }
      restarts[index] = restart;
      previous = restart;
    }
    return new BlockReader(bytes, location, restarts);
  }

  get restartCount(): number {
    return this.restarts.length;
  }

  /** What the block costs in memory: its bytes and its decoded restart array. */
  get sizeBytes(): number {
    return this.bytes.length + this.restarts.byteLength;
  }

  iterator(): BlockIterator {
    return new BlockIterator(this);
  }
}
