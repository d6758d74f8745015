/**
 * The mapped backend: the image file is mapped MAP_SHARED into the image's SharedArrayBuffer by
 * the native addon, so every store lands in the page cache at once and survives kill -9. persist()
 * is free for durability 'process' and an msync of the covering OS pages for 'power'.
 *
 * Thread model: stateless apart from the buffer, which every thread of the image shares.
 */
import { StrataError } from '../src/errors.js';
import type { ImageBackend } from './backend.js';
import { loadNativeAddon, type NativeAddon } from './native-addon.js';
import type { NvmDurability } from './types.js';

export class MappedBackend implements ImageBackend {
  readonly kind = 'mapped' as const;
  readonly persistWrites: boolean;
  private readonly addon: NativeAddon | undefined;
  private readonly prefaultAddon: NativeAddon | undefined;

  constructor(
    private readonly buffer: SharedArrayBuffer,
    private readonly target: { readonly path: string; readonly durability: NvmDurability },
  ) {
    this.persistWrites = target.durability === 'power';
    this.addon = this.persistWrites ? requireNativeAddon(target.path) : undefined;
    const load = loadNativeAddon();
    this.prefaultAddon = load.ok ? load.addon : undefined;
  }

  /**
   * Pages of a sparse image file are allocated at their first store, one page fault each; a
   * directory doubling writes thousands of fresh pages at once, so it asks for them up front.
   */
  prefault(offsetBytes: number, lengthBytes: number): void {
    this.prefaultAddon?.populate(this.buffer, offsetBytes, lengthBytes);
  }

  persist(offsetBytes: number, lengthBytes: number): void {
    try {
      this.addon!.msync(this.buffer, offsetBytes, lengthBytes);
    } catch (error) {
      throw new StrataError(
        'ERR_IO',
        `msync of ${this.target.path} bytes [${offsetBytes}, ${offsetBytes + lengthBytes}) failed`,
        { cause: error },
      );
    }
  }
}

/** The addon, or ERR_INVALID_ARGUMENT explaining that the mapped backend cannot run here. */
export function requireNativeAddon(path: string): NativeAddon {
  const load = loadNativeAddon();
  if (load.ok) return load.addon;
  throw new StrataError(
    'ERR_INVALID_ARGUMENT',
    `the mapped NVM backend for ${path} needs the native addon (build/Release/strata_nvm.node, ` +
      `built by npm install), which did not load: ${load.error.message}`,
    { cause: load.error },
  );
}
