/**
 * Test oracle: every version ever applied, as a sorted array, answering what a memtable must
 * answer (get at a snapshot, all visible versions in order, newest per key). For tests only.
 */
import { compareUserKeys, type Seq } from '../../sst/internal-key.js';
import type { Memtable, MemtableRecord } from '../memtable.js';

export interface OracleEntry {
  readonly userKey: Uint8Array;
  readonly seq: Seq;
  readonly kind: number;
  readonly value: Uint8Array;
}

export class Oracle {
  readonly entries: OracleEntry[] = [];

  apply(records: readonly MemtableRecord[]): void {
    for (const record of records) {
      this.entries.push({
        userKey: record.userKey.slice(),
        seq: record.seq,
        kind: record.kind,
        value: record.value.slice(),
      });
    }
    this.entries.sort(compareEntries);
  }

  visible(snapshotSeq: Seq): OracleEntry[] {
    return this.entries.filter((entry) => entry.seq <= snapshotSeq);
  }

  get(userKey: Uint8Array, snapshotSeq: Seq): OracleEntry | undefined {
    return this.entries.find(
      (entry) => compareUserKeys(entry.userKey, userKey) === 0 && entry.seq <= snapshotSeq,
    );
  }

  newestPerKey(snapshotSeq: Seq): OracleEntry[] {
    const result: OracleEntry[] = [];
    for (const entry of this.visible(snapshotSeq)) {
      const last = result[result.length - 1];
      if (last === undefined || compareUserKeys(last.userKey, entry.userKey) !== 0) {
        result.push(entry);
      }
    }
    return result;
  }
}

export function compareEntries(a: OracleEntry, b: OracleEntry): number {
  const byKey = compareUserKeys(a.userKey, b.userKey);
  if (byKey !== 0) return byKey;
  return b.seq - a.seq;
}

/** Every version the memtable's iterator shows at `snapshotSeq`, forward. */
export function scanForward(memtable: Memtable, snapshotSeq: Seq): OracleEntry[] {
  const iterator = memtable.iterator(snapshotSeq);
  const result: OracleEntry[] = [];
  for (iterator.seekFirst(); iterator.valid(); iterator.next()) {
    result.push({
      userKey: iterator.key(),
      seq: iterator.seq(),
      kind: iterator.kind(),
      value: iterator.value(),
    });
  }
  return result;
}

/** The same, walked backward from the last entry, then reversed. */
export function scanBackward(memtable: Memtable, snapshotSeq: Seq): OracleEntry[] {
  const iterator = memtable.iterator(snapshotSeq);
  const result: OracleEntry[] = [];
  for (iterator.seekLast(); iterator.valid(); iterator.prev()) {
    result.push({
      userKey: iterator.key(),
      seq: iterator.seq(),
      kind: iterator.kind(),
      value: iterator.value(),
    });
  }
  return result.reverse();
}

/** A compact, comparable rendering of entries for expect().toEqual. */
export function render(entries: readonly OracleEntry[]): string[] {
  return entries.map(
    (entry) =>
      `${Buffer.from(entry.userKey).toString('hex')}@${entry.seq}:${entry.kind}=${Buffer.from(entry.value).toString('hex')}`,
  );
}
