/**
 * What every part of an open memtable shares: the image views, the header page, the runtime
 * words, the hash table and the skiplist view. Built by `Memtable.open` and `Memtable.attach`.
 */
import type { NvmImage } from '../../nvm/image.js';
import type { PmEHash } from '../ehash/pm-ehash.js';
import type { Seq } from '../sst/internal-key.js';
import type { KeyHashFunction } from './key-hash.js';
import { H_COMMIT, headerWord, RT_VISIBLE_OFFSET } from './layout.js';
import type { SkiplistView } from './skiplist.js';

export interface MemtableCore {
  readonly image: NvmImage;
  /**
   * What the index (skiplist links, hash, batch intent) persists through: `image`, or its
   * volatile view when the memtable has FLAG_VOLATILE_INDEX. Records and the commit mark always
   * persist through `image`.
   */
  readonly indexImage: NvmImage;
  /** Persists one u32 word of the index through `indexImage`. */
  readonly persistIndexWord: (wordIndex: number) => void;
  /** Scratch for one writer: the predecessors of the record being linked. */
  readonly preds: Uint32Array;
  readonly words: Uint32Array;
  readonly words64: BigUint64Array;
  readonly bytes: Uint8Array;
  readonly headerPage: number;
  readonly runtime: Int32Array;
  readonly hash: PmEHash;
  readonly view: SkiplistView;
  readonly keyHash: KeyHashFunction;
  readonly baseSeq: Seq;
  readonly runPagesDefault: number;
  readonly firstRun: number;
  /** Scratch for one thread: a key hash, a hash value, predecessors. */
  readonly hashOut: Uint32Array;
  readonly valueOut: Uint32Array;
}

/** The newest seq a reader may see now: all batches committed and published. */
export function visibleSeq(core: MemtableCore): Seq {
  return core.baseSeq + (Atomics.load(core.runtime, RT_VISIBLE_OFFSET) >>> 0);
}

/** The u32 word index of the commit word (committed tail, applied seq offset). */
export function commitWordIndex(core: MemtableCore): number {
  return headerWord(core.headerPage, H_COMMIT);
}

/** Applied seq from the persisted commit word. Requires: caller holds the write mutex. */
export function appliedSeqLocked(core: MemtableCore): Seq {
  return core.baseSeq + core.words[commitWordIndex(core) + 1]!;
}
