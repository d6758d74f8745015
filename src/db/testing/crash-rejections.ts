/**
 * Unhandled rejections during crash tests. Strata drops a flushed memtable from a detached
 * promise callback (`memtableUnpinned.then(...)` in strata.ts), so when that drop's persist
 * fails, here because the injected crash killed the image, the error becomes an unhandled
 * rejection (bug, see the report of issue #3: a real ERR_IO there would end the process). After a
 * crash that is only noise of a process that is dead anyway, so `CrashRejections` counts the ones
 * that carry ERR_CRASH_INJECTED and hands every other one to the listeners vitest installed.
 */
import { isStrataError } from '../../errors.js';

type Listener = (reason: unknown, promise: Promise<unknown>) => void;

export class CrashRejections {
  /** Rejections with ERR_CRASH_INJECTED that nobody handled. */
  crashed = 0;
  /** Every other unhandled rejection, also passed on to the previous listeners. */
  readonly others: unknown[] = [];
  #previous: Listener[] = [];
  readonly #listener: Listener = (reason, promise) => {
    if (isStrataError(reason, 'ERR_CRASH_INJECTED')) {
      this.crashed++;
      return;
    }
    this.others.push(reason);
    for (const listener of this.#previous) listener(reason, promise);
  };

  /** Replaces the process's unhandledRejection listeners until `uninstall()`. */
  install(): void {
    this.#previous = process.listeners('unhandledRejection') as Listener[];
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', this.#listener);
  }

  uninstall(): void {
    process.off('unhandledRejection', this.#listener);
    for (const listener of this.#previous) process.on('unhandledRejection', listener);
    this.#previous = [];
  }
}
