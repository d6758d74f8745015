/**
 * What an attached thread asks its coordinator for (comlink, handle-server.ts): writes go through
 * the coordinator's one group commit; appends, index tasks and queries, flushes and stats run
 * there too. A StrataError crosses the port with its code in the message (errorForTransfer) and
 * is revived on the attached side.
 *
 * Thread model: runs on the coordinator's thread, called by comlink's message handler.
 */
import { errorForTransfer } from '../blob/worker-error.js';
import type { IndexInfo, IndexQueryOptions, IndexRangeQueryOptions } from './index-manager.js';
import type { BatchOp, Strata } from './strata.js';

export interface CoordinatorApi {
  batch(ops: readonly BatchOp[]): Promise<void>;
  append(key: Uint8Array, bytes: Uint8Array): Promise<void>;
  createIndex(field: string): Promise<void>;
  dropIndex(field: string): Promise<void>;
  listIndexes(): IndexInfo[];
  queryByIndex(
    field: string,
    value: Uint8Array,
    options: Omit<IndexQueryOptions, 'snapshot'>,
  ): Promise<Uint8Array[]>;
  queryRangeByIndex(
    field: string,
    options: Omit<IndexRangeQueryOptions, 'snapshot'>,
  ): Promise<Uint8Array[]>;
  flush(): Promise<void>;
  compactRange(start: Uint8Array | undefined, end: Uint8Array | undefined): Promise<void>;
  collectBlobGarbage(): Promise<number>;
  stats(): Record<string, unknown>;
}

export function coordinatorApi(db: Strata): CoordinatorApi {
  return {
    batch: (ops) => transferErrors(() => db.batch(ops)),
    append: (key, bytes) => transferErrors(() => db.append(key, bytes)),
    createIndex: (field) => transferErrors(() => db.createIndex(field)),
    dropIndex: (field) => transferErrors(() => db.dropIndex(field)),
    listIndexes: () => transferErrorsSync(() => db.listIndexes()),
    queryByIndex: (field, value, options) =>
      transferErrors(() => db.queryByIndex(field, value, options)),
    queryRangeByIndex: (field, options) =>
      transferErrors(() => db.queryRangeByIndex(field, options)),
    flush: () => transferErrors(() => db.flush()),
    compactRange: (start, end) => transferErrors(() => db.compactRange(start, end)),
    collectBlobGarbage: () => transferErrors(() => db.collectBlobGarbage()),
    stats: () => transferErrorsSync(() => ({ ...db.stats() }) as Record<string, unknown>),
  };
}

async function transferErrors<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw errorForTransfer(error);
  }
}

function transferErrorsSync<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw errorForTransfer(error);
  }
}
