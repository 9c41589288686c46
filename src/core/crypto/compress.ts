/** zstd compression of blobs and metadata files (design.md §7): keep the raw bytes when zstd saves < 1/16. */
import { Compressor, Decompressor } from 'zstd-napi';

export const COMPRESSION_NONE = 0;
export const COMPRESSION_ZSTD = 1;

let compressor: Compressor | undefined;
let compressorLevel = -1;
let decompressor: Decompressor | undefined;

export function compress(data: Uint8Array, level: number): { bytes: Uint8Array; compression: 0 | 1 } {
  if (data.length < 64) return { bytes: data, compression: COMPRESSION_NONE };
  if (!compressor || compressorLevel !== level) {
    compressor = new Compressor();
    compressor.setParameters({ compressionLevel: level });
    compressorLevel = level;
  }
  const out = compressor.compress(data);
  if (out.length > data.length - (data.length >>> 4)) return { bytes: data, compression: COMPRESSION_NONE };
  return { bytes: out, compression: COMPRESSION_ZSTD };
}

export function decompress(data: Uint8Array, compression: number): Buffer {
  if (compression === COMPRESSION_NONE) return Buffer.from(data.buffer, data.byteOffset, data.length);
  if (compression !== COMPRESSION_ZSTD) throw new Error(`unknown compression ${compression}`);
  decompressor ??= new Decompressor();
  return decompressor.decompress(data);
}
