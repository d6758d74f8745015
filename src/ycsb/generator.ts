import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { Prng } from './prng.js';
import { ScrambledZipfian } from './zipfian.js';

export type KeyDistribution = 'uniform' | 'zipfian';
export type WriteMode = 'insert' | 'update';

export interface GeneratorOptions {
  readonly seed: number;
  /** Records in the load file (all INSERT). */
  readonly recordCount: number;
  /** Operations in the run file. */
  readonly operationCount: number;
  /** Percent of run operations that are READ (0..100). */
  readonly readPercent: number;
  /** Percent of run operations that are DELETE (0..100). Default 0. */
  readonly deletePercent?: number;
  /** The remaining run operations: INSERT of a new key, or UPDATE (new value) of an existing one. */
  readonly writeMode: WriteMode;
  /** How READ / UPDATE / DELETE pick among the keys that exist at that point. */
  readonly distribution: KeyDistribution;
  /**
   * Default true: every generated number has its own 8-character prefix (key). When false,
   * prefixes are drawn independently, so some INSERTs repeat a key and fail, as in the course's
   * 10w load; reads still target only keys that exist.
   */
  readonly distinctPrefixes?: boolean;
}

export interface GeneratedWorkload {
  readonly load: Uint8Array;
  readonly run: Uint8Array;
}

export const WORKLOAD_PRESETS = {
  /** The course's missing 220w-rw-50-50 pair: 2.2 M records, 220 k ops, 50 % READ / 50 % INSERT. */
  '220w': {
    name: '220w-rw-50-50',
    options: {
      seed: 220,
      recordCount: 2_200_000,
      operationCount: 220_000,
      readPercent: 50,
      writeMode: 'insert',
      distribution: 'uniform',
    },
  },
  /** One million 8-byte records, then 100 k ops, 50 % READ / 50 % UPDATE, zipfian. */
  '100w': {
    name: '100w-rw-50-50',
    options: {
      seed: 100,
      recordCount: 1_000_000,
      operationCount: 100_000,
      readPercent: 50,
      writeMode: 'update',
      distribution: 'zipfian',
    },
  },
} as const satisfies Record<string, { name: string; options: GeneratorOptions }>;
export type WorkloadPresetName = keyof typeof WORKLOAD_PRESETS;

/**
 * Generates a load/run pair as file bytes. Deterministic: the same options give the same bytes.
 * Numbers have 19 digits: an 8-digit key prefix in [10^7, 10^8) and an 11-digit random tail, so
 * the value (the whole number) is below 10^19 < 2^64. A READ, UPDATE or DELETE line targets a key
 * that exists at that point of the run (after the load and the run lines before it), so a correct
 * engine has no read, update or delete misses. A READ or DELETE line repeats the record's current
 * number; an UPDATE line carries a new tail, so its value changes.
 */
export function generateWorkload(options: GeneratorOptions): GeneratedWorkload {
  validateOptions(options);
  const state = new GeneratorState(options);
  const load = new LineWriter(options.recordCount);
  for (let index = 0; index < options.recordCount; index++) state.emitInsert(load);
  const run = new LineWriter(options.operationCount);
  const deletePercent = options.deletePercent ?? 0;
  for (let index = 0; index < options.operationCount; index++) {
    const roll = state.prng.nextDouble() * 100;
    if (state.existingCount === 0) state.emitWriteWhenEmpty(run);
    else if (roll < options.readPercent) state.emitRead(run);
    else if (roll < options.readPercent + deletePercent) state.emitDelete(run);
    else if (options.writeMode === 'insert') state.emitInsert(run);
    else state.emitUpdate(run);
  }
  return { load: load.bytes(), run: run.bytes() };
}

/** Writes `<name>-load.txt` and `<name>-run.txt` into `directory`; returns their paths. */
export function writeWorkloadPair(
  options: GeneratorOptions,
  target: { readonly directory: string; readonly name: string },
): { readonly loadPath: string; readonly runPath: string } {
  const generated = generateWorkload(options);
  mkdirSync(target.directory, { recursive: true });
  const loadPath = join(target.directory, `${target.name}-load.txt`);
  const runPath = join(target.directory, `${target.name}-run.txt`);
  writeFileSync(loadPath, generated.load);
  writeFileSync(runPath, generated.run);
  return { loadPath, runPath };
}

const PREFIX_MIN = 10_000_000;
const PREFIX_SPAN = 90_000_000; // 8-digit prefixes without a leading zero
const TAIL_SPAN = 100_000_000_000; // 11 digits
/** Distinct prefixes are drawn by rejection; cap their use so a draw needs few attempts. */
const PREFIX_USE_MAX = PREFIX_SPAN / 2;
const PREFIX_ATTEMPTS_MAX = 1_000;

class GeneratorState {
  readonly prng: Prng;
  /** Bit per prefix: set once the prefix was generated (never reused when distinct). */
  private readonly prefixUsed = new Uint32Array(PREFIX_SPAN / 32);
  /** Keys that exist now, with the tail of their current number; order changes on delete. */
  private readonly existingPrefixes: Uint32Array;
  private readonly existingTails: Float64Array;
  existingCount = 0;
  private readonly zipfian: ScrambledZipfian | undefined;

  constructor(private readonly options: GeneratorOptions) {
    this.prng = new Prng(options.seed);
    const capacity = options.recordCount + options.operationCount;
    this.existingPrefixes = new Uint32Array(capacity);
    this.existingTails = new Float64Array(capacity);
    this.zipfian = options.distribution === 'zipfian' ? new ScrambledZipfian(this.prng) : undefined;
  }

