/**
 * The write cost of each extra index in bench/index.ts: the same writes, 64 in flight, into
 * fresh databases that index 0, 1, 2 or 3 of the fields (author, then year, then title): Strata
 * `putFields` with `createIndex` done on the empty database first, and classic-level with its
 * do-it-yourself index keys (index-diy.ts: get the old record, then one batch). Half the writes
 * insert a new book, half update a book written before with new values in every field, so an
 * index pays for deleting old entries too. All eight databases are open at once and run in
 * rounds, each round the same slice of writes for every store in rotating order; the median
 * round counts. Lane i takes the writes whose book ≡ i mod 64, in order, so no book ever has two
 * writes in flight (a read-modify-write needs that) and every store runs the same writes per key.
 */
import { join } from 'node:path';
import { Strata } from '../src/db/strata.js';
import { encodeFields } from '../src/fields/field-codec.js';
import { Prng } from '../src/ycsb/prng.js';
import { readWriteChars, waitUntilWritesSettle } from './append-io.js';
import { DiyIndexedLevel } from './index-diy.js';
import {
  authorName,
  type BookFields,
  bookAuthorIndex,
  bookFields,
  bookKey,
  bytesEqual,
  INDEXED_FIELDS,
  keysText,
} from './index-records.js';

export interface WriteSizes {
  readonly writeCount: number;
  readonly rounds: number;
  readonly inFlight: number;
  readonly authorCount: number;
}

export type WriterKind = 'strata' | 'diy';

export interface WriteRoundSample {
  readonly ops: number;
  readonly elapsedMs: number;
  /** Key + field record bytes of every write. */
  readonly userBytes: number;
  /** Strata's memtableBytesWritten delta; undefined for classic-level. */
  readonly memtableBytes: number | undefined;
  readonly writeChars: number | undefined;
}

export interface WriterFigures {
  readonly kind: WriterKind;
  readonly indexCount: number;
  readonly rounds: readonly WriteRoundSample[];
}

interface Writer {
  readonly kind: WriterKind;
  readonly indexCount: number;
  write(key: Uint8Array, fields: BookFields): Promise<void>;
  get(key: Uint8Array): Uint8Array | undefined;
  queryAuthor(author: string): Promise<Uint8Array[]>;
  memtableBytes(): number | undefined;
  busy(): boolean;
  close(): Promise<void>;
}

const OP_SEED = 21;
const CHECK_SEED = 22;
const CHECKED_AUTHORS = 20;
const CHECKED_KEYS = 200;

export async function runWriteCost(
  dir: string,
  sizes: WriteSizes,
  log: (line: string) => void,
): Promise<WriterFigures[]> {
  const plan = planWrites(sizes);
  const writers: Writer[] = [];
  try {
    for (const kind of ['strata', 'diy'] as const) {
      for (let indexCount = 0; indexCount <= INDEXED_FIELDS.length; indexCount++) {
        writers.push(await openWriter(join(dir, `${kind}-${indexCount}`), kind, indexCount));
      }
    }
    const samples = writers.map((): WriteRoundSample[] => []);
    const perRound = Math.ceil(sizes.writeCount / sizes.rounds);
    for (let round = 0; round < sizes.rounds; round++) {
      log(`index: write round ${round + 1} of ${sizes.rounds}`);
      const first = round * perRound;
      const ops = roundOps(plan, sizes, first, Math.min(sizes.writeCount, first + perRound));
      for (let turn = 0; turn < writers.length; turn++) {
        const index = (turn + round) % writers.length;
        samples[index]!.push(await runRound(writers[index]!, ops, sizes.inFlight));
      }
    }
    for (const writer of writers) await checkWriter(writer, plan, sizes);
    return writers.map((writer, index) => ({
      kind: writer.kind,
      indexCount: writer.indexCount,
      rounds: samples[index]!,
    }));
  } finally {
    for (const writer of writers) await writer.close();
  }
}

/** Which book each write goes to and which version of it it writes. */
interface WritePlan {
  readonly bookOf: Uint32Array;
  readonly versionOf: Uint32Array;
  /** The version each book ends at. */
  readonly finalVersion: Uint32Array;
  readonly bookCount: number;
}

/** Even writes insert the next book; odd ones update a random book inserted before. */
function planWrites(sizes: WriteSizes): WritePlan {
  const prng = new Prng(OP_SEED);
  const bookOf = new Uint32Array(sizes.writeCount);
  const versionOf = new Uint32Array(sizes.writeCount);
  const finalVersion = new Uint32Array(Math.ceil(sizes.writeCount / 2));
  let bookCount = 0;
  for (let op = 0; op < sizes.writeCount; op++) {
    const book = op % 2 === 0 ? bookCount++ : prng.nextBelow(bookCount);
    if (op % 2 === 1) finalVersion[book]!++;
    bookOf[op] = book;
    versionOf[op] = finalVersion[book]!;
  }
  return { bookOf, versionOf, finalVersion, bookCount };
}

