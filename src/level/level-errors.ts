/**
 * Errors StrataLevel raises itself, in abstract-level's style: an Error with a stable `code`
 * (abstract-level's `LEVEL_*` codes where one fits) and the Strata error as `cause`. Errors about
 * state (not open, iterator closed, snapshot closed) come from abstract-level, never from here.
 */
import { isStrataError, type StrataErrorCode } from '../errors.js';

export type StrataLevelErrorCode =
  | 'LEVEL_INVALID_KEY' // a key above maxKeyBytes
  | 'LEVEL_INVALID_VALUE' // a value above maxValueBytes
  | 'LEVEL_CORRUPTION'
  | 'LEVEL_IO_ERROR'
  | 'LEVEL_LOCKED' // another process has the database open
  | 'LEVEL_DATABASE_NOT_OPEN'
  | 'LEVEL_SNAPSHOT_NOT_OPEN' // an iterator read from a snapshot closed before it was created
  | 'LEVEL_DATABASE_MISSING' // open() with createIfMissing: false found no database
  | 'LEVEL_DATABASE_EXISTS' // open() with errorIfExists: true found one
  | 'LEVEL_ABORTED';

export class StrataLevelError extends Error {
  readonly code: StrataLevelErrorCode;

  constructor(code: StrataLevelErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'StrataLevelError';
  }
}

/** What an iterator call rejects with once its `signal` aborted (abstract-level's shape). */
export class AbortError extends Error {
  readonly code = 'LEVEL_ABORTED';

  constructor(options?: ErrorOptions) {
    super('Operation has been aborted', options);
    this.name = 'AbortError';
  }
}

const LEVEL_CODES: Partial<Record<StrataErrorCode, StrataLevelErrorCode>> = {
  ERR_KEY_TOO_LARGE: 'LEVEL_INVALID_KEY',
  ERR_VALUE_TOO_LARGE: 'LEVEL_INVALID_VALUE',
  ERR_CORRUPT: 'LEVEL_CORRUPTION',
  ERR_IO: 'LEVEL_IO_ERROR',
  ERR_LOCKED: 'LEVEL_LOCKED',
  ERR_CLOSED: 'LEVEL_DATABASE_NOT_OPEN',
};

/**
 * A Strata error with an abstract-level counterpart becomes a StrataLevelError wrapping it;
 * every other error (the rest of the ERR_* codes, assertions) passes through unchanged.
 */
export function toLevelError(error: unknown): unknown {
  if (!isStrataError(error)) return error;
  const code = LEVEL_CODES[error.code];
  return code === undefined ? error : new StrataLevelError(code, error.message, { cause: error });
}

/** For `.catch()`: rethrows `error` as toLevelError maps it. */
export function rethrowAsLevelError(error: unknown): never {
  throw toLevelError(error);
}
