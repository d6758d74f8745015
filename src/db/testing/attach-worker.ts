/**
 * A worker thread of the attached-handle tests (src/db/attach.test.ts), run from dist/: it
 * attaches to the coordinator's store and runs one task, posting its result.
 *
 * - `writer`: writes `count` keys `<prefix><i>` (each awaited) and reads every one back at once
 *   (read-your-writes across the coordinator's freezes and flushes); also reads the keys the
 *   coordinator wrote before; scans its prefix at the end.
 * - `snapshot`: takes a snapshot and an iterator, tells the coordinator, waits for its go, then
 *   reads both to the end (the coordinator overwrote, flushed and compacted meanwhile).
 * - `untilClosed`: gets and puts in a loop until a call fails; reports the code.
 * - `exit`: attaches and exits without closing.
 * - `blobSnapshot`: a snapshot read of key `k` (a blob) after the coordinator's blob GC moved it.
 * - `fields`: putFields `count` records while the store has an index; queries it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { StrataHandle } from '../handle-layout.js';
import { Strata } from '../strata.js';

interface Task {
  readonly handle: StrataHandle;
  readonly kind: 'writer' | 'snapshot' | 'untilClosed' | 'exit' | 'fields' | 'blobSnapshot';
  readonly prefix?: string;
  readonly count?: number;
  readonly mainKeys?: readonly string[];
}

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : decoder.decode(bytes);

async function main(): Promise<void> {
  const task = workerData as Task;
  const port = parentPort!;
  const db = await Strata.attach(task.handle);
  if (task.kind === 'exit') {
    port.postMessage({ attached: true });
    return;
  }
  if (task.kind === 'writer') {
    const mismatches: string[] = [];
    for (let index = 0; index < task.count!; index++) {
      const key = `${task.prefix}${String(index).padStart(5, '0')}`;
      await db.put(key, `value-${key}`);
      const read = text(db.get(key));
      if (read !== `value-${key}`) mismatches.push(`${key}: ${read}`);
      if (index % 50 === 0) {
        for (const mainKey of task.mainKeys ?? []) {
          if (text(db.get(mainKey)) !== `main-${mainKey}`) mismatches.push(`main ${mainKey}`);
        }
      }
    }
    const scanned = [...db.iterator({ gte: task.prefix!, lt: `${task.prefix}~` })].length;
    const direct = db.directWrites;
    await db.close();
    port.postMessage({ mismatches, scanned, direct });
    return;
  }
  if (task.kind === 'blobSnapshot') {
    const snapshot = db.snapshot();
    port.postMessage({ ready: true });
    await new Promise<void>((resolve) => port.once('message', () => resolve()));
    const value = text(snapshot.get('k'));
    snapshot.release();
    await db.close();
    port.postMessage({ value });
    return;
  }
  if (task.kind === 'fields') {
    for (let index = 0; index < task.count!; index++) {
      await db.putFields(`${task.prefix}${index}`, { f: `v${index % 3}` });
    }
    const found = await db.queryByIndex('f', 'v1');
    const direct = db.directWrites;
    await db.close();
    port.postMessage({ found: found.length, direct });
    return;
  }
  if (task.kind === 'snapshot') {
    const snapshot = db.snapshot();
    const iterator = db.iterator({ gte: 'k', lt: 'l' });
    port.postMessage({ ready: true });
    await new Promise<void>((resolve) => port.once('message', () => resolve()));
    const fromIterator = [...iterator].map(([key, value]) => `${text(key)}=${text(value)}`);
    const fromSnapshot = [...snapshot.iterator({ gte: 'k', lt: 'l' })].map(
      ([key, value]) => `${text(key)}=${text(value)}`,
    );
    const gets = ['k0001', 'k0500'].map((key) => text(snapshot.get(key)));
    snapshot.release();
    const now = text(db.get('k0001'));
    await db.close();
    port.postMessage({ fromIterator, fromSnapshot, gets, now });
    return;
  }
  let operations = 0;
  try {
    for (;;) {
      db.get('loop');
      await db.put('loop', String(operations));
      operations++;
    }
  } catch (error) {
    port.postMessage({ code: (error as { code?: string }).code, operations, closed: db.closed });
  }
}

main().catch((error: unknown) => {
  parentPort!.postMessage({ failed: String(error), code: (error as { code?: string }).code });
});
