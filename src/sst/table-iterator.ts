/**
 * Iterates a table's entries in internal-key order: a two-level iterator, the index block on top
 * and one data block at a time below it, loaded through the block cache as the index moves.
 *
 *   index:  [sep 0 | handle 0] [sep 1 | handle 1] [sep 2 | handle 2]
 *                                  | readDataBlock
 *                                  v
 *   data:                   [k k k k k k k] <- the current position
 *
 * Every data block holds at least one entry, but the iterator still steps over an exhausted block
 * in a loop (bounded by the index), so a seek that lands past a block's last key moves on to the
 * next block's first key.
 *
 * Thread model: owned by one caller on the reader's thread. Keys returned are copies; values are
 * views of immutable cached blocks and stay valid after the iterator moves.
 */
import { assert } from '../assert.js';
import type { BlockIterator } from './block-iterator.js';
import type { BlockReader } from './block-reader.js';
import { corruptionError } from './corruption.js';
import { TRAILER_BYTES } from './internal-key.js';

/** What the iterator needs from its table reader. */
export interface DataBlockSource {
  readonly index: BlockReader;
  /** Loads the data block named by an index entry's value (a block handle). */
  readDataBlock(handleValue: Uint8Array): BlockReader;
}

export class TableIterator {
  private readonly source: DataBlockSource;
  private readonly indexIterator: BlockIterator;
  /** The data block under the index position; undefined when the index is exhausted. */
  private data: BlockIterator | undefined;
  /** One data-block iterator, re-pointed at each block the index reaches. */
  private dataIterator: BlockIterator | undefined;

  constructor(source: DataBlockSource) {
    this.source = source;
    this.indexIterator = source.index.iterator();
  }

  valid(): boolean {
    return this.data?.valid() === true;
  }

  /** The current internal key (a copy). Requires: valid(). */
  key(): Uint8Array {
    assert(this.data !== undefined, 'key() on an invalid table iterator');
    return this.data.key();
  }

  /** The current value (a view of an immutable block). Requires: valid(). */
  value(): Uint8Array {
    assert(this.data !== undefined, 'value() on an invalid table iterator');
    return this.data.value();
  }

  seekFirst(): void {
    this.indexIterator.seekFirst();
    this.loadDataBlock();
    this.data?.seekFirst();
    this.skipExhaustedForward();
  }

  seekLast(): void {
    this.indexIterator.seekLast();
    this.loadDataBlock();
    this.data?.seekLast();
    this.skipExhaustedBackward();
  }

  /** Moves to the first entry whose internal key is >= target (see lookupKey). */
  seek(target: Uint8Array): void {
    assert(target.length >= TRAILER_BYTES, 'seek target is an internal key');
    this.indexIterator.seek(target);
    this.loadDataBlock();
    this.data?.seek(target);
    this.skipExhaustedForward();
  }

  /** Requires: valid(). */
  next(): void {
    assert(this.data !== undefined, 'next() on an invalid table iterator');
    this.data.next();
    this.skipExhaustedForward();
  }

  /** Requires: valid(). */
  prev(): void {
    assert(this.data !== undefined, 'prev() on an invalid table iterator');
    this.data.prev();
    this.skipExhaustedBackward();
  }

  private loadDataBlock(): void {
    if (!this.indexIterator.valid()) {
      this.data = undefined;
      return;
    }
    const block = this.source.readDataBlock(this.indexIterator.value());
    if (this.dataIterator === undefined) this.dataIterator = block.iterator();
    else this.dataIterator.reset(block);
    this.data = this.dataIterator;
  }

  private skipExhaustedForward(): void {
    while (this.data !== undefined && !this.data.valid()) {
      this.indexIterator.next();
      this.loadDataBlock();
      this.data?.seekFirst();
    }
    this.checkEntry();
  }

  private skipExhaustedBackward(): void {
    while (this.data !== undefined && !this.data.valid()) {
      this.indexIterator.prev();
      this.loadDataBlock();
      this.data?.seekLast();
    }
    this.checkEntry();
  }

  /** A data block holds only stored kinds and engine seqs; anything else is damage. */
  private checkEntry(): void {
    if (this.data === undefined || this.data.keyIsEntryKey()) return;
    throw corruptionError(this.data.location, 'a data block holds a key with a bad trailer');
  }
}
