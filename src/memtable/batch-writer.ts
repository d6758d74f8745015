/**
 * Applying a batch: (1) copy every record to the arena tail and persist the range once (group
 * commit), then record the batch intent; (2) link each record into the skiplist and the hash,
 * persisting each step; (3) commit with ONE 8-byte atomic store of (tail, applied seq offset) in
 * the header, then publish visibleSeq. Readers filter by visibleSeq, so they see the whole batch
 * or none of it. A batch that fails in step 2 is rolled back as recovery would. FORMAT.md,
 * "Commit protocol".
 */
import { assert, invariantsEnabled } from '../assert.js';
import { StrataError } from '../errors.js';
import { KIND_MAX, SEQ_MAX, type Seq } from '../sst/internal-key.js';
import { type ArenaPosition, type ArenaSegment, placeRecordLocked } from './arena.js';
import { appliedSeqLocked, commitWordIndex, type MemtableCore } from './core.js';
import {
  H_INTENT,
  H_INTENT_BEFORE,
  HEIGHT_MAX,
  headerWord,
  nextWord,
  R_BYTES,
  R_HEADER_WORDS,
  R_KEY_LENGTH,
  R_KIND_HEIGHT,
  R_PREV_SAME_HASH,
  R_SEQ_HIGH,
  R_SEQ_LOW,
  R_VALUE_LENGTH,
  RECORD_BYTES_MAX,
  RT_ARENA_BYTES,
  RT_CURRENT_RUN,
  RT_ENTRY_COUNT,
  RT_RANDOM,
  RT_STATE,
  RT_VISIBLE_OFFSET,
  recordBytes,
  STATE_BROKEN,
} from './layout.js';
import { rollBackBatchLocked } from './rollback.js';
import {
  findPredecessors,
  nodeKeyLength,
  nodeKeyStart,
  nodeSeq,
  prepareNodeLocked,
  publishNodeLocked,
} from './skiplist.js';

/** One entry of a batch. `value` is ignored (may be empty) for deletions. */
export interface MemtableRecord {
  readonly kind: number;
  readonly userKey: Uint8Array;
  readonly value: Uint8Array;
  readonly seq: Seq;
}

/**
 * Requires: caller holds the write mutex. Seqs must be strictly increasing within the batch, the
 * first above the applied seq, all below baseSeq + 2^32. ERR_INVALID_ARGUMENT before any change;
 * ERR_NVM_FULL leaves the memtable as it was.
 */
export function applyBatchLocked(core: MemtableCore, records: readonly MemtableRecord[]): void {
  if (records.length === 0) return;
  validateBatch(core, records);
  const commitWord = commitWordIndex(core);
  const startTail = core.words[commitWord]!;
  const position: ArenaPosition = {
    tail: startTail,
    run: Atomics.load(core.runtime, RT_CURRENT_RUN),
  };
  const addresses: number[] = [];
  const addedBytes = copyRecordsLocked(core, records, position, addresses);
  writeIntentLocked(core, startTail, records.length);
  try {
    for (const address of addresses) linkRecordLocked(core, address);
  } catch (error) {
    rollBackAfterFailure(core, { startTail, count: records.length, position, addedBytes }, error);
    throw error;
  }
  const lastSeq = records[records.length - 1]!.seq;
  commitLocked(core, position, lastSeq - core.baseSeq, addedBytes);
  Atomics.add(core.runtime, RT_ENTRY_COUNT, records.length);
  Atomics.store(core.runtime, RT_VISIBLE_OFFSET, (lastSeq - core.baseSeq) | 0);
  assert(appliedSeqLocked(core) === lastSeq);
}

/**
 * Step 3: the commit mark, one 8-byte atomic store of (tail, applied seq offset), persisted.
 * Requires: caller holds the write mutex.
 */
function commitLocked(
  core: MemtableCore,
  position: ArenaPosition,
  seqOffset: number,
  addedBytes: number,
): void {
  const commitWord = commitWordIndex(core);
  Atomics.store(core.words64, commitWord >>> 1, BigInt(position.tail) | (BigInt(seqOffset) << 32n));
  core.image.persist(commitWord * 4, 8);
  Atomics.store(core.runtime, RT_CURRENT_RUN, position.run);
  Atomics.add(core.runtime, RT_ARENA_BYTES, addedBytes);
}

