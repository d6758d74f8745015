/**
 * Typed errors. Expected failures (bad input, I/O, corruption, closed, full, busy) are
 * `StrataError`s with a stable `code`; broken invariants are assertions (see assert.ts) and crash.
 * Codes are part of the public API: never rename one, only add.
 */
export type StrataErrorCode =
  | 'ERR_INVALID_ARGUMENT' // wrong type or shape of an argument or option
  | 'ERR_KEY_RANGE' // an integer key outside [0, 2^64) or not an integer
  | 'ERR_KEY_TOO_LARGE' // a key longer than the database's maxKeyBytes
  | 'ERR_VALUE_TOO_LARGE' // a value longer than the database's maxValueBytes
  | 'ERR_VALUE_RANGE' // an integer value outside [0, 2^64) or not an integer
  | 'ERR_NVM_FULL' // the NVM image reached its configured size limit
  | 'ERR_NVM_FOREIGN' // the file is not a Strata NVM image (bad magic)
  | 'ERR_NVM_VERSION' // the image was written by a newer format version
  | 'ERR_NVM_TRUNCATED' // the image file is shorter than its superblock says
  | 'ERR_CORRUPT' // a checksum or structural check failed; the message names file and offset
  | 'ERR_CLOSED' // the store or handle was closed
  | 'ERR_BUSY' // a lock or seqlock did not settle within its bound
  | 'ERR_LOCKED' // another process holds the store
  | 'ERR_IO' // an operating-system I/O call failed; `cause` holds the original error
  | 'ERR_CRASH_INJECTED' // test hook: the emulated backend simulated a crash at a persist point
  | 'ERR_CONFLICT' // a metadata operation was invalidated by a newer catalog snapshot; nothing changed
  | 'ERR_FORMAT_VERSION' // a persisted file (catalog, manifest, …) is from a newer format version
  | 'ERR_INDEX_EXISTS' // createIndex of a field that already has an index
  | 'ERR_INDEX_NOT_FOUND' // a drop or query of a field that has no index
  | 'ERR_INDEX_BUILDING' // a query on an index still being built, when the caller asked not to wait
  | 'ERR_WORKLOAD'; // a YCSB workload file could not be parsed

export class StrataError extends Error {
  readonly code: StrataErrorCode;

  constructor(code: StrataErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'StrataError';
  }
}

export function isStrataError(error: unknown, code?: StrataErrorCode): error is StrataError {
  return error instanceof StrataError && (code === undefined || error.code === code);
}
