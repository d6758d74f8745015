/**
 * The Appender against a fake host (an in-memory key space and blob space): the in-place fast
 * path, its version check when other threads may write, and the fall-backs. blob.test.ts covers
 * the same code on a real database; here a write from "another thread" can land exactly between
 * the read and the commit.
 */
import { describe, expect, test } from 'vitest';
import { type BlobRef, decodeBlobRef, encodeBlobRef } from '../blob/blob-ref.js';
import { StrataError } from '../errors.js';
import { KIND_BLOB_REFERENCE, KIND_VALUE } from '../sst/internal-key.js';
import type { EncodedOp, WriteOp } from '../write/write-op.js';
import { Appender, type AppenderHost, type Stored } from './appender.js';
import type { BlobStore } from './blob-store.js';
import { resolveOptions } from './options.js';

type Select = ((ops: readonly EncodedOp[]) => readonly EncodedOp[]) | undefined;

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Keys to stored values; blobs as growable byte arrays by file number (one value per file). */
class FakeHost implements AppenderHost {
  readonly options = resolveOptions({});
  readonly stored = new Map<string, Stored>();
  readonly files = new Map<number, Uint8Array>();
  nextFile = 1;
  others = false;
  /** Runs inside the next commit, before its version check: another thread's write. */
  interleave: (() => void) | undefined;
  readonly selects: Select[] = [];
  nowCommits = 0;
  groupCommits = 0;

  readonly blobs = {
    decode: (encoded: Uint8Array): BlobRef => decodeBlobRef(encoded, 'fake'),
    isAppendable: (fileNumber: number): boolean => this.files.has(fileNumber),
    writeInPlace: (ref: BlobRef, bytes: Uint8Array): BlobRef => {
      this.files.get(ref.fileNumber)!.set(bytes, ref.used);
      return { ...ref, used: ref.used + bytes.length, version: ref.version + 1 };
    },
    read: (encoded: Uint8Array): Uint8Array => {
      const ref = decodeBlobRef(encoded, 'fake');
      return this.files.get(ref.fileNumber)!.slice(0, ref.used);
    },
    countRewrittenAppend: (): void => {},
  } as unknown as BlobStore;

  /** A value stored as a blob with `capacity` bytes reserved. */
  putBlob(key: string, value: string, capacity: number): void {
    const fileNumber = this.nextFile++;
    const file = new Uint8Array(capacity);
    file.set(utf8.encode(value));
    this.files.set(fileNumber, file);
    const ref = { fileNumber, valueOffset: 64, used: value.length, capacity, version: 1, crc: 0 };
    this.stored.set(key, { kind: KIND_BLOB_REFERENCE, value: encodeBlobRef(ref) });
  }

  valueOf(key: string): string {
    const stored = this.stored.get(key)!;
    return text(stored.kind === KIND_BLOB_REFERENCE ? this.blobs.read(stored.value) : stored.value);
  }

  readStored(key: Uint8Array): Stored | undefined {
    return this.stored.get(text(key));
  }

  storedIs(key: Uint8Array, expected: Stored | undefined): boolean {
    const now = this.readStored(key);
    if (now === undefined || expected === undefined) return now === expected;
    return now.kind === expected.kind && text(now.value) === text(expected.value);
  }

  canWriteNow(): boolean {
    return true;
  }

  othersMayWrite(): boolean {
    return this.others;
  }

  writeNow(op: WriteOp, select?: Select): boolean {
    this.selects.push(select);
    this.commit(op, select);
    this.nowCommits++;
    return true;
  }

  async write(op: WriteOp, select: Select): Promise<void> {
    await Promise.resolve();
    this.commit(op, select);
    this.groupCommits++;
  }

  checkOpen(): void {}

  private commit(op: WriteOp, select: Select): void {
    const interleave = this.interleave;
    this.interleave = undefined;
    interleave?.();
    const encoded = [op] as unknown as EncodedOp[];
    if (select !== undefined && select(encoded).length === 0) {
      throw new StrataError('ERR_CONFLICT', 'fake: precondition failed');
    }
    const key = text(op.key as Uint8Array);
    if (op.type === 'blobRef') {
      this.stored.set(key, { kind: KIND_BLOB_REFERENCE, value: op.value as Uint8Array });
      return;
    }
    // A rewrite: store it as a new blob file with its reserve.
    const value = op.value as Uint8Array;
    const capacity = op.blobCapacity ?? value.length;
    const fileNumber = this.nextFile++;
    const file = new Uint8Array(capacity);
    file.set(value);
    this.files.set(fileNumber, file);
    const ref = { fileNumber, valueOffset: 64, used: value.length, capacity, version: 1, crc: 0 };
    this.stored.set(key, { kind: KIND_BLOB_REFERENCE, value: encodeBlobRef(ref) });
  }
}

describe('Appender fast path', () => {
  test('an append with room commits at once, without a version check when no one else writes', async () => {
    const host = new FakeHost();
    host.putBlob('k', 'base', 100);
    const appender = new Appender(host);
    const appended = appender.append(utf8.encode('k'), utf8.encode('+one'));
    expect(host.valueOf('k')).toBe('base+one'); // committed before the promise settles
    await appended;
    expect(host.nowCommits).toBe(1);
    expect(host.selects).toEqual([undefined]);
  });

  test('with attached threads it checks the version, and a write landing in between wins then gets the bytes', async () => {
    const host = new FakeHost();
    host.others = true;
    host.putBlob('k', 'base', 100);
    const appender = new Appender(host);
    // Another thread replaces the value between the fast path's read and its commit.
    host.interleave = () => {
      host.stored.set('k', { kind: KIND_VALUE, value: utf8.encode('theirs') });
    };
    const bytes = utf8.encode('+mine');
    const appended = appender.append(utf8.encode('k'), bytes);
    bytes.fill(0x3f); // the caller reuses its buffer at once
    await appended;
    expect(typeof host.selects[0]).toBe('function');
    expect(host.valueOf('k')).toBe('theirs+mine');
  });

  test('no room, an inline value or an absent key take the general path', async () => {
    const host = new FakeHost();
    host.putBlob('full', 'abc', 3);
    host.stored.set('inline', { kind: KIND_VALUE, value: utf8.encode('in') });
    const appender = new Appender(host);
    await appender.append(utf8.encode('full'), utf8.encode('d'));
    await appender.append(utf8.encode('inline'), utf8.encode('line'));
    await appender.append(utf8.encode('absent'), utf8.encode('new'));
    expect(host.valueOf('full')).toBe('abcd');
    expect(host.valueOf('inline')).toBe('inline');
    expect(host.valueOf('absent')).toBe('new');
  });

  test('appends to one key queued behind a running one keep their order and their bytes', async () => {
    const host = new FakeHost();
    host.putBlob('k', '', 2);
    const appender = new Appender(host);
    const buffer = new Uint8Array(1);
    const runs: Promise<void>[] = [];
    for (const letter of 'abcdef') {
      buffer[0] = letter.charCodeAt(0);
      runs.push(appender.append(utf8.encode('k'), buffer));
    }
    buffer[0] = 0x3f;
    await Promise.all(runs);
    expect(host.valueOf('k')).toBe('abcdef');
  });
});
