/**
 * Sorts entries with distinct user keys, more of them than fit in memory: an external merge sort
 * whose sorted runs are temp tables (the index build's entries; each key holds its primary key,
 * so no two are equal).
 *
 *   add ... add  -> buffer full? sort it, write run 1 (a table)   ... run 2 ... run k
 *   drain        -> sort the buffer; merge runs FAN_IN_MAX at a time into bigger runs while there
 *                   are too many; merge the last runs with the buffer into the sink; remove runs
 *
 * Runs are written to `${runPathPrefix}-N.tmp` (N = 1, 2, …) without fsync: they are gone before
 * the job returns, and a crash leaves only temp files, which the next open removes.
 *
 * Thread model: one sorter per job, on the job's thread.
 */
import { rmSync } from 'node:fs';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { arraySource, type InternalEntry, tableSource } from '../lsm/internal-iterator.js';
import { MergingIterator } from '../lsm/merging-iterator.js';
import { compareUserKeys, encodeInternalKey, KIND_VALUE, type Seq } from '../sst/internal-key.js';
import { TableReader } from '../sst/table-reader.js';
import { TableWriter, type TableWriterOptions } from '../sst/table-writer.js';

export interface EntrySorterOptions {
  /** Runs go to `${runPathPrefix}-N.tmp`. */
  readonly runPathPrefix: string;
  /** Once the buffered entries take more than this (see BUFFERED_ENTRY_OVERHEAD_BYTES), spill. */
  readonly sortBufferBytes: number;
  readonly options?: Omit<TableWriterOptions, 'sync'> | undefined;
}

/** What drain hands out: a user key and its seq (kind KIND_VALUE, empty value). */
export type SortedEntry = Pick<InternalEntry, 'userKey' | 'seq'>;

/** A merge reads at most this many runs at once, which bounds its open files. */
export const FAN_IN_MAX = 64;
/**
 * Roughly what V8 spends on one buffered entry besides its key bytes: the entry object, the
 * Uint8Array and its ArrayBuffer. Counting it keeps a buffer of short keys near its budget.
 */
export const BUFFERED_ENTRY_OVERHEAD_BYTES = 160;

const EMPTY = new Uint8Array(0);
/** Runs have no catalog number; the readers need one for their error messages. */
const RUN_FILE_NUMBER = 0;

export class EntrySorter {
  readonly #settings: EntrySorterOptions;
  #buffer: InternalEntry[] = [];
  #bufferBytes = 0;
  /** Runs written and not yet removed, in the order they were written. */
  #runs: string[] = [];
  #runsWritten = 0;
  #entryCount = 0;
  #drained = false;

  constructor(settings: EntrySorterOptions) {
    assert(Number.isSafeInteger(settings.sortBufferBytes) && settings.sortBufferBytes > 0);
    this.#settings = settings;
  }

  /** Runs written so far, the merge passes' runs included. */
  get runsWritten(): number {
    return this.#runsWritten;
  }

  /** Entries added so far. */
  get entryCount(): number {
    return this.#entryCount;
  }

  /** Keeps `userKey` (does not copy it): the caller hands over a fresh array. */
  add(userKey: Uint8Array, seq: Seq): void {
    assert(!this.#drained, 'add after drain');
    this.#buffer.push({ userKey, seq, kind: KIND_VALUE, value: EMPTY });
    this.#bufferBytes += userKey.length + BUFFERED_ENTRY_OVERHEAD_BYTES;
    this.#entryCount++;
    if (this.#bufferBytes > this.#settings.sortBufferBytes) this.#spill();
  }

  /**
   * Calls `sink` with every entry, in ascending user-key order, then removes the runs. Once.
   * The arrays it hands out may be kept. On an error, call abandon().
   */
  drain(sink: (entry: SortedEntry) => void): void {
    assert(!this.#drained, 'drain twice');
    this.#drained = true;
    const memory = this.#takeSortedBuffer();
    // Each pass replaces FAN_IN_MAX runs by one, so the loop ends; the sink's merge gets the
    // buffer as one more source.
    while (this.#runs.length + 1 > FAN_IN_MAX) {
      const group = this.#runs.slice(0, FAN_IN_MAX);
      this.#writeRun((writer) => {
        this.#merge(group, [], (entry) => writer.add(runKey(entry), EMPTY));
      });
      this.#remove(group);
    }
    let drained = 0;
    this.#merge(this.#runs, memory, (entry) => {
      drained++;
      sink(entry);
    });
    assert(drained === this.#entryCount, 'a sort hands out every entry it was given');
    this.#remove(this.#runs);
  }

