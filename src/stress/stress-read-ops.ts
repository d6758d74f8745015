/**
 * A stress thread's plain reads: get and getFields of any thread's key and bounded scans over
 * any range, each checked — own keys exactly against the thread's expected state; other
 * threads' keys absent or a value that thread wrote with an opId it had issued when the read
 * returned (the shared `issued` words), and, for current reads, never an older opId than this
 * thread read there before (a key's opIds only grow: reads must not go back in time).
 *
 * Thread model: the stress thread's own; `issued` is read with Atomics (each writer stores its
 * word before it issues a write).
 */
import type { AttachedStrata } from '../db/attached.js';
import { isStrataError } from '../errors.js';
import { encodeFields } from '../fields/field-codec.js';
import type { ThreadState } from './expected-state.js';
import type { OpMix } from './op-mix.js';
import { checkScan, compareOwn, type ScanRequest } from './read-checks.js';
import type { CheckKind } from './stress-config.js';
import { checkWrittenValue, isFieldKey, parseStressKey, stressKey } from './stress-values.js';

export interface ReadOpsHost {
  readonly db: AttachedStrata;
  readonly mix: OpMix;
  readonly state: ThreadState;
  readonly keyThreads: number;
  readonly keysPerThread: number;
  /** Int32 per thread: the highest opId it has issued. */
  readonly issued: Int32Array;
  check(kind: CheckKind, count?: number): void;
  fail(detail: string): never;
}

export class StressReadOps {
  readonly #host: ReadOpsHost;
  /** Per key of another thread: the newest opId read there. */
  readonly #newestSeen = new Map<string, number>();

  constructor(host: ReadOpsHost) {
    this.#host = host;
  }

  /** A get of an own key, exactly its expected value. */
  readOwn(index: number, why: string): void {
    const { db, state } = this.#host;
    const key = state.key(index);
    this.#host.check('ownRead');
    const failure = compareOwn(key, db.get(key), state.get(index));
    if (failure !== undefined) this.#host.fail(`get ${why}: ${failure}`);
  }

  get(): void {
    const { thread, index } = this.#anyKey();
    if (thread === this.#host.state.thread) {
      this.readOwn(index, 'of an own key');
      return;
    }
    const key = stressKey(thread, index);
    const failure = this.foreign(key, this.#host.db.get(key), true);
    if (failure !== undefined) this.#host.fail(`get: ${failure}`);
  }

  /** getFields of a field key: an own record exactly, ERR_CORRUPT for a raw value there. */
  getFields(): void {
    const { db, state, keysPerThread } = this.#host;
    const { thread, index: any } = this.#anyKey();
    const index = isFieldKey(any) || any + 1 >= keysPerThread ? any : any + 1;
    const key = stressKey(thread, index);
    let bytes: Uint8Array | undefined;
    let corrupt = false;
    try {
      const fields = db.getFields(key);
      bytes = fields === undefined ? undefined : encodeFields(fields);
    } catch (error) {
      if (!isStrataError(error, 'ERR_CORRUPT')) throw error;
      corrupt = true;
    }
    if (thread !== state.thread) {
      // A raw value on a field key is ERR_CORRUPT here; read it as bytes instead.
      const failure = this.foreign(key, corrupt ? db.get(key) : bytes, true);
      if (failure !== undefined) this.#host.fail(`getFields: ${failure}`);
      return;
    }
    this.#host.check('ownRead');
    const expected = state.get(index);
    const isRecord = expected?.spec.startsWith('F.') === true && !expected.spec.includes('+');
    if (expected !== undefined && !isRecord) {
      if (!corrupt)
        this.#host.fail(`getFields ${key}: expected ERR_CORRUPT for raw ${expected.spec}`);
      return;
    }
    const failure = corrupt
      ? `${key}: ERR_CORRUPT for ${expected?.spec}`
      : compareOwn(key, bytes, expected);
    if (failure !== undefined) this.#host.fail(`getFields: ${failure}`);
  }

  iterate(): void {
    const { mix, keyThreads, keysPerThread, state } = this.#host;
    const request = mix.scan(keyThreads, keysPerThread, state.thread);
    const entries = [...this.#host.db.iterator(request)];
    this.checkScan(entries, request, state, true);
  }

  /** A scan's entries: `own` is the own state it must show; `current` unless through a snapshot. */
  checkScan(
    entries: readonly (readonly [Uint8Array, Uint8Array])[],
    request: ScanRequest,
    own: ThreadState,
    current: boolean,
  ): void {
    const result = checkScan(entries, request, {
      own,
      foreign: (key, value) => this.foreign(key, value, current),
    });
    this.#host.check(current ? 'scan' : 'snapshotRead', result.checks);
    if (result.failure !== undefined) this.#host.fail(result.failure);
  }

  /** Another thread's key: absent, or a value it wrote (issued), never older than one read before. */
  foreign(key: string, bytes: Uint8Array | undefined, current: boolean): string | undefined {
    this.#host.check('foreignRead');
    if (bytes === undefined) return undefined;
    const parsed = parseStressKey(key)!;
    const issuedMax = Atomics.load(this.#host.issued, parsed.thread);
    const checked = checkWrittenValue(key, bytes, issuedMax);
    if (checked.error !== undefined) return `${key} (thread ${parsed.thread}): ${checked.error}`;
    if (!current) return undefined;
    const newest = this.#newestSeen.get(key) ?? 0;
    if (checked.opId! < newest) return `${key}: read opId ${checked.opId} after opId ${newest}`;
    this.#newestSeen.set(key, checked.opId!);
    return undefined;
  }

  #anyKey(): { thread: number; index: number } {
    const { mix, keyThreads, keysPerThread, state } = this.#host;
    return mix.anyKey(keyThreads, keysPerThread, state.thread);
  }
}
