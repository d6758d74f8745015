/**
 * Child process that opens an image and prints one JSON line: the backend and clean-shutdown
 * flag it saw, or the StrataError code it got. Used by the lock and fallback tests.
 * Usage: open-child <image path> [backend]
 */
import { writeSync } from 'node:fs';
import { isStrataError } from '../../src/errors.js';
import { NvmImage } from '../image.js';
import type { NvmBackendKind } from '../types.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: open-child <image path> [backend]');
const backend = (process.argv[3] ?? 'auto') as NvmBackendKind | 'auto';
try {
  const image = NvmImage.open(path, { backend, sizeMaxBytes: 1 << 20 });
  writeSync(1, `${JSON.stringify({ backend: image.backend, clean: image.wasCleanShutdown })}\n`);
  image.close();
} catch (error) {
  if (!isStrataError(error)) throw error;
  writeSync(1, `${JSON.stringify({ code: error.code })}\n`);
}