/** Step 1: copies the records after the tail and persists each touched run range once. */
function copyRecordsLocked(
  core: MemtableCore,
  records: readonly MemtableRecord[],
  position: ArenaPosition,
  addresses: number[],
): number {
  const segments: ArenaSegment[] = [{ start: position.tail, end: position.tail }];
  let addedBytes = 0;
  for (const record of records) {
    const height = randomHeightLocked(core.runtime);
    const size = recordBytes(height, record.userKey.length, record.value.length);
    const before = position.tail;
    const skipped = placeRecordLocked(
      core.image,
      core.headerPage,
      position,
      size,
      core.runPagesDefault,
    );
    if (position.tail !== before) {
      segments[segments.length - 1]!.end = before + Math.min(skipped, 8); // the 0 marker
      segments.push({ start: position.tail, end: position.tail });
    }
    writeRecord(core, position.tail, height, size, record);
    addresses.push(position.tail);
    position.tail += size;
    segments[segments.length - 1]!.end = position.tail;
    addedBytes += skipped + size;
  }
  for (const segment of segments) {
    if (segment.end > segment.start) core.image.persist(segment.start, segment.end - segment.start);
  }
  return addedBytes;
}

/**
 *   word  0 bytes | 1 kind | height<<8 | 2 seq low | 3 seq high | 4 key length | 5 value length
 *         6 prevSameHash | 7.. next[height] | key bytes | value bytes | pad to 8
 * FORMAT.md, "Record".
 */
function writeRecord(
  core: MemtableCore,
  address: number,
  height: number,
  size: number,
  record: MemtableRecord,
): void {
  assert(address % 8 === 0, 'record address not 8-byte aligned');
  const words = core.words;
  const base = address >>> 2;
  words[base + R_BYTES] = size;
  words[base + R_KIND_HEIGHT] = record.kind | (height << 8);
  words[base + R_SEQ_LOW] = record.seq % 2 ** 32;
  words[base + R_SEQ_HIGH] = Math.floor(record.seq / 2 ** 32);
  words[base + R_KEY_LENGTH] = record.userKey.length;
  words[base + R_VALUE_LENGTH] = record.value.length;
  words[base + R_PREV_SAME_HASH] = 0;
  words.fill(0, nextWord(address, 0), nextWord(address, height));
  const keyStart = address + 4 * (R_HEADER_WORDS + height);
  core.bytes.set(record.userKey, keyStart);
  core.bytes.set(record.value, keyStart + record.userKey.length);
  if (invariantsEnabled) assert(nodeSeq(words, address) === record.seq, 'record seq read-back');
}

/**
 * The intent names the batch that step 2 may have half-linked: first (entry count before it,
 * its start tail), persisted, then (start tail, record count), persisted. Recovery trusts the
 * second word only when both name the same start tail. FORMAT.md, "Batch intent".
 */
function writeIntentLocked(core: MemtableCore, startTail: number, count: number): void {
  const before = Atomics.load(core.runtime, RT_ENTRY_COUNT) >>> 0;
  const beforeWord = headerWord(core.headerPage, H_INTENT_BEFORE);
  Atomics.store(core.words64, beforeWord >>> 1, BigInt(before) | (BigInt(startTail) << 32n));
  core.indexImage.persist(beforeWord * 4, 8);
  const intentWord = headerWord(core.headerPage, H_INTENT);
  Atomics.store(core.words64, intentWord >>> 1, BigInt(startTail) | (BigInt(count) << 32n));
  core.indexImage.persist(intentWord * 4, 8);
}

