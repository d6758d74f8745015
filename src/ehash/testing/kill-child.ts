/**
 * Child process for the kill -9 test: inserts keys 0, 1, 2, ... (value = key * 3 + 1, high half
 * = key % 5) into the table in argv[2] on the mapped backend and reports progress as `acked N`
 * lines, meaning every key below N was inserted. The parent kills it with SIGKILL at a random
 * moment. Mode `remove` (argv[3]) first inserts argv[4] keys, then removes them in order,
 * reporting `removed N`, so the kill lands among merges and halvings.
 */
import { writeSync } from 'node:fs';
import { PmEHash } from '../pm-ehash.js';

const dir = process.argv[2]!;
const mode = process.argv[3] ?? 'insert';
const table = PmEHash.open(dir, { backend: 'mapped', sizeMaxBytes: 256 << 20 });
const report = (line: string) => writeSync(1, `${line}\n`);

if (mode === 'insert') {
  for (let key = 0; ; key++) {
    if (!table.insertWords(key % 5, key, 0, key * 3 + 1))
      throw new Error(`key ${key} present twice`);
    if (key % 1000 === 999) report(`acked ${key + 1}`);
  }
} else {
  const count = Number(process.argv[4]);
  for (let key = 0; key < count; key++) table.insertWords(key % 5, key, 0, key * 3 + 1);
  report(`loaded ${count}`);
  for (let key = 0; key < count; key++) {
    table.removeWords(key % 5, key);
    if (key % 100 === 99) report(`removed ${key + 1}`);
  }
  report('done');
  for (;;) table.searchWords(0, 0, new Uint32Array(2));
}
