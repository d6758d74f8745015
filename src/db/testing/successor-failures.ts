import { isStrataError } from '../../errors.js';

/**
 * Known bug, kept out of the failures here (see the report): when the active blob file is full,
 * `BlobStore.separate` starts its successor with `void this.ensureActive().catch(...)`, but
 * ensureActive returns a resolved promise while a full active file exists, and the
 * `#createActive().finally(...)` promise it keeps rejects unhandled when the creation fails (the
 * database closed meanwhile: ERR_CLOSED; a catalog failure: ERR_IO). Node ends the process on it.
 * Counts those rejections and hands every other one to the listeners installed before.
 */
export class SuccessorFailures {
  count = 0;
  #previous: ((reason: unknown, promise: Promise<unknown>) => void)[] = [];
  readonly #listener = (reason: unknown, promise: Promise<unknown>): void => {
    const stack = reason instanceof Error ? (reason.stack ?? '') : '';
    if (isStrataError(reason, 'ERR_CLOSED') && stack.includes('createActive')) {
      this.count++;
      return;
    }
    for (const listener of this.#previous) listener(reason, promise);
  };

  install(): void {
    this.#previous = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', this.#listener);
  }

  uninstall(): void {
    process.off('unhandledRejection', this.#listener);
    for (const listener of this.#previous) process.on('unhandledRejection', listener);
  }
}
