/**
 * Test helpers for tables: a text notation for entries, building a table from entries, and the
 * sorted-array oracle that round-trip tests compare readers with.
 *
 *   entry  = userKey "." KIND "." seq ":" value        e.g.  apple.SET.7:red   apple.DEL.9:
 *   KIND   = DEL | SET | BLOB | MERGE  (SEEK, kind 0xff, only in seek targets and separators)
 *   seq    = decimal, or MAX for SEQ_MAX
 *
 * Bytes outside [A-Za-z0-9_-/] are written `\xNN`, so user keys may hold any byte, and `.` and `:`
 * are never ambiguous: the last two unescaped dots end the user key.
 */
import { assert } from '../../assert.js';
import { decodeBlockHandle } from '../block-handle.js';
import { BlockReader } from '../block-reader.js';
import { decodeFooter } from '../footer.js';
import {
  compareInternalKeys,
  compareUserKeys,
  encodeInternalKey,
  type InternalKeyKind,
  internalKeyKind,
  internalKeySeq,
  KIND_SEEK,
  SEQ_MAX,
  type Seq,
  TRAILER_BYTES,
  userKeyOf,
  writeTrailer,
} from '../internal-key.js';
import { TableFile } from '../table-file.js';
import { FOOTER_BYTES } from '../table-format.js';
import type { TableProperties } from '../table-properties.js';
import { TableWriter, type TableWriterOptions } from '../table-writer.js';

export interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

const KIND_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'DEL'],
  [1, 'SET'],
  [2, 'BLOB'],
  [3, 'MERGE'],
  [KIND_SEEK, 'SEEK'],
]);
const KINDS_BY_NAME: ReadonlyMap<string, number> = new Map(
  [...KIND_NAMES].map(([kind, name]) => [name, kind]),
);

export function escapeBytes(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) {
    const plain = /[A-Za-z0-9_\-/]/.test(String.fromCharCode(byte));
    text += plain ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}

export function unescapeBytes(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    if (text[index] === '\\' && text[index + 1] === 'x') {
      bytes.push(Number.parseInt(text.slice(index + 2, index + 4), 16));
      index += 3;
    } else {
      const code = text.charCodeAt(index);
      assert(code < 0x80, 'notation is ASCII; escape other bytes as \\xNN');
      bytes.push(code);
    }
  }
  return Uint8Array.from(bytes);
}

/** `userKey.KIND.seq` for an internal key; SEQ_MAX is written MAX. */
export function formatKey(internalKey: Uint8Array): string {
  const kind = internalKeyKind(internalKey);
  const name = KIND_NAMES.get(kind) ?? `KIND${kind}`;
  const seq = internalKeySeq(internalKey);
  return `${escapeBytes(userKeyOf(internalKey))}.${name}.${seq === SEQ_MAX ? 'MAX' : seq}`;
}

/** Parses `userKey.KIND.seq` into an internal key (SEEK allowed). */
export function parseKey(text: string): Uint8Array {
  const seqDot = text.lastIndexOf('.');
  const kindDot = text.lastIndexOf('.', seqDot - 1);
  assert(kindDot >= 0, `not a key: ${text}`);
  const kind = KINDS_BY_NAME.get(text.slice(kindDot + 1, seqDot));
  assert(kind !== undefined, `unknown kind in ${text}`);
  const seqText = text.slice(seqDot + 1);
  const seq = seqText === 'MAX' ? SEQ_MAX : Number(seqText);
  const userKey = unescapeBytes(text.slice(0, kindDot));
  const key = new Uint8Array(userKey.length + TRAILER_BYTES);
  key.set(userKey, 0);
  writeTrailer(key, userKey.length, seq, kind);
  return key;
}

export function formatEntry(key: Uint8Array, value: Uint8Array): string {
  return `${formatKey(key)}:${escapeBytes(value)}`;
}

export function parseEntry(text: string): Entry {
  const colon = text.indexOf(':');
  assert(colon > 0, `not an entry: ${text}`);
  return { key: parseKey(text.slice(0, colon)), value: unescapeBytes(text.slice(colon + 1)) };
}

export function buildTable(
  path: string,
  entries: readonly Entry[],
  options: TableWriterOptions = {},
): TableProperties {
  const writer = new TableWriter(path, { sync: false, ...options });
  try {
    for (const entry of entries) writer.add(entry.key, entry.value);
    return writer.finish();
  } catch (error) {
    writer.abandon();
    throw error;
  }
}

/** Sorts by internal key and drops later duplicates of the same internal key. */
export function sortedUnique(entries: readonly Entry[]): Entry[] {
  const sorted = [...entries].sort((a, b) => compareInternalKeys(a.key, b.key));
  return sorted.filter(
    (entry, index) => index === 0 || compareInternalKeys(sorted[index - 1]!.key, entry.key) !== 0,
  );
}

/** Index of the first entry with key >= target (entries sorted), or entries.length. */
export function lowerBound(entries: readonly Entry[], target: Uint8Array): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareInternalKeys(entries[middle]!.key, target) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** What TableReader.get must answer, computed from the sorted entries. */
export function oracleGet(
  entries: readonly Entry[],
  userKey: Uint8Array,
  snapshotSeq: Seq,
): { kind: InternalKeyKind; seq: Seq; value: Uint8Array } | undefined {
  for (const entry of entries) {
    if (compareUserKeys(userKeyOf(entry.key), userKey) !== 0) continue;
    const seq = internalKeySeq(entry.key);
    if (seq > snapshotSeq) continue;
    return { kind: internalKeyKind(entry.key) as InternalKeyKind, seq, value: entry.value };
  }
  return undefined;
}

export function entry(userKey: string, seq: Seq, kind: InternalKeyKind, value = ''): Entry {
  const encoder = new TextEncoder();
  return {
    key: encodeInternalKey(encoder.encode(userKey), seq, kind),
    value: encoder.encode(value),
  };
}

/**
 * One line per data block, read straight from the file's footer and index: the index separator
 * and the block's handle. Shows block cuts and separator shortening in datadriven output.
 */
export function describeIndex(path: string): string[] {
  const file = TableFile.open(path);
  try {
    const footerOffset = file.sizeBytes - FOOTER_BYTES;
    const footer = decodeFooter(file.read(footerOffset, FOOTER_BYTES), {
      path,
      offsetBytes: footerOffset,
    });
    const location = { path, offsetBytes: footer.index.offsetBytes };
    const iterator = BlockReader.parse(file.readBlock(footer.index), location).iterator();
    const lines: string[] = [];
    for (iterator.seekFirst(); iterator.valid(); iterator.next()) {
      const handle = decodeBlockHandle(iterator.value(), location);
      lines.push(
        `${formatKey(iterator.key())} -> block at ${handle.offsetBytes} (${handle.sizeBytes} bytes)`,
      );
    }
    return lines;
  } finally {
    file.close();
  }
}
