/**
 * Keys and values as datadriven test text: printable ASCII stands for itself, every other byte
 * (and `\`, `=`, space) is written `\xNN`, and `""` is the empty string. So `a\x00` is the two
 * bytes 61 00 and `\xff` the one byte ff, which UTF-8 could not spell.
 */

export function textToBytes(text: string): Uint8Array {
  if (text === '""') return new Uint8Array(0);
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    if (text.startsWith('\\x', index)) {
      const hex = text.slice(index + 2, index + 4);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`bad escape \\x${hex} in ${text}`);
      bytes.push(Number.parseInt(hex, 16));
      index += 3;
      continue;
    }
    const code = text.charCodeAt(index);
    if (code <= 0x20 || code >= 0x7f) throw new Error(`escape byte ${code} in ${text} as \\xNN`);
    bytes.push(code);
  }
  return Uint8Array.from(bytes);
}

export function bytesToText(bytes: Uint8Array): string {
  if (bytes.length === 0) return '""';
  let text = '';
  for (const byte of bytes) {
    const plain = byte > 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x3d;
    text += plain ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}
