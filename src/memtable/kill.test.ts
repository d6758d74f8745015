/**
 * kill -9 on the mapped backend: a child applies batches and reports each acknowledged one; it
 * is SIGKILLed mid-stream. Reopening must show every acknowledged batch, the in-flight one wholly
 * or not at all (every key carries the same newest batch), and no gaps in the versions.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { killAtProgress } from '../../nvm/testing/kill-at-progress.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { Memtable } from './memtable.js';
import { KILL_KEY_COUNT, KILL_ROOT } from './testing/kill-child.js';
import { scanForward } from './testing/oracle.js';
import { batchKey } from './testing/reader-worker.js';

const CHILD = fileURLToPath(
  new URL('../../dist/src/memtable/testing/kill-child.js', import.meta.url),
);

describe('kill -9 of a writing child (mapped backend)', () => {
  test.each([1, 2, 3])('round %i: acknowledged batches survive, none is partial', async (round) => {
    const temp = makeTempFolder('memtable-kill');
    const path = `${temp.path}/image.nvm`;
    try {
      // Round 2 and 3 kill the same image again after it recovered once.
      let acked = -1;
      for (let kill = 0; kill < round; kill++) {
        acked = await runChildUntil(path, acked + 300 + 700 * ((round + kill) % 3));
        checkImage(path, acked);
      }
    } finally {
      temp.remove();
    }
  });
});

function checkImage(path: string, acked: number): void {
  const image = NvmImage.open(path, { backend: 'mapped' });
  try {
    const header = Number(image.root(KILL_ROOT));
    Memtable.reclaimOrphans(image, new Set([header]));
    const memtable = Memtable.open(image, header);
    try {
      const newest = new Set<number>();
      for (let index = 0; index < KILL_KEY_COUNT; index++) {
        const value = memtable.get(batchKey(index))?.value;
        newest.add(value === undefined ? -1 : value[0]! | (value[1]! << 8) | (value[2]! << 16));
      }
      expect(newest.size).toBe(1);
      const batches = [...newest][0]! + 1;
      expect(batches).toBeGreaterThanOrEqual(acked + 1);
      expect(batches).toBeLessThanOrEqual(acked + 2);
      expect(memtable.entryCount).toBe(batches * KILL_KEY_COUNT);
      expect(memtable.visibleSeq).toBe(batches * KILL_KEY_COUNT);
      const seqs = scanForward(memtable, Number.MAX_SAFE_INTEGER).map((entry) => entry.seq);
      expect(seqs.length).toBe(batches * KILL_KEY_COUNT);
      expect(new Set(seqs).size).toBe(seqs.length);
    } finally {
      memtable.close();
    }
  } finally {
    image.close();
  }
}

/** Starts the child, waits until it acknowledged batch `target`, then SIGKILLs it. */
function runChildUntil(path: string, target: number): Promise<number> {
  return killAtProgress({
    script: CHILD,
    args: [path],
    pattern: /acked (\d+)/,
    target,
    initial: -1,
  });
}
