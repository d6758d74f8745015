/**
 * Loads the native addon (nvm/native/strata_nvm.cc and crc32c.cc, built to
 * build/Release/strata_nvm.node by `npm install`). Code runs both from the sources (vitest) and
 * from dist/, so the package root is found by walking up from this file to the folder that holds
 * package.json. Each thread loads it once; the addon is context-aware, so workers may load it too.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../src/package-root.js';

export interface NativeAddon {
  /** Maps the file MAP_SHARED over `reserveBytes`; the buffer lives until collected everywhere. */
  map(fd: number, reserveBytes: number): SharedArrayBuffer;
  msync(buffer: SharedArrayBuffer, offsetBytes: number, lengthBytes: number): void;
  /**
   * Maps the first `lengthBytes` of an immutable file MAP_PRIVATE into an ArrayBuffer (unmapped
   * when collected). Optional: an addon built before it existed lacks it.
   */
  readonly mapFile?: (fd: number, lengthBytes: number) => ArrayBuffer;
  /** madvise(MADV_POPULATE_WRITE) over the pages of the range; false where unsupported. */
  populate(buffer: SharedArrayBuffer, offsetBytes: number, lengthBytes: number): boolean;
  /** flock(LOCK_EX | LOCK_NB): false when another open file description holds the lock. */
  lock(fd: number): boolean;
  /**
   * CRC32C of bytes[start, end), as nvm/crc32c.ts computes it. Optional: an addon built before it
   * existed lacks it, and crc32c.ts then stays in JavaScript.
   */
  readonly crc32c?: (bytes: Uint8Array, start: number, end: number) => number;
  /** The same CRC, always by the addon's portable slice-by-8 code (for tests). */
  readonly crc32cPortable?: (bytes: Uint8Array, start: number, end: number) => number;
  /** Whether crc32c uses the CPU's CRC32C instruction (SSE4.2) rather than slice-by-8. */
  readonly crc32cHardware?: boolean;
}

export type AddonLoad =
  | { readonly ok: true; readonly addon: NativeAddon }
  | { readonly ok: false; readonly error: Error };

const ADDON_RELATIVE_PATH = 'build/Release/strata_nvm.node';

let loaded: AddonLoad | undefined;

/**
 * The addon, or why it did not load. STRATA_NVM_ADDON=off pretends it is missing, so the
 * emulated backend and the JavaScript CRC32C can be exercised on machines where the addon built.
 */
export function loadNativeAddon(): AddonLoad {
  loaded ??= tryLoad();
  return loaded;
}

function tryLoad(): AddonLoad {
  if (process.env['STRATA_NVM_ADDON'] === 'off') {
    return { ok: false, error: new Error('disabled by STRATA_NVM_ADDON=off') };
  }
  try {
    const root = packageRoot();
    const require = createRequire(join(root, 'package.json'));
    const addon = require(join(root, ADDON_RELATIVE_PATH)) as NativeAddon;
    return { ok: true, addon };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error : new Error(String(error)) };
  }
}
