import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { createKeyChooser, type KeyChooser, type KeyDistribution } from './key-choosers.js';
import { Prng } from './prng.js';

/**
 * YCSB's core workloads A–F (workloads/workloada … workloadf in the YCSB repository) and the
 * transaction phase of CoreWorkload, generated from a seed into typed arrays. Nothing is written
 * to disk; the load phase needs no arrays at all (it inserts key numbers 0 … recordCount - 1 in
 * order, as YCSB's CounterGenerator does).
 */
export type CoreWorkloadName = 'a' | 'b' | 'c' | 'd' | 'e' | 'f';
export const CORE_WORKLOAD_NAMES: readonly CoreWorkloadName[] = ['a', 'b', 'c', 'd', 'e', 'f'];

export interface CoreWorkloadSpec {
  readonly name: CoreWorkloadName;
  readonly title: string;
  readonly read: number;
  readonly update: number;
  readonly insert: number;
  readonly scan: number;
  readonly readModifyWrite: number;
  readonly distribution: KeyDistribution;
}

export const CORE_WORKLOADS: Readonly<Record<CoreWorkloadName, CoreWorkloadSpec>> = {
  a: spec('a', 'update heavy', { read: 0.5, update: 0.5 }, 'zipfian'),
  b: spec('b', 'read mostly', { read: 0.95, update: 0.05 }, 'zipfian'),
  c: spec('c', 'read only', { read: 1 }, 'zipfian'),
  d: spec('d', 'read latest', { read: 0.95, insert: 0.05 }, 'latest'),
  e: spec('e', 'short ranges', { scan: 0.95, insert: 0.05 }, 'zipfian'),
  f: spec('f', 'read-modify-write', { read: 0.5, readModifyWrite: 0.5 }, 'zipfian'),
};

/** Op kinds in YCSB's DiscreteGenerator order (read, update, insert, scan, read-modify-write). */
export const OP_READ = 0;
export const OP_UPDATE = 1;
export const OP_INSERT = 2;
export const OP_SCAN = 3;
export const OP_READ_MODIFY_WRITE = 4;
export const OP_KIND_NAMES = ['READ', 'UPDATE', 'INSERT', 'SCAN', 'RMW'] as const;

/** YCSB defaults: fieldcount=10, fieldlength=100, maxscanlength=100 (uniform from 1). */
export const FIELD_COUNT = 10;
export const FIELD_BYTES = 100;
export const SCAN_LENGTH_MAX = 100;

export interface CoreRunOptions {
  readonly workload: CoreWorkloadName;
  /** Records present before the run: key numbers 0 … recordCount - 1. */
  readonly recordCount: number;
  readonly operationCount: number;
  readonly seed: number;
  /** Overrides the workload's request distribution. */
  readonly distribution?: KeyDistribution;
}

/** One generated transaction phase. Index i of every array describes operation i. */
export interface CoreRun {
  readonly workload: CoreWorkloadName;
  readonly recordCount: number;
  readonly count: number;
  readonly kinds: Uint8Array;
  /** Key number: the record to read/update, the scan's start, or the new record's number. */
  readonly keynums: Uint32Array;
  /** Field an update or read-modify-write replaces; scan length for a scan. */
  readonly arguments: Uint8Array;
  /** Operations per kind, indexed by OP_*. */
  readonly kindCounts: readonly number[];
  /** Distinguishes this run's written field bytes from every other run's (see core-record.ts). */
  readonly salt: number;
}

/** Generates a whole transaction phase (see CoreOperationStream), deterministic by seed. */
export function generateCoreRun(options: CoreRunOptions): CoreRun {
  const stream = new CoreOperationStream(options);
  const count = options.operationCount;
  const kinds = new Uint8Array(count);
  const keynums = new Uint32Array(count);
  const args = new Uint8Array(count);
  const kindCounts = [0, 0, 0, 0, 0];
  for (let index = 0; index < count; index++) {
    const kind = stream.next();
    kinds[index] = kind;
    keynums[index] = stream.keynum;
    args[index] = stream.argument;
    kindCounts[kind]!++;
  }
  return {
    workload: options.workload,
    recordCount: options.recordCount,
    count,
    kinds,
    keynums,
    arguments: args,
    kindCounts,
    salt: stream.salt,
  };
}

