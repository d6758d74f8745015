/** Small helpers shared by the catalog tests: dummy tables, temp files, state descriptions. */
import type { Catalog } from '../catalog.js';
import type { CatalogFs } from '../catalog-fs.js';
import type { CatalogState } from '../catalog-state.js';
import type { TableProperties } from '../operations/table-properties.js';

/** A table covering keys [low, high] (one byte each) and sequence numbers [seqMin, seqMax]. */
export function table(options: {
  readonly low: number;
  readonly high: number;
  readonly seqMin?: number;
  readonly seqMax?: number;
  readonly sizeBytes: number;
}): TableProperties {
  return {
    sizeBytes: options.sizeBytes,
    entryCount: options.high - options.low + 1,
    smallest: Uint8Array.of(options.low),
    largest: Uint8Array.of(options.high),
    seqMin: options.seqMin ?? 1,
    seqMax: options.seqMax ?? 1,
  };
}

/** Writes and fsyncs a temp file, as a flush or compaction worker would, and returns its path. */
export async function writeTemp(
  catalog: Catalog,
  fs: CatalogFs,
  bytes: Uint8Array,
): Promise<string> {
  const path = catalog.newTempPath();
  await fs.writeFile(path, bytes);
  await fs.fsyncFile(path);
  return path;
}

/** A canonical, comparable description of a state (keys as hex). */
export function describeState(state: CatalogState): string {
  return JSON.stringify(state, (_key, value: unknown) =>
    value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value,
  );
}

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
