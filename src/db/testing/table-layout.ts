/**
 * Where things sit inside an intact sorted table, read with the sst decoders, so that corruption
 * tests can damage one chosen block and predict which keys and offsets the engine must name.
 * Layout: src/sst/FORMAT.md.
 */
import { type BlockHandle, decodeBlockHandle } from '../../sst/block-handle.js';
import { BlockIterator } from '../../sst/block-iterator.js';
import { BlockReader } from '../../sst/block-reader.js';
import { decodeFooter, type Footer } from '../../sst/footer.js';
import { userKeyOf } from '../../sst/internal-key.js';
import { TableFile } from '../../sst/table-file.js';
import { FOOTER_BYTES } from '../../sst/table-format.js';

export interface DataBlockLayout extends BlockHandle {
  /** The distinct user keys of the block's entries, in order. */
  readonly userKeys: readonly string[];
}

export interface TableLayout {
  readonly sizeBytes: number;
  readonly footerOffsetBytes: number;
  readonly footer: Footer;
  readonly dataBlocks: readonly DataBlockLayout[];
}

const decoder = new TextDecoder();

export function readTableLayout(path: string): TableLayout {
  const file = TableFile.open(path);
  try {
    const footerOffsetBytes = file.sizeBytes - FOOTER_BYTES;
    const footer = decodeFooter(file.read(footerOffsetBytes, FOOTER_BYTES), {
      path,
      offsetBytes: footerOffsetBytes,
    });
    const indexLocation = { path, offsetBytes: footer.index.offsetBytes };
    const index = new BlockIterator(BlockReader.parse(file.readBlock(footer.index), indexLocation));
    const dataBlocks: DataBlockLayout[] = [];
    for (index.seekFirst(); index.valid(); index.next()) {
      const handle = decodeBlockHandle(index.value(), indexLocation);
      const block = BlockReader.parse(file.readBlock(handle), { path, ...handle });
      dataBlocks.push({ ...handle, userKeys: userKeysOf(block) });
    }
    return { sizeBytes: file.sizeBytes, footerOffsetBytes, footer, dataBlocks };
  } finally {
    file.close();
  }
}

function userKeysOf(block: BlockReader): string[] {
  const keys: string[] = [];
  const entries = new BlockIterator(block);
  for (entries.seekFirst(); entries.valid(); entries.next()) {
    const userKey = decoder.decode(userKeyOf(entries.key()));
    if (keys.at(-1) !== userKey) keys.push(userKey);
  }
  return keys;
}
