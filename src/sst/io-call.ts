/**
 * Runs one synchronous file-system call and turns its failure into ERR_IO naming the table, with
 * the original error as `cause`.
 */
import { StrataError } from '../errors.js';

export function ioCall<T>(path: string, what: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw new StrataError('ERR_IO', `cannot ${what} table ${path}`, { cause: error });
  }
}
