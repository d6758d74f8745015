/**
 * A stored field record as the object getFields returns, for the coordinator (strata.ts) and
 * attached threads (attached.ts) alike: values as private copies, or as UTF-8 strings.
 */
import { decodeFields } from '../fields/field-codec.js';
import { invalid } from './options.js';

/** How getFields returns values: bytes (default), or strings decoded as UTF-8. */
export interface FieldReadOptions {
  readonly strings?: boolean;
}

const utf8Decoder = new TextDecoder();

/** ERR_CORRUPT when `value` is not a whole field record; ERR_INVALID_ARGUMENT for bad options. */
export function fieldsOf(
  value: Uint8Array,
  options: FieldReadOptions,
): Record<string, Uint8Array | string> {
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
  const strings = options.strings ?? false;
  if (typeof strings !== 'boolean') throw invalid('options.strings must be a boolean');
  const fields: Record<string, Uint8Array | string> = {};
  for (const field of decodeFields(value, 'the value')) {
    // defineProperty: a field may be named __proto__.
    Object.defineProperty(fields, field.name, {
      value: strings ? utf8Decoder.decode(field.value) : field.value.slice(),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return fields;
}
