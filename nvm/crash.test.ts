/**
 * Crash at every persist point. A seeded sequence of allocs, frees, aux and root updates and data
 * writes runs once to learn where each operation's persists fall; then, for every N, it runs again
 * on a copy of the same image with `crashAtPersist: N`, the image is reopened, and it must be
 * consistent and hold exactly the operations whose last persist (their commit point) came before
 * N. With `tearOnCrash`, the crashing persist may also land in part; each commit is one 8-byte
 * word, so the operation it belongs to is then either wholly there or wholly absent.
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isStrataError } from '../src/errors.js';
import { NvmImage } from './image.js';
import { makeTempFolder, type TempFolder } from './testing/temp-folder.js';
import { type NvmOpenOptions, PageKind, type PageKindValue } from './types.js';

const SIZE_BYTES = 64 * 4096;
const OP_COUNT = 70;
const KINDS: readonly PageKindValue[] = [
  PageKind.ehashHeader,
  PageKind.ehashDirectory,
  PageKind.ehashBuckets,
];
const SEEDS: readonly number[] = process.env['KV_SEED'] ? [Number(process.env['KV_SEED'])] : [1, 2];

interface Run {
  readonly first: number;
  readonly count: number;
  readonly kind: PageKindValue;
  readonly owner: number;
}

interface Model {
  readonly runs: readonly Run[];
  readonly aux: ReadonlyMap<number, number>;
  readonly roots: readonly bigint[];
  /** Persisted u64 data words of allocated pages, by byte offset. */
  readonly data: ReadonlyMap<number, bigint>;
}

interface Reference {
  /** models[k] is the state after k operations. */
  readonly models: readonly Model[];
  /** persistEnds[k] is the persist count after operation k (its last persist). */
  readonly persistEnds: readonly number[];
  readonly closePersist: number;
}

let folder: TempFolder;
let basePath: string;
beforeAll(() => {
  folder = makeTempFolder('nvm-crash');
  basePath = folder.file('base.nvm');
  NvmImage.open(basePath, { backend: 'emulated', sizeMaxBytes: SIZE_BYTES }).close();
});
afterAll(() => folder.remove());

describe.each(SEEDS)('seed %i', (seed) => {
  test.each([false, true])('every persist point, tearing %s', (tear) => {
    const reference = recordReference(seed, `${seed}-${tear}`);
    const lastPoint = reference.closePersist + 1;
    expect(lastPoint).toBeGreaterThan(OP_COUNT);
    for (let crashAt = 1; crashAt <= lastPoint; crashAt++) {
      const path = folder.file(`crash-${seed}-${tear}-${crashAt}.nvm`);
      copyFileSync(basePath, path);
      const options: NvmOpenOptions = {
        backend: 'emulated',
        crashAtPersist: crashAt,
        ...(tear ? { tearOnCrash: { seed: seed * 1000 + crashAt } } : {}),
      };
      const candidates = crashRun(path, options, { seed, reference, crashAt, tear });
      const image = NvmImage.open(path, { backend: 'emulated' });
      const context = `KV_SEED=${seed} crashAtPersist=${crashAt} tear=${tear}`;
      const markTorn = tear && (crashAt === 1 || crashAt === reference.closePersist);
      if (!markTorn) {
        expect(image.wasCleanShutdown, context).toBe(
          crashAt === 1 || crashAt > reference.closePersist,
        );
      }
      const observed = observe(image, context);
      expect(candidates.map(canonical), context).toContain(canonical(observed.model));
      expect(observed.pagesAllocated, context).toBe(sumCounts(observed.model.runs));
      if (crashAt % 5 === 0) drainAndCheckZero(image, context);
      image.close();
    }
  });
});

test('a crash at any persist of image creation leaves no image or a whole one', () => {
  for (let crashAt = 1; crashAt <= 4; crashAt++) {
    const path = folder.file(`create-${crashAt}.nvm`);
    const options: NvmOpenOptions = {
      backend: 'emulated',
      sizeMaxBytes: SIZE_BYTES,
      crashAtPersist: crashAt,
    };
    let crashed = false;
    try {
      const image = NvmImage.open(path, options);
      try {
        image.setRoot(0, 1n);
      } finally {
        image.close();
      }
    } catch (error) {
      if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
      crashed = true;
    }
    expect(crashed).toBe(true);
    const image = NvmImage.open(path, { backend: 'emulated', sizeMaxBytes: SIZE_BYTES });
    expect(image.root(0)).toBe(0n);
    expect(image.stats().pagesAllocated).toBe(0);
    expect(image.stats().pagesHighWater).toBe(2);
    image.close();
    expect(readdirSync(folder.path).filter((name) => name.includes('.creating.'))).toEqual([]);
  }
});

function recordReference(seed: number, name: string): Reference {
  const path = folder.file(`reference-${name}.nvm`);
  copyFileSync(basePath, path);
  const image = NvmImage.open(path, { backend: 'emulated' });
  const models: Model[] = [observe(image).model];
  const persistEnds: number[] = [];
  const random = xorshift(seed);
  for (let index = 0; index < OP_COUNT; index++) {
    models.push(applyOperation(image, models[index]!, random));
    persistEnds.push(image.stats().persistCount);
  }
  image.close();
  const closePersist = image.stats().persistCount;
  const reopened = NvmImage.open(path, { backend: 'emulated' });
  try {
    expect(canonical(observe(reopened).model)).toBe(canonical(models[OP_COUNT]!));
  } finally {
    reopened.close();
  }
  return { models, persistEnds, closePersist };
}

