import type { EngineDirectory } from './engines.js';
import type { KvEngine, RecordSink } from './kv-engines.js';

/**
 * A JS `Map` from the latin1 key string to the value, plus a sorted key array for scans (a
 * binary-search insert per new key: O(n), fine for tests and small runs). Latin1 strings compare
 * code unit by code unit, which is byte order, so scans see the order of the ordered engines.
 * The reference the tests compare other engines with.
 */
export function openMapKv(directory: EngineDirectory): KvEngine {
  return new MapKv(directory);
}

class MapKv implements KvEngine {
  readonly name = 'map';
  readonly label = 'map';
  readonly dir: string;
  private readonly records = new Map<string, Uint8Array>();
  private readonly sortedKeys: string[] = [];

  constructor(private readonly directory: EngineDirectory) {
    this.dir = directory.path;
  }

  get(key: Buffer): Uint8Array | undefined {
    return this.records.get(key.toString('latin1'));
  }

  put(key: Buffer, value: Buffer): undefined {
    const text = key.toString('latin1');
    if (!this.records.has(text)) this.sortedKeys.splice(this.lowerBound(text), 0, text);
    this.records.set(text, value);
    return undefined;
  }

  scan(start: Buffer, count: number, sink: RecordSink): number {
    const first = this.lowerBound(start.toString('latin1'));
    const end = Math.min(this.sortedKeys.length, first + count);
    for (let index = first; index < end; index++) {
      sink.add(this.records.get(this.sortedKeys[index]!)!);
    }
    return end - first;
  }

  async settle(): Promise<void> {}

  async close(): Promise<void> {
    this.directory.release();
  }

  private lowerBound(key: string): number {
    let low = 0;
    let high = this.sortedKeys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.sortedKeys[middle]! < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
