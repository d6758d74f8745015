/**
 * A StrataError thrown in a Piscina worker reaches the main thread through structured clone,
 * which keeps an Error's message and stack but drops its class and `code`. So the worker entry
 * (workers/blob-gc.ts) rethrows it with the code in front of the message, "[ERR_CORRUPT] corrupt
 * blob file ...", and the pool's caller turns it back into a StrataError with reviveWorkerError.
 * An error nobody revives still reads well.
 */
import { StrataError, type StrataErrorCode } from '../errors.js';

const CODE_PREFIX = /^\[(ERR_[A-Z0-9_]+)\] /;

/** In the worker: the error to throw instead of `error`, carrying its code in the message. */
export function errorForTransfer(error: unknown): unknown {
  if (!(error instanceof StrataError)) return error;
  // The cause (often a Node system error) may not survive the clone; keep what it said.
  const cause = error.cause === undefined ? '' : ` (cause: ${String(error.cause)})`;
  const transferable = new Error(`[${error.code}] ${error.message}${cause}`);
  if (error.stack !== undefined) transferable.stack = error.stack;
  return transferable;
}

/** On the pool's side: a StrataError again when `error` came from errorForTransfer. */
export function reviveWorkerError(error: unknown): unknown {
  if (error instanceof StrataError || !(error instanceof Error)) return error;
  const match = CODE_PREFIX.exec(error.message);
  if (match === null) return error;
  const code = match[1] as StrataErrorCode;
  return new StrataError(code, error.message.slice(match[0].length), { cause: error });
}