/** Step 2 for one record: prevSameHash and forward pointers, then skiplist links, then the hash. */
export function linkRecordLocked(core: MemtableCore, address: number): void {
  const words = core.words;
  const keyStart = nodeKeyStart(words, address);
  const keyEnd = keyStart + nodeKeyLength(words, address);
  core.keyHash(core.bytes.subarray(keyStart, keyEnd), core.hashOut);
  const hashHigh = core.hashOut[1]!;
  const hashLow = core.hashOut[0]!;
  const found = core.hash.searchWords(hashHigh, hashLow, core.valueOut);
  const previous = found ? core.valueOut[0]! : 0;
  assert(!found || core.valueOut[1] === 0, 'hash value is not a u32 record address');
  const preds = core.preds;
  const target = { bytes: core.bytes, start: keyStart, end: keyEnd, seq: nodeSeq(words, address) };
  findPredecessors(core.view, target, preds);
  words[(address >>> 2) + R_PREV_SAME_HASH] = previous;
  prepareNodeLocked(core.view, address, preds);
  const height = (words[(address >>> 2) + R_KIND_HEIGHT]! >>> 8) & 0xff;
  core.indexImage.persist(address + 4 * R_PREV_SAME_HASH, 4 * (1 + height));
  publishNodeLocked(core.view, address, preds, core.persistIndexWord);
  const replaced = core.hash.upsertWords(hashHigh, hashLow, 0, address, core.valueOut);
  assert(replaced === found, 'the hash changed under the write mutex');
  assert(!replaced || core.valueOut[0] === previous, 'the hash changed under the write mutex');
}

/**
 * Undoes a half-linked batch, then moves the committed tail past its bytes (seq unchanged) so
 * that a reader still standing on one of its unlinked records never sees the bytes reused. If
 * the undo fails too (a crash was injected, or the image is gone), the memtable is marked
 * broken: reopening it runs the same undo from the persisted intent.
 */
function rollBackAfterFailure(
  core: MemtableCore,
  batch: {
    readonly startTail: number;
    readonly count: number;
    readonly position: ArenaPosition;
    readonly addedBytes: number;
  },
  cause: unknown,
): void {
  try {
    const startRun = Atomics.load(core.runtime, RT_CURRENT_RUN);
    rollBackBatchLocked(core, { startTail: batch.startTail, count: batch.count, startRun });
    const seqOffset = core.words[commitWordIndex(core) + 1]!;
    commitLocked(core, batch.position, seqOffset, batch.addedBytes);
  } catch (undoError) {
    Atomics.store(core.runtime, RT_STATE, STATE_BROKEN);
    // The batch's own error stays the one thrown; the failed undo rides along as its cause.
    if (cause instanceof Error && cause.cause === undefined) cause.cause = undoError;
  }
}

function validateBatch(core: MemtableCore, records: readonly MemtableRecord[]): void {
  let previousSeq = appliedSeqLocked(core);
  for (let index = 0; index < records.length; index++) {
    const record = records[index]!;
    if (!(record.userKey instanceof Uint8Array) || !(record.value instanceof Uint8Array)) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `batch record ${index}: key and value must be Uint8Arrays`,
      );
    }
    if (!Number.isInteger(record.kind) || record.kind < 0 || record.kind > KIND_MAX) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `batch record ${index}: unknown kind ${record.kind}`,
      );
    }
    const seq = record.seq;
    if (!Number.isSafeInteger(seq) || seq <= previousSeq || seq > SEQ_MAX) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `batch record ${index}: seq ${seq} must be an integer above ${previousSeq}`,
      );
    }
    if (seq - core.baseSeq >= 2 ** 32) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `batch record ${index}: seq ${seq} is 2^32 or more above the memtable's base seq ${core.baseSeq}`,
      );
    }
    if (
      record.userKey.length + record.value.length >
      RECORD_BYTES_MAX - 4 * (R_HEADER_WORDS + HEIGHT_MAX)
    ) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `batch record ${index}: key and value too large`,
      );
    }
    previousSeq = seq;
  }
}

/** xorshift32; each level above the first with probability 1/4 (BRANCHING). */
function randomHeightLocked(runtime: Int32Array): number {
  let state = runtime[RT_RANDOM]! | 0;
  if (state === 0) state = 0x2545f491;
  let height = 1;
  for (; height < HEIGHT_MAX; height++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    if ((state & 3) !== 0) break;
  }
  runtime[RT_RANDOM] = state;
  return height;
}
