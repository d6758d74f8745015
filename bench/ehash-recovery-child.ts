/**
 * Child of bench/ehash-recovery.ts: fills a mapped table with `count` keys (the course's key
 * shape: 8-digit numbers), reports `loaded`, then keeps inserting and removing until it is killed.
 */
import { writeSync } from 'node:fs';
import { PmEHash } from '../src/ehash/pm-ehash.js';

const dir = process.argv[2]!;
const count = Number(process.argv[3]);
const table = PmEHash.open(dir, { backend: 'mapped', sizeMaxBytes: 1 << 30 });
let state = 0x9e3779b9;
const next = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state % 100_000_000;
};
while (table.size < count) {
  const key = next();
  table.insertWords(0, key, 0, key + 1);
}
writeSync(1, `loaded ${table.size}\n`);
for (let round = 0; ; round++) {
  const key = next();
  if (round % 2 === 0) table.insertWords(1, key, 0, key);
  else table.removeWords(1, key);
}
