/**
 * A stress thread's index operations. Each indexed field has one owner thread (stress-config.ts
 * `ownedFields`): only it creates and drops that index, so it knows at every moment whether the
 * index exists — createIndex must succeed when it does not and fail ERR_INDEX_EXISTS when it
 * does, dropIndex the other way round, queries must succeed exactly while it exists, and
 * listIndexes must agree. Other threads query every field and accept ERR_INDEX_NOT_FOUND.
 *
 * A query's result is checked on the thread's own keys: no own write is in flight while the
 * thread awaits it, and a query that succeeds reads one whole index (a building index is waited
 * for; a dropped one is refused), so the own keys in it are exactly the own records that match
 * (read-checks.ts `checkIndexResult`), however the other threads write and the owners create
 * and drop meanwhile.
 *
 * Thread model: the stress thread's own.
 */
import type { AttachedStrata } from '../db/attached.js';
import { isStrataError } from '../errors.js';
import type { ThreadState } from './expected-state.js';
import type { OpMix } from './op-mix.js';
import { checkIndexResult, ownIndexEntries } from './read-checks.js';
import { type CheckKind, INDEX_FIELDS } from './stress-config.js';
import { randomFieldValue } from './stress-values.js';

export interface IndexOpsHost {
  readonly db: AttachedStrata;
  readonly mix: OpMix;
  readonly state: ThreadState;
  readonly thread: number;
  readonly ownedFields: readonly string[];
  check(kind: CheckKind): void;
  accepted(): void;
  fail(detail: string): never;
}

export class StressIndexOps {
  readonly #host: IndexOpsHost;
  /** Per owned field: whether its index exists (building or ready). */
  readonly #exists = new Map<string, boolean>();

  constructor(host: IndexOpsHost) {
    this.#host = host;
  }

