import { PmEHash, type PmEHashHandle } from '../ehash/pm-ehash.js';
import type { EhashBackend, EngineDirectory, EngineStats, SyncU64Engine } from './engines.js';
import type { AttachableEngine, EngineAttachment } from './parallel-layout.js';

/** ehash with its handle exposed, so the parallel driver can attach workers to the same table. */
export interface EhashEngine extends SyncU64Engine, AttachableEngine {
  readonly name: 'ehash';
  handle(): PmEHashHandle;
}

/**
 * The persistent extendible hash through its allocation-free `*Words` fast paths. The table
 * lives in `<dir>/ehash.nvm`; an explicit directory that already holds one is recovered, so a
 * load phase then reports its keys as failed inserts.
 */
export function openEhashEngine(directory: EngineDirectory, backend: EhashBackend): EhashEngine {
  const table = PmEHash.open(directory.path, { backend });
  return new EhashAdapter(table, `ehash (${backend})`, directory.path, () => directory.release());
}

/** In a worker thread: the same table through a handle; close only detaches. */
export function attachEhashEngine(handle: PmEHashHandle): EhashEngine {
  const table = PmEHash.attach(handle);
  return new EhashAdapter(table, 'ehash (attached)', handle.image.path, () => {});
}

export function isEhashEngine(engine: { readonly name: string }): engine is EhashEngine {
  return engine.name === 'ehash';
}

class EhashAdapter implements EhashEngine {
  readonly name = 'ehash';
  readonly mode = 'sync';
  readonly supportsScan = false;

  constructor(
    private readonly table: PmEHash,
    readonly label: string,
    readonly dir: string,
    private readonly releaseDirectory: () => void,
  ) {}

  insert(keyHi: number, keyLo: number, valueHi: number, valueLo: number): boolean {
    return this.table.insertWords(keyHi, keyLo, valueHi, valueLo);
  }

  read(keyHi: number, keyLo: number, out: Uint32Array): boolean {
    return this.table.searchWords(keyHi, keyLo, out);
  }

  update(keyHi: number, keyLo: number, valueHi: number, valueLo: number): boolean {
    return this.table.updateWords(keyHi, keyLo, valueHi, valueLo);
  }

  remove(keyHi: number, keyLo: number): boolean {
    return this.table.removeWords(keyHi, keyLo);
  }

  handle(): PmEHashHandle {
    return this.table.handle();
  }

  /** Every worker gets the same table (its handle shares the image and runtime buffers). */
  attachment(): EngineAttachment {
    return { engine: 'ehash', handle: this.table.handle() };
  }

  stats(): EngineStats {
    return this.table.stats();
  }

  async close(): Promise<void> {
    this.table.close();
    this.releaseDirectory();
  }
}
