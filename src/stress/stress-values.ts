/**
 * Keys and values of a stress run. Every value is a pure function of the key and the id of the
 * write that made it (and a length), so a log line is enough to rebuild it and any value read
 * from the store can be checked for having been written at all:
 *
 *   key        s<thread 2 digits>-<r|f><index 5 digits>   r: raw values, f: field records
 *   raw value  one or more segments, the first from a put ('P') or an append ('A'), the rest
 *              from appends:  <P|A> '|' <key> '|' <opId> '|' <fillerBytes> '|' <filler>
 *   field rec  encodeFields(fieldsFor(key, opId)): an `id` field "<key>|<opId>" and, drawn from
 *              a PRNG seeded by both, `color`, `shape`, `tag` (bytes 00 01 61 FF) and `pad`
 *
 * A value's "spec" names how it was made, e.g. `P.12.40+A.15.30` or `F.33`; the logs'
 * checkpoints store specs, and specBytes() rebuilds the bytes.
 */
import { Prng } from '../ehash/testing/prng.js';
import { decodeFields, encodeFields, type FieldValue } from '../fields/field-codec.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const BAR = 0x7c; // '|'

export function stressKey(thread: number, index: number): string {
  const kind = isFieldKey(index) ? 'f' : 'r';
  return `s${String(thread).padStart(2, '0')}-${kind}${String(index).padStart(5, '0')}`;
}

/** Odd indexes hold field records (putFields), even ones raw values (put, append). */
export function isFieldKey(index: number): boolean {
  return index % 2 === 1;
}

export function parseStressKey(text: string): { thread: number; index: number } | undefined {
  const match = /^s(\d{2})-([rf])(\d{5})$/.exec(text);
  if (match === null) return undefined;
  const index = Number(match[3]);
  if ((match[2] === 'f') !== isFieldKey(index)) return undefined;
  return { thread: Number(match[1]), index };
}

/** One raw segment: its header, then `fillerBytes` bytes that depend on the opId and length. */
export function segmentBytes(
  kind: 'P' | 'A',
  key: string,
  opId: number,
  fillerBytes: number,
): Uint8Array {
  const header = encoder.encode(`${kind}|${key}|${opId}|${fillerBytes}|`);
  const bytes = new Uint8Array(header.length + fillerBytes);
  bytes.set(header);
  for (let index = 0; index < fillerBytes; index++) {
    bytes[header.length + index] = 97 + ((opId * 7 + index * 13 + fillerBytes) % 26);
  }
  return bytes;
}

export function fieldsFor(key: string, opId: number): Record<string, FieldValue> {
  const prng = new Prng(hashText(key) ^ Math.imul(opId, 0x9e3779b1));
  const fields: Record<string, FieldValue> = { id: `${key}|${opId}` };
  if (prng.below(10) < 8) fields['color'] = `c${prng.below(6)}`;
  if (prng.below(10) < 7) fields['shape'] = `s${prng.below(10)}`;
  if (prng.below(10) < 6) fields['tag'] = randomTag(prng);
  if (prng.below(4) === 0) fields['pad'] = 'p'.repeat(200 + prng.below(1300));
  return fields;
}

/** What the value drawers need of a PRNG (Prng, or a stress thread's OpMix). */
export interface Draw {
  below(bound: number): number;
}

/** A tag value: 0–3 bytes among 00 01 61 FF, so index keys escape zeros and order by length. */
export function randomTag(prng: Draw): Uint8Array {
  const alphabet = [0x00, 0x01, 0x61, 0xff];
  return Uint8Array.from({ length: prng.below(4) }, () => alphabet[prng.below(4)]!);
}

/** The value a field index query may ask for: one of the values fieldsFor draws. */
export function randomFieldValue(prng: Draw, field: string): Uint8Array {
  if (field === 'color') return encoder.encode(`c${prng.below(6)}`);
  if (field === 'shape') return encoder.encode(`s${prng.below(10)}`);
  return randomTag(prng);
}

export function fieldRecordBytes(key: string, opId: number): Uint8Array {
  return encodeFields(fieldsFor(key, opId));
}