  /** At start: which owned indexes exist (an earlier run, or a build a crash left, made them). */
  async learnIndexes(): Promise<void> {
    const listed = new Set((await this.#host.db.listIndexes()).map((info) => info.field));
    for (const field of this.#host.ownedFields) this.#exists.set(field, listed.has(field));
  }

  async createIndex(): Promise<void> {
    const field = this.#pickOwned(false);
    const existed = this.#exists.get(field)!;
    this.#host.check('indexState');
    try {
      await this.#host.db.createIndex(field);
    } catch (error) {
      if (existed && isStrataError(error, 'ERR_INDEX_EXISTS')) return;
      this.#host.fail(`createIndex ${field} (exists: ${existed}) failed: ${String(error)}`);
    }
    if (existed) this.#host.fail(`createIndex ${field} succeeded on an existing index`);
    this.#exists.set(field, true);
  }

  async dropIndex(): Promise<void> {
    const field = this.#pickOwned(true);
    const existed = this.#exists.get(field)!;
    this.#host.check('indexState');
    try {
      await this.#host.db.dropIndex(field);
    } catch (error) {
      if (!existed && isStrataError(error, 'ERR_INDEX_NOT_FOUND')) return;
      this.#host.fail(`dropIndex ${field} (exists: ${existed}) failed: ${String(error)}`);
    }
    if (!existed) this.#host.fail(`dropIndex ${field} succeeded on a missing index`);
    this.#exists.set(field, false);
  }

  async listIndexes(): Promise<void> {
    const infos = await this.#host.db.listIndexes();
    this.#host.check('indexState');
    for (const info of infos) {
      if (!(INDEX_FIELDS as readonly string[]).includes(info.field)) {
        this.#host.fail(`listIndexes lists ${info.field}, never created`);
      }
      if (info.state !== 'building' && info.state !== 'ready') {
        this.#host.fail(`listIndexes: ${info.field} in state ${String(info.state)}`);
      }
    }
    for (const field of this.#host.ownedFields) {
      const listed = infos.some((info) => info.field === field);
      if (listed !== this.#exists.get(field)) {
        this.#host.fail(
          `listIndexes: ${field} listed ${listed}, but its owner made it exist ${!listed}`,
        );
      }
    }
  }

  async queryByIndex(): Promise<void> {
    const { mix, db } = this.#host;
    const field = INDEX_FIELDS[mix.below(INDEX_FIELDS.length)]!;
    const value = randomFieldValue(mix, field);
    const limit = mix.chance(30) ? 1 + mix.below(10) : undefined;
    const whenBuilding = mix.chance(10) ? ('fail' as const) : ('wait' as const);
    const request = { whenBuilding, ...(limit === undefined ? {} : { limit }) };
    const what = `queryByIndex ${field}=${Buffer.from(value).toString('hex')} ${JSON.stringify(request)}`;
    const result = await this.#query(field, what, whenBuilding, () =>
      db.queryByIndex(field, value, request),
    );
    if (result === undefined) return;
    const own = ownIndexEntries(
      this.#host.state,
      field,
      (found) => Buffer.compare(found, value) === 0,
    );
    this.#host.check('indexQuery');
    const failure = checkIndexResult(result, own, {
      thread: this.#host.thread,
      keyOrder: true,
      ...(limit === undefined ? {} : { limit }),
    });
    if (failure !== undefined) this.#host.fail(`${what}: ${failure}`);
  }

  async queryRangeByIndex(): Promise<void> {
    const { mix, db } = this.#host;
    const field = INDEX_FIELDS[mix.below(INDEX_FIELDS.length)]!;
    const [low, high] = [randomFieldValue(mix, field), randomFieldValue(mix, field)].sort(
      Buffer.compare,
    );
    const bounds: { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array } = {};
    const lowKind = mix.below(3);
    if (lowKind === 0) bounds.gte = low!;
    else if (lowKind === 1) bounds.gt = low!;
    const highKind = mix.below(3);
    if (highKind === 0) bounds.lt = high!;
    else if (highKind === 1) bounds.lte = high!;
    const reverse = mix.chance(30);
    const limit = mix.chance(30) ? 1 + mix.below(20) : undefined;
    const request = { ...bounds, reverse, ...(limit === undefined ? {} : { limit }) };
    const what = `queryRangeByIndex ${field} ${describeBounds(bounds)} reverse ${reverse} limit ${limit}`;
    const result = await this.#query(field, what, 'wait', () =>
      db.queryRangeByIndex(field, request),
    );
    if (result === undefined) return;
    const accept = (found: Uint8Array): boolean =>
      (bounds.gt === undefined || Buffer.compare(found, bounds.gt) > 0) &&
      (bounds.gte === undefined || Buffer.compare(found, bounds.gte) >= 0) &&
      (bounds.lt === undefined || Buffer.compare(found, bounds.lt) < 0) &&
      (bounds.lte === undefined || Buffer.compare(found, bounds.lte) <= 0);
    const own = ownIndexEntries(this.#host.state, field, accept);
    if (reverse) own.reverse();
    this.#host.check('indexQuery');
    const failure = checkIndexResult(result, own, {
      thread: this.#host.thread,
      keyOrder: false,
      ...(limit === undefined ? {} : { limit }),
    });
    if (failure !== undefined) this.#host.fail(`${what}: ${failure}`);
  }

  /** Runs a query; undefined when it failed in a way this thread allows. */
  async #query(
    field: string,
    what: string,
    whenBuilding: 'wait' | 'fail',
    query: () => Promise<Uint8Array[]>,
  ): Promise<Uint8Array[] | undefined> {
    const owned = this.#exists.get(field);
    let result: Uint8Array[];
    try {
      result = await query();
    } catch (error) {
      const missing = isStrataError(error, 'ERR_INDEX_NOT_FOUND') && owned !== true;
      const building = isStrataError(error, 'ERR_INDEX_BUILDING') && whenBuilding === 'fail';
      if (missing || building) {
        this.#host.accepted();
        return undefined;
      }
      this.#host.fail(`${what} (own index exists: ${owned}) failed: ${String(error)}`);
    }
    if (owned === false) this.#host.fail(`${what} succeeded, but its owner dropped the index`);
    return result;
  }

  /** An owned field whose index exists (`existing`) or not; the other kind now and then, or when none is. */
  #pickOwned(existing: boolean): string {
    const fields = this.#host.ownedFields;
    const wanted = fields.filter((field) => this.#exists.get(field) === existing);
    const pool = wanted.length > 0 && !this.#host.mix.chance(10) ? wanted : fields;
    return pool[this.#host.mix.below(pool.length)]!;
  }
}

function describeBounds(bounds: Readonly<Record<string, Uint8Array | undefined>>): string {
  return Object.entries(bounds)
    .map(([name, value]) => `${name} ${Buffer.from(value!).toString('hex') || 'empty'}`)
    .join(' ');
}
