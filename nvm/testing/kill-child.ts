/**
 * Child process for the kill -9 test (kill.test.ts): opens a mapped image, then allocates runs,
 * writes a pattern into them, sets page aux and root 0, and after each step prints one JSON line
 * `{"step":i,"first":p,"count":c}` with a synchronous write. The parent SIGKILLs it mid-loop and
 * checks that every reported step survived.
 */
import { writeSync } from 'node:fs';
import { isStrataError } from '../../src/errors.js';
import { NvmImage } from '../image.js';
import { PageKind } from '../types.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: kill-child <image path>');
const image = NvmImage.open(path, { backend: 'mapped', sizeMaxBytes: 64 << 20 });
const pageWords = image.pageSizeBytes / 4;
writeSync(1, `${JSON.stringify({ ready: true })}\n`);
for (let step = 0; step < 1_000_000; step++) {
  const count = 1 + (step % 3);
  let first: number;
  try {
    first = image.allocPages(count, PageKind.ehashBuckets, step);
  } catch (error) {
    if (isStrataError(error, 'ERR_NVM_FULL')) break; // the parent kills us long before this
    throw error;
  }
  for (let page = first; page < first + count; page++) {
    for (let word = 0; word < pageWords; word += 64)
      image.words[page * pageWords + word] = step + word;
    image.persist(page * image.pageSizeBytes, image.pageSizeBytes);
  }
  image.setPageAux(first, step);
  image.setRoot(0, BigInt(step));
  writeSync(1, `${JSON.stringify({ step, first, count })}\n`);
}
writeSync(1, `${JSON.stringify({ done: true })}\n`);
setInterval(() => undefined, 1000);
