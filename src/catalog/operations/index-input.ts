/**
 * Checks of the index names and ids that index operations take from their callers
 * (ERR_INVALID_ARGUMENT, before anything is queued).
 */
import { INDEX_ID_MAX } from '../catalog-state.js';
import { invalid } from './table-properties.js';

/** Names are stored as a string field: a u16 byte length, then UTF-8 (FORMAT.md). */
const INDEX_NAME_BYTES_MAX = 0xffff;

export function checkIndexName(name: string, what: string): void {
  if (typeof name !== 'string' || name.length === 0 || !name.isWellFormed()) {
    invalid(`${what} must be a non-empty, well-formed string`);
  }
  if (Buffer.byteLength(name, 'utf8') > INDEX_NAME_BYTES_MAX) {
    invalid(`${what} is longer than ${INDEX_NAME_BYTES_MAX} UTF-8 bytes`);
  }
}

export function checkIndexId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 1 || id > INDEX_ID_MAX) {
    invalid(`${what} must be an integer index id in [1, ${INDEX_ID_MAX}]`);
  }
}