/** The bytes of a spec: its parts joined by '+', each `P.<opId>.<len>`, `A.<opId>.<len>` or `F.<opId>`. */
export function specBytes(key: string, spec: string): Uint8Array {
  const parts = spec.split('+').map((part) => {
    const [kind, opId, length] = part.split('.');
    if (kind === 'F') return fieldRecordBytes(key, Number(opId));
    if (kind !== 'P' && kind !== 'A') throw new Error(`bad value spec ${JSON.stringify(spec)}`);
    return segmentBytes(kind, key, Number(opId), Number(length));
  });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** What reading another thread's key found: why it cannot be a value written, or its newest opId. */
export interface ForeignCheck {
  readonly error?: string;
  /** The largest opId among its parts (a later read must not see a smaller one). */
  readonly opId?: number;
}

/**
 * Whether `bytes`, read under `key`, is a value its thread wrote with an opId at most
 * `issuedMax` (the highest opId the thread had issued when the read returned).
 */
export function checkWrittenValue(key: string, bytes: Uint8Array, issuedMax: number): ForeignCheck {
  const first = bytes[0];
  const checked = first === 0x50 || first === 0x41 ? checkRaw(key, bytes) : checkRecord(key, bytes);
  if (checked.error !== undefined || checked.opId === undefined) return checked;
  if (checked.opId > issuedMax) {
    return { error: `opId ${checked.opId} above the ${issuedMax} its thread had issued` };
  }
  return checked;
}

function checkRaw(key: string, bytes: Uint8Array): ForeignCheck {
  let offset = 0;
  let last = 0;
  for (let part = 0; offset < bytes.length; part++) {
    const fields: string[] = [];
    let cursor = offset;
    for (let bar = 0; bar < 4; bar++) {
      const end = bytes.indexOf(BAR, cursor);
      if (end < 0 || end - cursor > 24)
        return { error: `part ${part} at byte ${offset}: bad header` };
      fields.push(decoder.decode(bytes.subarray(cursor, end)));
      cursor = end + 1;
    }
    const [kind, partKey, opText, lengthText] = fields as [string, string, string, string];
    const opId = Number(opText);
    const length = Number(lengthText);
    if ((kind !== 'P' && kind !== 'A') || (part > 0 && kind !== 'A')) {
      return { error: `part ${part} at byte ${offset}: kind ${JSON.stringify(kind)}` };
    }
    if (partKey !== key) return { error: `part ${part} names key ${JSON.stringify(partKey)}` };
    if (!Number.isSafeInteger(opId) || !Number.isSafeInteger(length) || opId <= last) {
      return { error: `part ${part}: opId ${opText} after ${last}, length ${lengthText}` };
    }
    const expected = segmentBytes(kind, key, opId, length);
    const found = bytes.subarray(offset, offset + expected.length);
    if (Buffer.compare(found, expected) !== 0) {
      return { error: `part ${part} (${kind}.${opId}.${length}) at byte ${offset} differs` };
    }
    offset += expected.length;
    last = opId;
  }
  return { opId: last };
}

function checkRecord(key: string, bytes: Uint8Array): ForeignCheck {
  let id: string | undefined;
  try {
    const field = decodeFields(bytes).find((each) => each.name === 'id');
    id = field === undefined ? undefined : decoder.decode(field.value);
  } catch (error) {
    return { error: `neither raw nor a field record (${String(error)})` };
  }
  const match = id === undefined ? null : /^(.*)\|(\d+)$/.exec(id);
  if (match === null || match[1] !== key) return { error: `field record with id ${id}` };
  const opId = Number(match[2]);
  if (Buffer.compare(bytes, fieldRecordBytes(key, opId)) !== 0) {
    return { error: `field record ${id} differs from the one written` };
  }
  return { opId };
}

/** A short description of a value for failure messages: its parts, or its first bytes. */
export function describeValue(key: string, bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return 'absent';
  const checked = checkWrittenValue(key, bytes, Number.MAX_SAFE_INTEGER);
  const head = JSON.stringify(decoder.decode(bytes.subarray(0, 48)));
  return checked.error === undefined
    ? `${bytes.length} bytes, newest opId ${checked.opId}, starting ${head}`
    : `${bytes.length} bytes (${checked.error}), starting ${head}`;
}

function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  }
  return hash >>> 0;
}