  /**
   * Removes every run left. Returns what to throw: `error`, or an ERR_IO carrying it and the
   * removal failures when a run could not be removed.
   */
  abandon(error: unknown): unknown {
    this.#buffer = [];
    const problems: unknown[] = [];
    for (const path of this.#runs) {
      try {
        rmSync(path, { force: true });
      } catch (removeError) {
        problems.push(removeError);
      }
    }
    this.#runs = [];
    if (problems.length === 0) return error;
    return new StrataError('ERR_IO', 'a sort failed and its run files could not be removed', {
      cause: new AggregateError([error, ...problems]),
    });
  }

  #spill(): void {
    const entries = this.#takeSortedBuffer();
    this.#writeRun((writer) => {
      for (const entry of entries) writer.add(runKey(entry), EMPTY);
    });
  }

  #takeSortedBuffer(): InternalEntry[] {
    const entries = this.#buffer;
    this.#buffer = [];
    this.#bufferBytes = 0;
    entries.sort((a, b) => compareUserKeys(a.userKey, b.userKey));
    return entries;
  }

  /** Writes the next run with `fill`; a run that fails is removed before the error goes on. */
  #writeRun(fill: (writer: TableWriter) => void): void {
    this.#runsWritten++;
    const path = `${this.#settings.runPathPrefix}-${this.#runsWritten}.tmp`;
    const writer = new TableWriter(path, { ...this.#settings.options, sync: false });
    try {
      fill(writer);
      writer.finish();
    } catch (error) {
      writer.abandon();
      throw error;
    }
    this.#runs.push(path);
  }

  /** Streams the merge of the runs at `paths` and the sorted `memory` into `sink`. */
  #merge(
    paths: readonly string[],
    memory: readonly InternalEntry[],
    sink: (entry: SortedEntry) => void,
  ): void {
    const readers: TableReader[] = [];
    try {
      for (const path of paths) {
        readers.push(TableReader.open(path, { fileNumber: RUN_FILE_NUMBER, fillCache: false }));
      }
      const sources = readers.map((reader) => tableSource(reader));
      if (memory.length > 0) sources.push(arraySource(memory));
      const merged = new MergingIterator(sources);
      for (merged.seekFirst(); merged.valid(); merged.next()) {
        assert(merged.kind() === KIND_VALUE, 'runs hold what the sorter wrote');
        sink({ userKey: merged.userKey(), seq: merged.seq() });
      }
    } finally {
      for (const reader of readers) reader.close();
    }
  }

  /**
   * Removes runs that have been merged; ERR_IO names the first that could not go (abandon()
   * tries the rest again, and removing a removed run is no error).
   */
  #remove(paths: readonly string[]): void {
    const removed = new Set(paths);
    for (const path of removed) {
      try {
        rmSync(path, { force: true });
      } catch (error) {
        throw new StrataError('ERR_IO', `cannot remove sort run ${path}`, { cause: error });
      }
    }
    this.#runs = this.#runs.filter((run) => !removed.has(run));
  }
}

function runKey(entry: SortedEntry): Uint8Array {
  return encodeInternalKey(entry.userKey, entry.seq, KIND_VALUE);
}

assert(FAN_IN_MAX >= 2); // a merge pass must shrink the number of runs
