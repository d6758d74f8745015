/**
 * What an image needs from its storage: make a byte range durable, and let go of the file. The
 * mapped backend (mapped-backend.ts) and the emulated one (emulated-backend.ts) implement it;
 * NvmImage (image.ts) counts persists and checks bounds before calling in.
 */
import type { NvmBackendKind } from './types.js';

export interface ImageBackend {
  readonly kind: NvmBackendKind;
  /** False when persist() does nothing (mapped, durability 'process'): the image skips the call. */
  readonly persistWrites: boolean;
  /**
   * Makes [offsetBytes, offsetBytes + lengthBytes) of the image durable. `persistNumber` is the
   * 1-based number of this persist among all threads (crash injection counts with it).
   * Requires: the range lies inside the image.
   */
  persist(offsetBytes: number, lengthBytes: number, persistNumber: number): void;
  /** Makes the pages of a range present and writable ahead of use; a hint, never an error. */
  prefault(offsetBytes: number, lengthBytes: number): void;
}
