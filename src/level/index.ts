/**
 * `strata-kv/level`: Strata behind the abstract-level interface. See README.md beside this file.
 */
export type { LevelEncoded, LevelFormat } from './key-space.js';
export { AbortError, StrataLevelError, type StrataLevelErrorCode } from './level-errors.js';
export { StrataLevel, type StrataLevelOptions } from './strata-level.js';
export {
  StrataLevelIterator,
  StrataLevelKeyIterator,
  StrataLevelValueIterator,
} from './strata-level-iterator.js';
export { StrataLevelSnapshot } from './strata-level-snapshot.js';
