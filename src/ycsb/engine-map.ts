import { StrataError } from '../errors.js';
import {
  type EngineDirectory,
  type EngineStats,
  KEY_HI_SAFE_LIMIT,
  type SyncU64Engine,
  TWO_POW_32,
} from './engines.js';

/**
 * The in-memory baseline: a JS `Map` from the key (as one number, exact because keys must be
 * below 2^53) to a slot index; values live as two u32 words per slot in a growing Uint32Array
 * (word 2i = valueLo, 2i+1 = valueHi), and freed slots are reused. This keeps the map's values
 * small integers (no BigInt or object per entry), which is the fastest Map layout in V8.
 * Nothing is persisted; the directory is only created and removed like any engine's.
 */
export function openMapEngine(directory: EngineDirectory): SyncU64Engine {
  return new MapEngine(directory);
}

const SLOT_CAPACITY_INITIAL = 1024;

class MapEngine implements SyncU64Engine {
  readonly name = 'map';
  readonly label = 'map';
  readonly mode = 'sync';
  readonly supportsScan = false;
  readonly dir: string;
  private readonly slots = new Map<number, number>();
  private values = new Uint32Array(SLOT_CAPACITY_INITIAL * 2);
  private slotCount = 0;
  private readonly freeSlots: number[] = [];

  constructor(private readonly directory: EngineDirectory) {
    this.dir = directory.path;
  }

  insert(keyHi: number, keyLo: number, valueHi: number, valueLo: number): boolean {
    const key = mapKey(keyHi, keyLo);
    if (this.slots.has(key)) return false;
    const slot = this.allocateSlot();
    this.values[slot * 2] = valueLo;
    this.values[slot * 2 + 1] = valueHi;
    this.slots.set(key, slot);
    return true;
  }

  read(keyHi: number, keyLo: number, out: Uint32Array): boolean {
    const slot = this.slots.get(mapKey(keyHi, keyLo));
    if (slot === undefined) return false;
    out[0] = this.values[slot * 2]!;
    out[1] = this.values[slot * 2 + 1]!;
    return true;
  }

  update(keyHi: number, keyLo: number, valueHi: number, valueLo: number): boolean {
    const slot = this.slots.get(mapKey(keyHi, keyLo));
    if (slot === undefined) return false;
    this.values[slot * 2] = valueLo;
    this.values[slot * 2 + 1] = valueHi;
    return true;
  }

  remove(keyHi: number, keyLo: number): boolean {
    const key = mapKey(keyHi, keyLo);
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.freeSlots.push(slot);
    return true;
  }

  stats(): EngineStats | undefined {
    return undefined;
  }

  async close(): Promise<void> {
    this.slots.clear();
    this.directory.release();
  }

  private allocateSlot(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.slotCount * 2 === this.values.length) {
      const grown = new Uint32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    return this.slotCount++;
  }
}

function mapKey(keyHi: number, keyLo: number): number {
  if (keyHi >= KEY_HI_SAFE_LIMIT) {
    throw new StrataError('ERR_KEY_RANGE', 'the map engine needs keys below 2^53');
  }
  return keyHi * TWO_POW_32 + keyLo;
}
