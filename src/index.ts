/**
 * The public entry point of strata-kv. See README.md for the API and its guarantees.
 */
export { NvmImage } from '../nvm/image.js';
export type {
  NvmBackendKind,
  NvmDurability,
  NvmHandle,
  NvmOpenOptions,
  NvmStats,
} from '../nvm/types.js';
export {
  type BatchOp,
  type IteratorOptions,
  Strata,
  StrataIterator,
  type StrataOptions,
  StrataSnapshot,
  type StrataStats,
} from './db/strata.js';
export {
  PmEHash,
  type PmEHashHandle,
  type PmEHashOptions,
  type PmEHashStats,
} from './ehash/pm-ehash.js';
export { isStrataError, StrataError, type StrataErrorCode } from './errors.js';
