/**
 * What this process hands to write system calls, from Linux's `/proc/self/io` (`wchar`: bytes
 * passed to write, pwrite, writev and friends by every thread of the process, whether or not they
 * reached the disk yet). bench/append.ts and bench/ycsb-blob.ts use it to compare engines whose
 * own counters differ or do not exist. Stores into a mapped file (Strata's NVM memtable) are not
 * system calls and do not show up here; the engine's stats count those.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const SETTLE_POLL_MS = 50;
/** Polls in a row without a new write before the process counts as quiet. */
const SETTLE_QUIET_POLLS = 3;
const SETTLE_POLLS_MAX = 400;

/** `wchar` of this process, or undefined where /proc/self/io does not exist (not Linux). */
export function readWriteChars(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/io', 'latin1');
  } catch {
    return undefined;
  }
  const match = /^wchar:\s*(\d+)$/m.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Waits until no thread of the process has written for SETTLE_QUIET_POLLS polls (or 20 s have
 * passed), so background work one store started (LevelDB compactions, Strata flushes) is counted
 * in that store's figures and not in the next one's. `busy` reports work a store knows of that
 * has not written yet. Returns the milliseconds waited.
 */
/**
 * A full collection, so a round does not pay for the garbage (and the concurrent marking on the
 * other core) that the previous store's round left: the read-modify-write stores allocate a
 * 100+ KiB array per operation, and the in-place rounds that followed them ran at half speed.
 * `gc` comes from V8's --expose-gc, switched on here for a fresh context.
 */
export function collectGarbage(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

let gc: (() => void) | undefined;

export async function waitUntilWritesSettle(busy: () => boolean = () => false): Promise<number> {
  const startedMs = performance.now();
  let last = readWriteChars();
  let quiet = 0;
  for (let poll = 0; poll < SETTLE_POLLS_MAX && quiet < SETTLE_QUIET_POLLS; poll++) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    const now = readWriteChars();
    quiet = now === last && !busy() ? quiet + 1 : 0;
    last = now;
  }
  return performance.now() - startedMs;
}