interface RoundOps {
  readonly books: Uint32Array;
  readonly keys: readonly Uint8Array[];
  readonly fields: readonly BookFields[];
  readonly userBytes: number;
}

/** The round's writes, made before any store runs them (untimed). */
function roundOps(plan: WritePlan, sizes: WriteSizes, first: number, end: number): RoundOps {
  const books = plan.bookOf.subarray(first, end);
  const keys: Uint8Array[] = [];
  const fields: BookFields[] = [];
  let userBytes = 0;
  for (let op = first; op < end; op++) {
    const key = bookKey(plan.bookOf[op]!);
    const record = bookFields(plan.bookOf[op]!, plan.versionOf[op]!, sizes.authorCount);
    keys.push(key);
    fields.push(record);
    userBytes += key.length + encodeFields(record).length;
  }
  return { books, keys, fields, userBytes };
}

async function runRound(
  writer: Writer,
  ops: RoundOps,
  inFlight: number,
): Promise<WriteRoundSample> {
  await waitUntilWritesSettle(() => writer.busy());
  const charsBefore = readWriteChars();
  const memtableBefore = writer.memtableBytes();
  const lane = async (laneIndex: number): Promise<void> => {
    for (let op = 0; op < ops.keys.length; op++) {
      if (ops.books[op]! % inFlight !== laneIndex) continue;
      await writer.write(ops.keys[op]!, ops.fields[op]!);
    }
  };
  const startedMs = performance.now();
  await Promise.all(Array.from({ length: inFlight }, (_, laneIndex) => lane(laneIndex)));
  const elapsedMs = performance.now() - startedMs;
  await waitUntilWritesSettle(() => writer.busy());
  const charsAfter = readWriteChars();
  const memtableAfter = writer.memtableBytes();
  return {
    ops: ops.keys.length,
    elapsedMs,
    userBytes: ops.userBytes,
    memtableBytes:
      memtableBefore === undefined || memtableAfter === undefined
        ? undefined
        : memtableAfter - memtableBefore,
    writeChars:
      charsBefore === undefined || charsAfter === undefined ? undefined : charsAfter - charsBefore,
  };
}

/** Sampled records hold their last write; an author index answers exactly its final books. */
async function checkWriter(writer: Writer, plan: WritePlan, sizes: WriteSizes): Promise<void> {
  const prng = new Prng(CHECK_SEED);
  for (let check = 0; check < CHECKED_KEYS; check++) {
    const book = prng.nextBelow(plan.bookCount);
    const expected = encodeFields(bookFields(book, plan.finalVersion[book]!, sizes.authorCount));
    const stored = writer.get(bookKey(book));
    if (stored === undefined || !bytesEqual(stored, expected)) {
      throw new Error(`${writer.kind} with ${writer.indexCount} index(es): book ${book} is stale`);
    }
  }
  if (writer.indexCount === 0) return;
  const finalAuthors = plan.finalVersion.map((version, book) =>
    bookAuthorIndex(book, version, sizes.authorCount),
  );
  for (let check = 0; check < CHECKED_AUTHORS; check++) {
    const author = finalAuthors[prng.nextBelow(plan.bookCount)]!;
    const books: Uint8Array[] = [];
    for (let book = 0; book < plan.bookCount; book++) {
      if (finalAuthors[book] === author) books.push(bookKey(book));
    }
    const found = await writer.queryAuthor(authorName(author));
    if (keysText(found) !== keysText(books)) {
      throw new Error(
        `${writer.kind} with ${writer.indexCount} index(es): ${authorName(author)} differs`,
      );
    }
  }
}

async function openWriter(dir: string, kind: WriterKind, indexCount: number): Promise<Writer> {
  const fields = INDEXED_FIELDS.slice(0, indexCount);
  if (kind === 'diy') {
    const store = await DiyIndexedLevel.open(dir, fields);
    return {
      kind,
      indexCount,
      write: (key, record) => store.put(key, record),
      get: (key) => store.get(key),
      queryAuthor: (author) => store.query('author', author),
      memtableBytes: () => undefined,
      busy: () => false,
      close: () => store.close(),
    };
  }
  const db = await Strata.open(dir);
  for (const field of fields) await db.createIndex(field);
  return {
    kind,
    indexCount,
    write: (key, record) => db.putFields(key, record),
    get: (key) => db.get(key),
    queryAuthor: (author) => db.queryByIndex('author', author),
    memtableBytes: () => db.stats().memtableBytesWritten,
    busy: () => {
      const stats = db.stats();
      return stats.memtables > 1 || stats.compactionsRunning > 0;
    },
    close: () => db.close(),
  };
}
