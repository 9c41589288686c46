/** zstd compression of blobs and metadata files (design.md §7): keep the raw bytes when zstd saves < 1/16. */
import { createRequire } from 'node:module';
import { Compressor, Decompressor } from 'zstd-napi';

const binding = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof import('zstd-napi/binding.js');
let dctx: InstanceType<typeof binding.DCtx> | undefined;
let cctx: InstanceType<typeof binding.CCtx> | undefined;

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

/**
 * Decompresses into `out`, a buffer the caller reuses (at least the expected size), and returns a view of the
 * bytes written: no allocation per blob, so a worker does not pile up dead buffers between collections.
 */
export function decompressInto(data: Uint8Array, compression: number, out: Buffer): Buffer {
  if (compression === COMPRESSION_NONE) return Buffer.from(data.buffer, data.byteOffset, data.length);
  if (compression !== COMPRESSION_ZSTD) throw new Error(`unknown compression ${compression}`);
  dctx ??= new binding.DCtx();
  return out.subarray(0, dctx.decompress(out, data));
}

/** The most bytes compressTo may write for `length` input bytes. */
export function compressBound(length: number): number {
  return binding.compressBound(length);
}

/**
 * Like `compress`, but into `out` (at least compressBound(data.length) bytes, e.g. a view of the chunk workers'
 * batch buffer, sealed there in place): returns the compressed length, or -1 when the raw bytes are to be kept.
 */
export function compressTo(data: Uint8Array, level: number, out: Uint8Array): number {
  if (data.length < 64) return -1;
  cctx ??= new binding.CCtx();
  const n = cctx.compress(out, data, level);
  return n > data.length - (data.length >>> 4) ? -1 : n;
}