/** Runs the sequence until the injected crash; returns the states the reopened image may hold. */
function crashRun(
  path: string,
  options: NvmOpenOptions,
  run: {
    readonly seed: number;
    readonly reference: Reference;
    readonly crashAt: number;
    readonly tear: boolean;
  },
): Model[] {
  const { reference, crashAt, tear } = run;
  let image: NvmImage;
  try {
    image = NvmImage.open(path, options);
  } catch (error) {
    if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
    return [reference.models[0]!];
  }
  const random = xorshift(run.seed);
  let model = reference.models[0]!;
  try {
    for (let index = 0; index < OP_COUNT; index++) {
      try {
        model = applyOperation(image, model, random);
      } catch (error) {
        if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
        image.close(); // after a crash, close only releases the file
        const landed = tear && crashAt === reference.persistEnds[index];
        return landed
          ? [reference.models[index]!, reference.models[index + 1]!]
          : [reference.models[index]!];
      }
      expect(canonical(model)).toBe(canonical(reference.models[index + 1]!));
    }
  } catch (error) {
    image.close();
    throw error;
  }
  try {
    image.close();
  } catch (error) {
    if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
  }
  return [model];
}

function applyOperation(image: NvmImage, model: Model, random: () => number): Model {
  const pagesLive = sumCounts(model.runs);
  const choice = random() % 100;
  if (model.runs.length === 0 || (choice < 35 && pagesLive < 40)) {
    const count = 1 + (random() % 3);
    const kind = KINDS[random() % KINDS.length]!;
    const owner = random() % 4;
    const first = image.allocPages(count, kind, owner);
    return { ...model, runs: [...model.runs, { first, count, kind, owner }] };
  }
  const run = model.runs[random() % model.runs.length]!;
  const page = run.first + (random() % run.count);
  if (choice < 55) {
    image.freePages(run.first, run.count);
    const inRun = (offsetOrPage: number, scale: number): boolean =>
      Math.floor(offsetOrPage / scale) >= run.first &&
      Math.floor(offsetOrPage / scale) < run.first + run.count;
    return {
      ...model,
      runs: model.runs.filter((other) => other !== run),
      aux: new Map([...model.aux].filter(([auxPage]) => !inRun(auxPage, 1))),
      data: new Map([...model.data].filter(([offset]) => !inRun(offset, 4096))),
    };
  }
  if (choice < 70) {
    const value = random() >>> 0;
    image.setPageAux(page, value);
    return { ...model, aux: new Map([...model.aux, [page, value]]) };
  }
  if (choice < 80) {
    const index = random() % 32;
    const value = (BigInt(random() >>> 0) << 32n) | BigInt(random() >>> 0);
    image.setRoot(index, value);
    return { ...model, roots: model.roots.map((root, at) => (at === index ? value : root)) };
  }
  const offset = page * 4096 + (random() % 512) * 8;
  const value = (BigInt(random() >>> 0) << 32n) | BigInt((random() | 1) >>> 0);
  Atomics.store(image.words64, offset / 8, value);
  image.persist(offset, 8);
  return { ...model, data: new Map([...model.data, [offset, value]]) };
}

/** Reads the state an image holds, checking page-table consistency along the way. */
function observe(image: NvmImage, context = ''): { model: Model; pagesAllocated: number } {
  const runs: Run[] = [];
  for (const kind of KINDS) {
    image.forEachPage(kind, undefined, (first) => {
      runs.push({ first, count: image.pageRunLength(first), kind, owner: image.pageOwner(first) });
    });
  }
  const runOf = new Map<number, Run>();
  for (const run of runs) {
    for (let page = run.first; page < run.first + run.count; page++) {
      expect(runOf.has(page), `${context}: page ${page} is in two runs`).toBe(false);
      runOf.set(page, run);
    }
  }
  const aux = new Map<number, number>();
  const data = new Map<number, bigint>();
  for (let page = 2; page < image.pageCountMax; page++) {
    const run = runOf.get(page);
    expect(image.pageKind(page), `${context}: kind of page ${page}`).toBe(
      run === undefined ? PageKind.free : run.kind,
    );
    if (run === undefined) continue;
    if (image.pageAux(page) !== 0) aux.set(page, image.pageAux(page));
    for (let word = page * 512; word < (page + 1) * 512; word++) {
      const value = image.words64[word]!;
      if (value !== 0n) data.set(word * 8, value);
    }
  }
  const roots = Array.from({ length: 32 }, (_, index) => image.root(index));
  return { model: { runs, aux, roots, data }, pagesAllocated: image.stats().pagesAllocated };
}

/** Allocates every free page: each must come back zeroed, and exactly pagesFree of them. */
function drainAndCheckZero(image: NvmImage, context: string): void {
  const expected = image.stats().pagesFree;
  let taken = 0;
  for (;;) {
    let page: number;
    try {
      page = image.allocPages(1, PageKind.ehashBuckets, 9);
    } catch (error) {
      if (isStrataError(error, 'ERR_NVM_FULL')) break;
      throw error;
    }
    taken++;
    const bytes = image.bytes.subarray(page * 4096, (page + 1) * 4096);
    expect(
      bytes.every((byte) => byte === 0),
      `${context}: page ${page} not zeroed`,
    ).toBe(true);
  }
  expect(taken, context).toBe(expected);
}

function canonical(model: Model): string {
  const runs = [...model.runs]
    .sort((a, b) => a.first - b.first)
    .map((run) => Object.values(run).join(':'));
  const aux = [...model.aux].filter(([, value]) => value !== 0).sort(([a], [b]) => a - b);
  const data = [...model.data].filter(([, value]) => value !== 0n).sort(([a], [b]) => a - b);
  return JSON.stringify({
    runs,
    aux,
    roots: model.roots.map(String),
    data: data.map(([offset, value]) => `${offset}=${value}`),
  });
}

function sumCounts(runs: readonly Run[]): number {
  return runs.reduce((total, run) => total + run.count, 0);
}

function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}
