/**
 * Part (d) of bench/engine.ts: writes that must survive power loss. Each store opens in its
 * sync mode (Strata `sync: true`, lmdb-js default + `await db.flushed`, classic-level
 * `sync: true` per put); one writer awaits each put, then 64 async loops each await their own.
 * Group commit should turn the 64 writers of one event-loop turn into one persist, so their rate
 * should be many times the one-writer rate. The hardware baseline is raw `writeSync` +
 * `fdatasyncSync` of one small record per write.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type EngineBenchSizes, median } from './engine.js';
import { type BenchStore, openStore, type StoreName } from './engine-stores.js';
import { type TimedResult, timeConcurrent, timeSerial, timeSync } from './timed-loop.js';

export interface SyncFigures {
  readonly name: StoreName;
  readonly label: string;
  readonly serial: TimedResult;
  readonly concurrent: TimedResult;
  /** Strata only: writes ÷ group commits during the concurrent phase. */
  readonly writesPerGroup: number | undefined;
}

const SYNC_KEY_BYTES = 16;
const SYNC_VALUE_BYTES = 100;
const SYNC_WRITERS = 64;
const SYNC_OPS_MAX = 1_000_000;
const RAW_RECORD_BYTES = SYNC_KEY_BYTES + SYNC_VALUE_BYTES;
/** The preallocated raw file holds this many records; the loop wraps around inside it. */
const RAW_RECORDS_PREALLOCATED = 16_384;

export interface RawFigures {
  readonly name: string;
  readonly result: TimedResult;
}

/**
 * Every store opened in its sync mode, plus the raw loops, interleaved in `sizes.rounds` rounds
 * (rotating order, median round kept) as in the point phases. `dirs` holds one directory per
 * store, then one for the raw files.
 */
export async function measureSyncWrites(
  names: readonly StoreName[],
  dirs: readonly string[],
  sizes: EngineBenchSizes,
): Promise<{ sync: SyncFigures[]; raw: RawFigures[] }> {
  const stores: BenchStore[] = [];
  try {
    for (const [index, name] of names.entries()) {
      stores.push(await openStore(name, dirs[index]!, { sync: true }));
    }
    const value = new Uint8Array(SYNC_VALUE_BYTES).fill(0xa5);
    const samples = stores.map(() => ({
      serial: [] as TimedResult[],
      concurrent: [] as TimedResult[],
      writes: 0,
      groups: 0,
    }));
    const rawSamples: TimedResult[][] = [[], []];
    const budget = { durationMs: sizes.syncMs / sizes.rounds, opsMax: SYNC_OPS_MAX };
    let next = 0;
    for (let round = 0; round < sizes.rounds; round++) {
      for (let turn = 0; turn < stores.length; turn++) {
        const index = (turn + round) % stores.length;
        const store = stores[index]!;
        const put = () => store.put(syncKey(next++), value);
        if (round === 0)
          await timeSerial({ durationMs: sizes.warmUpMs, opsMax: SYNC_OPS_MAX }, put);
        samples[index]!.serial.push(await timeSerial(budget, put));
        const before = store.groups();
        samples[index]!.concurrent.push(await timeConcurrent(budget, SYNC_WRITERS, put));
        const after = store.groups();
        if (before !== undefined && after !== undefined) {
          samples[index]!.writes += after.writes - before.writes;
          samples[index]!.groups += after.groups - before.groups;
        }
      }
      const raw = measureRawSync(dirs[names.length]!, sizes);
      for (const [index, result] of raw.entries()) rawSamples[index]!.push(result.result);
    }
    const sync = stores.map((store, index) => {
      const sample = samples[index]!;
      return {
        name: store.name,
        label: store.label,
        serial: median(sample.serial),
        concurrent: median(sample.concurrent),
        writesPerGroup: sample.groups === 0 ? undefined : sample.writes / sample.groups,
      };
    });
    const raw = RAW_NAMES.map((name, index) => ({ name, result: median(rawSamples[index]!) }));
    return { sync, raw };
  } finally {
    for (const store of stores) await store.close();
  }
}

const RAW_NAMES = [
  `raw append ${RAW_RECORD_BYTES} B + fdatasync`,
  `raw overwrite ${RAW_RECORD_BYTES} B + fdatasync`,
];

/** Appending (the file grows, so fdatasync also writes its size) and overwriting in place. */
function measureRawSync(dir: string, sizes: EngineBenchSizes): RawFigures[] {
  const record = new Uint8Array(RAW_RECORD_BYTES).fill(0x5a);
  const budget = { durationMs: sizes.syncMs / sizes.rounds / 2, opsMax: SYNC_OPS_MAX };
  const append = openSync(join(dir, 'append.log'), 'w');
  let appended: TimedResult;
  try {
    appended = timeSync(budget, (index) => {
      writeSync(append, record, 0, record.length, index * record.length);
      fdatasyncSync(append);
    });
  } finally {
    closeSync(append);
  }
  const inPlace = openSync(join(dir, 'in-place.log'), 'w');
  let overwritten: TimedResult;
  try {
    writeSync(inPlace, new Uint8Array(RAW_RECORDS_PREALLOCATED * record.length));
    fdatasyncSync(inPlace);
    overwritten = timeSync(budget, (index) => {
      const slot = index % RAW_RECORDS_PREALLOCATED;
      writeSync(inPlace, record, 0, record.length, slot * record.length);
      fdatasyncSync(inPlace);
    });
  } finally {
    closeSync(inPlace);
  }
  return [
    { name: RAW_NAMES[0]!, result: appended },
    { name: RAW_NAMES[1]!, result: overwritten },
  ];
}

function syncKey(index: number): Uint8Array {
  const key = new Uint8Array(SYNC_KEY_BYTES);
  const view = new DataView(key.buffer);
  view.setUint32(0, Math.imul(index, 0x9e3779b1) >>> 0);
  view.setUint32(12, index >>> 0);
  return key;
}
