/**
 * The one way sst/ reports a damaged table: ERR_CORRUPT naming the file and the byte offset of the
 * block (or footer) that failed, so an operator can find it with a hex dump.
 */
import { StrataError } from '../errors.js';

/** Where a block sits, carried by readers so that every check can name it. */
export interface BlockLocation {
  readonly path: string;
  readonly offsetBytes: number;
}

export function corruptionError(location: BlockLocation, detail: string): StrataError {
  return new StrataError(
    'ERR_CORRUPT',
    `corrupt table ${location.path} at byte ${location.offsetBytes}: ${detail}`,
  );
}