  emitInsert(writer: LineWriter): void {
    const prefix = this.drawPrefix();
    const tail = this.prng.nextBelow(TAIL_SPAN);
    writer.line(LINE_INSERT, prefix, tail);
    const bit = prefix - PREFIX_MIN;
    const wordIndex = bit >>> 5;
    const mask = 1 << (bit & 31);
    if ((this.prefixUsed[wordIndex]! & mask) !== 0) return; // a repeated key: the INSERT fails
    this.prefixUsed[wordIndex]! |= mask;
    this.existingPrefixes[this.existingCount] = prefix;
    this.existingTails[this.existingCount] = tail;
    this.existingCount++;
  }

  emitRead(writer: LineWriter): void {
    const index = this.pickExisting();
    writer.line(LINE_READ, this.existingPrefixes[index]!, this.existingTails[index]!);
  }

  emitUpdate(writer: LineWriter): void {
    const index = this.pickExisting();
    const tail = this.prng.nextBelow(TAIL_SPAN);
    this.existingTails[index] = tail;
    writer.line(LINE_UPDATE, this.existingPrefixes[index]!, tail);
  }

  emitDelete(writer: LineWriter): void {
    const index = this.pickExisting();
    writer.line(LINE_DELETE, this.existingPrefixes[index]!, this.existingTails[index]!);
    // The deleted prefix stays marked used, so a later INSERT never revives it.
    const last = this.existingCount - 1;
    this.existingPrefixes[index] = this.existingPrefixes[last]!;
    this.existingTails[index] = this.existingTails[last]!;
    this.existingCount = last;
  }

  /** With no key left (everything deleted), only an INSERT keeps the promise of no misses. */
  emitWriteWhenEmpty(writer: LineWriter): void {
    this.emitInsert(writer);
  }

  private pickExisting(): number {
    assert(this.existingCount > 0);
    if (this.zipfian !== undefined) return this.zipfian.next(this.existingCount);
    return this.prng.nextBelow(this.existingCount);
  }

  private drawPrefix(): number {
    if (this.options.distinctPrefixes === false)
      return PREFIX_MIN + this.prng.nextBelow(PREFIX_SPAN);
    for (let attempt = 0; attempt < PREFIX_ATTEMPTS_MAX; attempt++) {
      const bit = this.prng.nextBelow(PREFIX_SPAN);
      if ((this.prefixUsed[bit >>> 5]! & (1 << (bit & 31))) === 0) return PREFIX_MIN + bit;
    }
    throw new StrataError('ERR_INVALID_ARGUMENT', 'no unused 8-digit key prefix found');
  }
}

const LINE_INSERT = Buffer.from('INSERT ', 'latin1');
const LINE_READ = Buffer.from('READ ', 'latin1');
const LINE_UPDATE = Buffer.from('UPDATE ', 'latin1');
const LINE_DELETE = Buffer.from('DELETE ', 'latin1');
const LINE_BYTES_MAX = 7 + 19 + 1;

/** Appends `<OP> <prefix><tail>\n` lines into one preallocated buffer. */
class LineWriter {
  private readonly buffer: Uint8Array;
  private length = 0;

  constructor(lineCount: number) {
    this.buffer = new Uint8Array(lineCount * LINE_BYTES_MAX);
  }

  /** Requires: prefix has 8 digits; 0 <= tail < 10^11 (written zero-padded to 11 digits). */
  line(word: Uint8Array, prefix: number, tail: number): void {
    assert(this.length + LINE_BYTES_MAX <= this.buffer.length);
    this.buffer.set(word, this.length);
    let position = this.length + word.length;
    writeDigits(this.buffer, position, prefix, 8);
    position += 8;
    writeDigits(this.buffer, position, tail, 11);
    position += 11;
    this.buffer[position] = 0x0a;
    this.length = position + 1;
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

/** Writes `value` as exactly `width` decimal digits (zero-padded). Requires: value < 10^width. */
function writeDigits(target: Uint8Array, offset: number, value: number, width: number): void {
  let rest = value;
  for (let index = width - 1; index >= 0; index--) {
    const quotient = Math.floor(rest / 10);
    target[offset + index] = 0x30 + (rest - quotient * 10);
    rest = quotient;
  }
  assert(rest === 0, 'value fits in width digits');
}

function validateOptions(options: GeneratorOptions): void {
  const deletePercent = options.deletePercent ?? 0;
  requireInteger('seed', options.seed, 0, Number.MAX_SAFE_INTEGER);
  requireInteger('recordCount', options.recordCount, 1, PREFIX_USE_MAX);
  requireInteger('operationCount', options.operationCount, 0, PREFIX_USE_MAX);
  requireRange('readPercent', options.readPercent, 0, 100);
  requireRange('deletePercent', deletePercent, 0, 100 - options.readPercent);
  if (options.recordCount + options.operationCount > PREFIX_USE_MAX) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `records plus operations must not exceed ${PREFIX_USE_MAX} (half the 8-digit key space)`,
    );
  }
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new StrataError('ERR_INVALID_ARGUMENT', `${name} must be an integer in [${min}, ${max}]`);
  }
}

function requireRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new StrataError('ERR_INVALID_ARGUMENT', `${name} must be in [${min}, ${max}]`);
  }
}
