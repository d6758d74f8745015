/**
 * Datadriven iterator cases (testdata/iterator). Commands:
 *
 *   build [block-size=N] [restart-interval=N]   input: one entry per line (table-fixtures.ts)
 *                                               output: counts, then the index, one line per block
 *   iter                                        input: seek-first | seek-last | seek KEY | next | prev
 *                                               output: the position after each op, `.` if invalid
 *   get                                         input: userKey snapshotSeq ("" is the empty key)
 *                                               output: the version found, or (absent)
 *
 * UPDATE_TESTDATA=1 rewrites the expected outputs.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { BlockCache } from './block-cache.js';
import { TableReader } from './table-reader.js';
import { caseIntArg, type DataDrivenCase, runDataDriven } from './testing/datadriven.js';
import {
  buildTable,
  describeIndex,
  escapeBytes,
  formatEntry,
  parseEntry,
  parseKey,
  unescapeBytes,
} from './testing/table-fixtures.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const folder = makeTempFolder('sst-iterator');
afterAll(() => folder.remove());

test('testdata/iterator', () => {
  let reader: TableReader | undefined;
  let fileNumber = 0;
  const lines = (input: string) => input.split('\n').filter((line) => line.trim() !== '');
  runDataDriven(join(TESTDATA, 'iterator'), (testCase: DataDrivenCase) => {
    switch (testCase.command) {
      case 'build': {
        reader?.close();
        fileNumber++;
        const path = folder.file(`${fileNumber}.sst`);
        const properties = buildTable(path, lines(testCase.input).map(parseEntry), {
          blockSizeBytes: caseIntArg(testCase, 'block-size', 4096),
          restartInterval: caseIntArg(testCase, 'restart-interval', 16),
          createdAtMs: 0,
        });
        reader = TableReader.open(path, {
          fileNumber,
          cache: new BlockCache({ capacityBytes: 1 << 20 }),
        });
        const summary = `entries=${properties.entryCount} tombstones=${properties.tombstoneCount} blocks=${properties.dataBlockCount}`;
        return [summary, ...describeIndex(path)].join('\n');
      }
      case 'iter': {
        expect(reader).toBeDefined();
        const iterator = reader!.iterator();
        return lines(testCase.input)
          .map((line) => {
            const [op, argument] = line.trim().split(/\s+/);
            try {
              if (op === 'seek-first') iterator.seekFirst();
              else if (op === 'seek-last') iterator.seekLast();
              else if (op === 'seek') iterator.seek(parseKey(argument!));
              else if (op === 'next') iterator.next();
              else if (op === 'prev') iterator.prev();
              else throw new Error(`unknown op ${op}`);
            } catch (error) {
              return `${line}: error: ${(error as Error).message}`;
            }
            const position = iterator.valid() ? formatEntry(iterator.key(), iterator.value()) : '.';
            return `${line}: ${position}`;
          })
          .join('\n');
      }
      case 'get': {
        expect(reader).toBeDefined();
        return lines(testCase.input)
          .map((line) => {
            const [userKeyText = '', seqText = ''] = line.trim().split(/\s+/);
            const userKey = userKeyText === '""' ? new Uint8Array(0) : unescapeBytes(userKeyText);
            const found = reader!.get(userKey, Number(seqText));
            if (found === undefined) return `${line}: (absent)`;
            const kind = ['DEL', 'SET', 'BLOB', 'MERGE'][found.kind];
            return `${line}: ${kind}.${found.seq}:${escapeBytes(found.value)}`;
          })
          .join('\n');
      }
      default:
        throw new Error(`${testCase.path}:${testCase.line}: unknown command ${testCase.command}`);
    }
  });
  reader?.close();
});
