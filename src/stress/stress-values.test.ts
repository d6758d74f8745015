/**
 * The stress harness's own pieces, without a store: values rebuild from their specs and the
 * foreign-value check accepts exactly what was written; write ops survive their log spelling;
 * a log replays to the acknowledged state with the write in flight kept apart, settles, and
 * checkpoints to the same state; the scan and index-result checks catch what they must.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { decodeWriteOp, encodeWriteOp, ThreadState, type WriteOp } from './expected-state.js';
import { OpLog, replayLog, settle, writeCheckpoint } from './op-log.js';
import { checkIndexResult, checkScan, ownIndexEntries } from './read-checks.js';
import {
  checkWrittenValue,
  fieldRecordBytes,
  parseStressKey,
  segmentBytes,
  specBytes,
  stressKey,
} from './stress-values.js';

const encoder = new TextEncoder();

describe('stress values', () => {
  test('keys parse back; raw keys are even, field keys odd', () => {
    expect(stressKey(3, 12)).toBe('s03-r00012');
    expect(stressKey(3, 13)).toBe('s03-f00013');
    expect(parseStressKey('s03-f00013')).toEqual({ thread: 3, index: 13 });
    expect(parseStressKey('s03-r00013')).toBeUndefined();
    expect(parseStressKey('x')).toBeUndefined();
  });

  test('a value with appends is accepted with its newest opId; damage of any kind is refused', () => {
    const key = stressKey(1, 4);
    const value = Buffer.concat([
      segmentBytes('P', key, 5, 40),
      segmentBytes('A', key, 9, 3),
      segmentBytes('A', key, 12, 700),
    ]);
    expect(Buffer.compare(specBytes(key, 'P.5.40+A.9.3+A.12.700'), value)).toBe(0);
    expect(checkWrittenValue(key, value, 12)).toEqual({ opId: 12 });
    expect(checkWrittenValue(key, value, 11).error).toMatch(/above the 11/);
    expect(checkWrittenValue(stressKey(1, 6), value, 99).error).toMatch(/names key/);
    const flipped = Uint8Array.from(value);
    flipped[30] = flipped[30]! ^ 1;
    expect(checkWrittenValue(key, flipped, 99).error).toMatch(/differs/);
    expect(checkWrittenValue(key, value.subarray(0, value.length - 1), 99).error).toBeDefined();
    const reordered = Buffer.concat([segmentBytes('P', key, 5, 4), segmentBytes('A', key, 3, 4)]);
    expect(checkWrittenValue(key, reordered, 99).error).toMatch(/after 5/);
    const putAfter = Buffer.concat([segmentBytes('A', key, 3, 4), segmentBytes('P', key, 5, 4)]);
    expect(checkWrittenValue(key, putAfter, 99).error).toMatch(/kind/);
  });

  test('a field record is accepted only as written', () => {
    const key = stressKey(2, 7);
    const record = fieldRecordBytes(key, 41);
    expect(specBytes(key, 'F.41')).toEqual(record);
    expect(checkWrittenValue(key, record, 41)).toEqual({ opId: 41 });
    expect(checkWrittenValue(stressKey(2, 9), record, 99).error).toMatch(/id/);
    const other = Uint8Array.from(record);
    other[other.length - 1] = other[other.length - 1]! ^ 1;
    expect(checkWrittenValue(key, other, 99).error).toBeDefined();
    expect(checkWrittenValue(key, encoder.encode('junk'), 99).error).toMatch(/neither/);
  });
});

describe('stress logs', () => {
  const ops: WriteOp[] = [
    { kind: 'put', index: 2, fillerBytes: 300 },
    { kind: 'append', index: 2, fillerBytes: 5 },
    { kind: 'putFields', index: 3 },
    {
      kind: 'batch',
      parts: [
        { type: 'p', index: 4, fillerBytes: 0 },
        { type: 'f', index: 5 },
        { type: 'd', index: 2 },
      ],
    },
    { kind: 'del', index: 3 },
  ];

  test('write ops survive their spelling', () => {
    for (const op of ops) expect(decodeWriteOp(encodeWriteOp(op))).toEqual(op);
    expect(() => decodeWriteOp('put 1')).toThrow(/bad write op/);
  });

  test('replay: acknowledged writes applied, the one in flight kept apart, a cut line ignored; settled into a checkpoint', async () => {
    const temp = makeTempFolder('stress-log');

    try {
      const path = temp.file('thread-01.log');
      const log = new OpLog(path);
      const expected = new ThreadState(1);
      for (const [position, op] of ops.slice(0, 4).entries()) {
        log.inFlight(position + 1, op);
        log.acked(position + 1);
        expected.apply(position + 1, op);
      }
      log.inFlight(5, ops[4]!);
      log.close();
      appendFileSync(path, 'a 5'); // a kill cut the acknowledgement short
      const replay = replayLog(path, 1);
      expect(replay.acked).toBe(4);
      expect(replay.nextOpId).toBe(6);
      expect(replay.pending).toEqual({ opId: 5, op: ops[4] });
      expect([...replay.state.values]).toEqual([...expected.values]);
      expect(replay.state.get(2)).toBeUndefined(); // the batch deleted it
      expect(replay.state.get(3)?.spec).toBe('F.3');

      const settled = settle(replay, true);
      expect(settled.pending).toBeUndefined();
      expect(settled.state.get(3)).toBeUndefined();
      expect(settle(replay, false).state.get(3)?.spec).toBe('F.3');
      writeCheckpoint(path, settled); // also drops the cut line
      const again = replayLog(path, 1);
      expect(again.acked).toBe(4);
      expect(again.nextOpId).toBe(6);
      expect([...again.state.values]).toEqual([...settled.state.values]);
      expect(readFileSync(path, 'latin1').split('\n')[0]).toBe('c 6 4');
      expect(() => writeCheckpoint(path, replay)).toThrow(/in flight/);
    } finally {
      temp.remove();
    }
  });
});

describe('stress read checks', () => {
  const own = new ThreadState(0);
  for (let index = 0; index < 6; index++)
    own.setSpec(index, index % 2 === 1 ? `F.${index}` : `P.${index}.3`);
  const entry = (index: number): [Uint8Array, Uint8Array] => [
    encoder.encode(own.key(index)),
    own.get(index)!.bytes,
  ];
  const context = { own, foreign: () => undefined };

  test('a scan must hold every own key in its bounds, in order, each exact', () => {
    const request = { gte: 's00-r00000', lt: 's00-r00005', reverse: false };
    expect(checkScan([entry(0), entry(2), entry(4)], request, context).failure).toBeUndefined();
    expect(checkScan([entry(0), entry(4)], request, context).failure).toMatch(/s00-r00002 missing/);
    expect(checkScan([entry(2), entry(0), entry(4)], request, context).failure).toMatch(/after/);
    expect(
      checkScan([entry(0), entry(2)], { ...request, limit: 2 }, context).failure,
    ).toBeUndefined();
    expect(
      checkScan([entry(4), entry(2)], { ...request, reverse: true, limit: 2 }, context).failure,
    ).toBeUndefined();
    const wrong: [Uint8Array, Uint8Array] = [entry(0)[0], own.get(2)!.bytes];
    expect(checkScan([wrong, entry(2), entry(4)], request, context).failure).toMatch(
      /expected P.0.3/,
    );
  });

  test("an index result's own keys must be the own matching records; a limit allows a prefix", () => {
    const entries = ownIndexEntries(own, 'id', () => true);
    expect(entries.map((each) => each.key)).toEqual(['s00-f00001', 's00-f00003', 's00-f00005']);
    const keys = (...names: string[]) => names.map((name) => encoder.encode(name));
    const request = { thread: 0, keyOrder: true };
    expect(
      checkIndexResult(
        keys('s00-f00001', 's00-f00003', 's00-f00005', 's01-f00001'),
        entries,
        request,
      ),
    ).toBeUndefined();
    expect(checkIndexResult(keys('s00-f00001', 's00-f00005'), entries, request)).toMatch(
      /own keys/,
    );
    expect(
      checkIndexResult(keys('s00-f00001', 's00-f00003'), entries, { ...request, limit: 2 }),
    ).toBeUndefined();
    expect(
      checkIndexResult(keys('s00-f00001', 's00-f00005'), entries, { ...request, limit: 2 }),
    ).toMatch(/prefix/);
    expect(checkIndexResult(keys('s00-f00001', 's00-r00002'), entries, request)).toMatch(
      /cannot hold fields/,
    );
    expect(checkIndexResult(keys('s00-f00001', 's00-f00001'), entries, request)).toMatch(/twice/);
  });
});
