/**
 * The blob file layer's entry point: large values live in blob files, each followed by reserved
 * free space so that appends write in place. The writer and reader live in their own files; the
 * byte layout is in FORMAT.md.
 */
export { blobFileName } from '../catalog/file-names.js';
export { BlobFileReader, type BlobRecordEntry } from './blob-file-reader.js';
export {
  BlobFileWriter,
  type BlobRecordInput,
  type OpenForAppendOptions,
} from './blob-file-writer.js';
export { BLOB_FORMAT_VERSION, FILE_HEADER_BYTES, RECORD_HEADER_BYTES } from './blob-format.js';
