/**
 * A 32-bit tag of the running kernel boot, from Linux's /proc/sys/kernel/random/boot_id. A
 * volatile-index memtable records the tag of the boot that last opened it: a process crash
 * keeps the boot (and the page cache, so every store), a power loss or kernel crash changes it.
 * Where the boot id cannot be read, the tag is 0 ("unknown"), which never matches, so such a
 * memtable is rebuilt on every open: slower, never wrong.
 */
import { readFileSync } from 'node:fs';
import { murmur3 } from '../sst/murmur3.js';

const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
const BOOT_TAG_SEED = 0x0b007a95;

let cached: number | undefined;

export function currentBootTag(): number {
  if (cached === undefined) {
    try {
      const id = readFileSync(BOOT_ID_PATH, 'utf8').trim();
      cached =
        id.length === 0 ? 0 : (murmur3(new TextEncoder().encode(id), BOOT_TAG_SEED) | 1) >>> 0;
    } catch {
      cached = 0;
    }
  }
  return cached;
}
