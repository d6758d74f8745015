/** Validates NvmOpenOptions and picks the backend (mapped when the addon loads, else emulated). */
import { StrataError } from '../src/errors.js';
import { SIZE_MAX_BYTES_DEFAULT, validateSizeMaxBytes } from './layout.js';
import { loadNativeAddon } from './native-addon.js';
import type { NvmBackendKind, NvmDurability, NvmOpenOptions } from './types.js';

export interface ResolvedOpenOptions {
  readonly backend: NvmBackendKind;
  readonly durability: NvmDurability;
  readonly sizeMaxBytes: number;
  readonly create: boolean;
  readonly crashAtPersist: number | undefined;
  readonly tearSeed: number | undefined;
}

let fallbackWarned = false;

export function resolveOpenOptions(path: string, options: NvmOpenOptions): ResolvedOpenOptions {
  const invalid = (what: string): StrataError =>
    new StrataError('ERR_INVALID_ARGUMENT', `NVM image ${String(path)}: ${what}`);
  if (typeof path !== 'string' || path.length === 0)
    throw invalid('path must be a non-empty string');
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
  const requested = options.backend ?? 'auto';
  if (requested !== 'auto' && requested !== 'mapped' && requested !== 'emulated') {
    throw invalid(`unknown backend ${String(requested)}`);
  }
  const durability = options.durability ?? 'process';
  if (durability !== 'process' && durability !== 'power') {
    throw invalid(`unknown durability ${String(durability)}`);
  }
  const create = options.create ?? true;
  if (typeof create !== 'boolean') throw invalid('create must be a boolean');
  const sizeMaxBytes = validateSizeMaxBytes(options.sizeMaxBytes ?? SIZE_MAX_BYTES_DEFAULT, path);
  const { crashAtPersist, tearOnCrash } = options;
  if (
    crashAtPersist !== undefined &&
    (!Number.isInteger(crashAtPersist) || crashAtPersist < 1 || crashAtPersist > 2 ** 31 - 1)
  ) {
    throw invalid(`crashAtPersist must be an integer in [1, 2^31), got ${String(crashAtPersist)}`);
  }
  if (tearOnCrash !== undefined && !Number.isInteger(tearOnCrash.seed)) {
    throw invalid('tearOnCrash.seed must be an integer');
  }
  const backend = pickBackend(requested);
  if (backend === 'mapped' && (crashAtPersist !== undefined || tearOnCrash !== undefined)) {
    throw invalid("crash injection needs backend: 'emulated'");
  }
  return {
    backend,
    durability,
    sizeMaxBytes,
    create,
    crashAtPersist,
    tearSeed: tearOnCrash === undefined ? undefined : tearOnCrash.seed | 0,
  };
}

function pickBackend(requested: NvmBackendKind | 'auto'): NvmBackendKind {
  if (requested !== 'auto') return requested;
  const load = loadNativeAddon();
  if (load.ok) return 'mapped';
  if (!fallbackWarned) {
    fallbackWarned = true;
    console.warn(
      `strata: NVM addon unavailable (${load.error.message.split('\n')[0]}); using the emulated backend`,
    );
  }
  return 'emulated';
}