/**
 * CoreWorkload's doTransaction, one operation per `next()`: the operation chooser, then the key
 * chooser (or, for an insert, the next key number of the insert sequence), the field chooser
 * (uniform over 10) for updates and read-modify-writes, and the scan length (uniform 1 … 100).
 */
export class CoreOperationStream {
  readonly salt: number;
  keynum = 0;
  argument = 0;
  private readonly prng: Prng;
  private readonly chooser: KeyChooser;
  private readonly thresholds: Float64Array;
  private lastKeynum: number;

  constructor(options: CoreRunOptions) {
    validateRunOptions(options);
    const workload = CORE_WORKLOADS[options.workload];
    this.prng = new Prng(options.seed * 8 + CORE_WORKLOAD_NAMES.indexOf(options.workload) + 1);
    this.salt = this.prng.nextU32() >>> 11; // salt × 2^32 + op index stays below 2^53
    const weights = [
      workload.read,
      workload.update,
      workload.insert,
      workload.scan,
      workload.readModifyWrite,
    ];
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    this.thresholds = new Float64Array(weights.length);
    let cumulative = 0;
    for (const [kind, weight] of weights.entries()) {
      cumulative += weight / total;
      this.thresholds[kind] = cumulative;
    }
    this.thresholds[weights.length - 1] = 1;
    this.lastKeynum = options.recordCount - 1;
    this.chooser = createKeyChooser(options.distribution ?? workload.distribution, this.prng, {
      recordCount: options.recordCount,
      expectedNewKeys: Math.floor(options.operationCount * workload.insert * 2),
    });
  }

  /** The next operation's kind; its key number and argument are left in the fields. */
  next(): number {
    const roll = this.prng.nextDouble();
    let kind = 0;
    while (roll >= this.thresholds[kind]!) kind++;
    if (kind === OP_INSERT) {
      this.lastKeynum++;
      assert(this.lastKeynum < 4294967296);
      this.keynum = this.lastKeynum;
      this.argument = 0;
      return kind;
    }
    this.keynum = this.chooser.next(this.lastKeynum);
    if (kind === OP_SCAN) this.argument = 1 + this.prng.nextBelow(SCAN_LENGTH_MAX);
    else if (kind === OP_UPDATE || kind === OP_READ_MODIFY_WRITE) {
      this.argument = this.prng.nextBelow(FIELD_COUNT);
    } else this.argument = 0;
    return kind;
  }
}

export function isCoreWorkloadName(name: string): name is CoreWorkloadName {
  return (CORE_WORKLOAD_NAMES as readonly string[]).includes(name);
}

function spec(
  name: CoreWorkloadName,
  title: string,
  mix: Partial<Record<'read' | 'update' | 'insert' | 'scan' | 'readModifyWrite', number>>,
  distribution: KeyDistribution,
): CoreWorkloadSpec {
  return {
    name,
    title,
    read: mix.read ?? 0,
    update: mix.update ?? 0,
    insert: mix.insert ?? 0,
    scan: mix.scan ?? 0,
    readModifyWrite: mix.readModifyWrite ?? 0,
    distribution,
  };
}

/** Key numbers are u32 in the arrays; the seed is mixed with the workload into a safe integer. */
const KEYNUM_LIMIT = 4294967296;
const SEED_MAX = 2 ** 48;

function validateRunOptions(options: CoreRunOptions): void {
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new StrataError('ERR_INVALID_ARGUMENT', message);
  };
  check(isCoreWorkloadName(options.workload), `unknown workload ${String(options.workload)}`);
  check(
    Number.isSafeInteger(options.recordCount) && options.recordCount >= 2,
    'records must be an integer >= 2',
  );
  check(
    Number.isSafeInteger(options.operationCount) && options.operationCount >= 0,
    'operations must be an integer >= 0',
  );
  check(
    options.recordCount + options.operationCount < KEYNUM_LIMIT,
    'records plus operations must stay below 2^32',
  );
  check(
    Number.isSafeInteger(options.seed) && options.seed >= 0 && options.seed < SEED_MAX,
    `seed must be an integer in [0, 2^48)`,
  );
}
