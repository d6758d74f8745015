/**
 * Datadriven memtable cases in testdata/ (format: src/sst/testing/datadriven.ts). Commands:
 *   new [run-size=N] [collide]       a fresh memtable (collide: every key hashes alike)
 *   apply                            lines `put KEY VALUE` / `del KEY`; seqs count up from 1
 *   get [snapshot=N] KEY...          newest visible version of each key
 *   scan [snapshot=N] [reverse]      every visible version, in order
 *   entries [snapshot=N]             newest visible version per key
 *   iter [snapshot=N]                lines first / last / seek KEY / next / prev
 *   reopen                           close and open the memtable again
 * Keys and values are text with \xNN escapes; `""` is the empty key.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { KIND_DELETION, KIND_VALUE } from '../sst/internal-key.js';
import {
  caseArg,
  caseIntArg,
  type DataDrivenCase,
  runDataDriven,
} from '../sst/testing/datadriven.js';
import { Memtable, type MemtableIterator, type MemtableRecord } from './memtable.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const temp = makeTempFolder('memtable-datadriven');
afterAll(() => temp.remove());

const files = readdirSync(TESTDATA).filter((name) => name !== 'format');

// runDataDriven compares each case's output with its expected block; this guards the corpus.
test('the datadriven corpus is present', () => {
  expect(files).toEqual(expect.arrayContaining(['collisions', 'iterator', 'shadowing']));
});

test.each(files)('testdata/%s', (name) => {
  const image = NvmImage.open(join(temp.path, `${name}.nvm`), {
    backend: 'mapped',
    sizeMaxBytes: 16 << 20,
  });
  let state: { memtable: Memtable; header: number; collide: boolean; seq: number } | undefined;
  const current = (): NonNullable<typeof state> => {
    if (state === undefined) throw new Error('run `new` first');
    return state;
  };
  try {
    runDataDriven(join(TESTDATA, name), (testCase) => {
      switch (testCase.command) {
        case 'new': {
          state?.memtable.close();
          const header = Memtable.create(image, {
            runSizeBytes: caseIntArg(testCase, 'run-size', 4096),
          });
          const collide = testCase.tokens.includes('collide');
          state = { memtable: openMemtable(image, header, collide), header, collide, seq: 0 };
          return 'ok';
        }
        case 'apply':
          return apply(current(), testCase);
        case 'get':
          return testCase.tokens
            .filter((token) => !token.startsWith('snapshot='))
            .map((token) => {
              const entry = current().memtable.get(decode(token), snapshotOf(testCase));
              if (entry === undefined) return `${token}=(absent)`;
              if (entry.kind === KIND_DELETION) return `${token}=(deleted@${entry.seq})`;
              return `${token}=${encode(entry.value)}@${entry.seq}`;
            })
            .join(' ');
        case 'scan':
          return scan(current().memtable, testCase);
        case 'entries':
          return [...current().memtable.entries(snapshotOf(testCase))]
            .map((entry) => `${render(entry.userKey, entry.seq, entry.kind, entry.value)}`)
            .join('\n');
        case 'iter':
          return iterate(current().memtable.iterator(snapshotOf(testCase)), testCase.input);
        case 'reopen': {
          const open = current();
          open.memtable.close();
          open.memtable = openMemtable(image, open.header, open.collide);
          return 'ok';
        }
        default:
          throw new Error(`${testCase.path}:${testCase.line}: unknown command ${testCase.command}`);
      }
    });
  } finally {
    state?.memtable.close();
    image.close();
  }
});

function openMemtable(image: NvmImage, header: number, collide: boolean): Memtable {
  if (!collide) return Memtable.open(image, header);
  return Memtable.open(image, header, {
    keyHash: (_key, out) => {
      out[0] = 7;
      out[1] = 0;
    },
  });
}

function apply(state: { memtable: Memtable; seq: number }, testCase: DataDrivenCase): string {
  const first = state.seq + 1;
  const records: MemtableRecord[] = testCase.input.split('\n').map((line) => {
    const [verb, key = '', value = ''] = line.trim().split(/\s+/);
    const deletion = verb === 'del';
    return {
      kind: deletion ? KIND_DELETION : KIND_VALUE,
      userKey: decode(key),
      value: deletion ? new Uint8Array(0) : decode(value),
      seq: ++state.seq,
    };
  });
  state.memtable.applyBatch(records);
  return `ok seq=${first}..${state.seq}`;
}

function scan(memtable: Memtable, testCase: DataDrivenCase): string {
  const iterator = memtable.iterator(snapshotOf(testCase));
  const lines: string[] = [];
  const reverse = testCase.tokens.includes('reverse');
  for (reverse ? iterator.seekLast() : iterator.seekFirst(); iterator.valid(); ) {
    lines.push(position(iterator));
    if (reverse) iterator.prev();
    else iterator.next();
  }
  return lines.join('\n');
}

function iterate(iterator: MemtableIterator, input: string): string {
  return input
    .split('\n')
    .map((line) => {
      const [step, key = ''] = line.trim().split(/\s+/);
      if (step === 'first') iterator.seekFirst();
      else if (step === 'last') iterator.seekLast();
      else if (step === 'seek') iterator.seek(decode(key));
      else if (step === 'next') iterator.next();
      else if (step === 'prev') iterator.prev();
      else throw new Error(`unknown iterator step ${step}`);
      return `${line.trim()}: ${iterator.valid() ? position(iterator) : '.'}`;
    })
    .join('\n');
}

function position(iterator: MemtableIterator): string {
  return render(iterator.key(), iterator.seq(), iterator.kind(), iterator.value());
}

function render(key: Uint8Array, seq: number, kind: number, value: Uint8Array): string {
  return kind === KIND_DELETION
    ? `${encode(key)}@${seq} del`
    : `${encode(key)}@${seq} put ${encode(value)}`;
}

function snapshotOf(testCase: DataDrivenCase): number {
  const text = caseArg(testCase, 'snapshot');
  return text === undefined ? Number.MAX_SAFE_INTEGER : Number(text);
}

function decode(text: string): Uint8Array {
  if (text === '""') return new Uint8Array(0);
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    if (text.startsWith('\\x', index)) {
      bytes.push(Number.parseInt(text.slice(index + 2, index + 4), 16));
      index += 3;
    } else {
      bytes.push(text.charCodeAt(index));
    }
  }
  return Uint8Array.from(bytes);
}

function encode(bytes: Uint8Array): string {
  if (bytes.length === 0) return '""';
  let text = '';
  for (const byte of bytes) {
    const printable = byte > 0x20 && byte < 0x7f && byte !== 0x5c;
    text += printable ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}
