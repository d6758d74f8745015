/**
 * A stress thread's snapshots: it keeps up to SNAPSHOTS_OPEN_MAX open, each with a copy of the
 * thread's own expected state when it was taken (no own write is in flight then, so that copy is
 * exactly what the snapshot must show of the own keys, however many writes follow). Reads
 * through one — get of an own or another thread's key, a scan of own keys through
 * `snapshot.iterator` or `db.iterator({ snapshot })` — are checked against it. Each is released
 * after a random number of operations; now and then a read through a released one must fail
 * ERR_CLOSED.
 *
 * Thread model: the stress thread's own.
 */
import type { AttachedStrata } from '../db/attached.js';
import type { StrataSnapshot } from '../db/strata.js';
import { isStrataError } from '../errors.js';
import type { ThreadState } from './expected-state.js';
import type { OpMix } from './op-mix.js';
import { compareOwn, type ScanRequest } from './read-checks.js';
import type { CheckKind } from './stress-config.js';
import { parseStressKey, stressKey } from './stress-values.js';

const SNAPSHOTS_OPEN_MAX = 4;
const SNAPSHOT_LIFE_OPS_MAX = 60;

export interface SnapshotOpsHost {
  readonly db: AttachedStrata;
  readonly mix: OpMix;
  /** The thread's own expected state, now. */
  readonly state: ThreadState;
  readonly keyThreads: number;
  readonly keysPerThread: number;
  check(kind: CheckKind): void;
  fail(detail: string): never;
  /** Another thread's key read through a snapshot: a value it wrote, or absent. */
  foreign(key: string, bytes: Uint8Array | undefined): string | undefined;
  checkScan(
    entries: readonly (readonly [Uint8Array, Uint8Array])[],
    request: ScanRequest,
    own: ThreadState,
  ): void;
}

interface OpenSnapshot {
  readonly snapshot: StrataSnapshot;
  readonly state: ThreadState;
  opsLeft: number;
}

export class StressSnapshotOps {
  readonly #host: SnapshotOpsHost;
  readonly #open: OpenSnapshot[] = [];

  constructor(host: SnapshotOpsHost) {
    this.#host = host;
  }

  /** Takes a snapshot (releasing the oldest when SNAPSHOTS_OPEN_MAX are open) and reads through it. */
  take(): void {
    this.#take();
  }

  /** A read through an open snapshot (one is taken if none is open). */
  read(): void {
    const { mix, state } = this.#host;
    const open = this.#open[mix.below(this.#open.length)] ?? this.#take();
    const roll = mix.below(10);
    if (roll < 5) {
      this.#getOwn(open);
      return;
    }
    if (roll < 7) {
      const key = stressKey(mix.below(this.#host.keyThreads), mix.below(this.#host.keysPerThread));
      const parsed = parseStressKey(key)!;
      const value = open.snapshot.get(key);
      this.#host.check('snapshotRead');
      const failure =
        parsed.thread === state.thread
          ? compareOwn(key, value, open.state.get(parsed.index))
          : this.#host.foreign(key, value);
      if (failure !== undefined) this.#host.fail(`snapshot get: ${failure}`);
      return;
    }
    const request = mix.ownScan(state.thread, this.#host.keysPerThread);
    const iterator = mix.chance(50)
      ? open.snapshot.iterator(request)
      : this.#host.db.iterator({ ...request, snapshot: open.snapshot });
    this.#host.checkScan([...iterator], request, open.state);
  }

  /** After each operation: releases the snapshots whose time is up. */
  expire(): void {
    for (const open of [...this.#open]) {
      if (--open.opsLeft > 0) continue;
      this.#open.splice(this.#open.indexOf(open), 1);
      open.snapshot.release();
      if (!this.#host.mix.chance(10)) continue;
      this.#host.check('snapshotRead');
      try {
        open.snapshot.get(this.#host.state.key(0));
      } catch (error) {
        if (isStrataError(error, 'ERR_CLOSED')) continue;
        throw error;
      }
      this.#host.fail('get through a released snapshot succeeded');
    }
  }

  releaseAll(): void {
    for (const open of this.#open.splice(0)) open.snapshot.release();
  }

  #take(): OpenSnapshot {
    if (this.#open.length >= SNAPSHOTS_OPEN_MAX) this.#open.shift()!.snapshot.release();
    const open = {
      snapshot: this.#host.db.snapshot(),
      state: this.#host.state.clone(),
      opsLeft: 1 + this.#host.mix.below(SNAPSHOT_LIFE_OPS_MAX),
    };
    this.#open.push(open);
    this.#getOwn(open);
    return open;
  }

  #getOwn(open: OpenSnapshot): void {
    const index = this.#host.mix.below(this.#host.keysPerThread);
    const key = open.state.key(index);
    this.#host.check('snapshotRead');
    const failure = compareOwn(key, open.snapshot.get(key), open.state.get(index));
    if (failure !== undefined) this.#host.fail(`snapshot get: ${failure}`);
  }
}
