/**
 * Reusable scratch buffers of the workers (blob decoding, pack windows). A new one reserves at least
 * SCRATCH_RESERVE bytes: malloc maps a Buffer this large on its own (the CLI fixes the mmap threshold at
 * 128 KiB, cli/main.ts), and its pages become resident only where bytes are written, so the reserve costs
 * address space, not memory. Growing one blob at a time instead left a dead buffer per step, which V8 frees
 * only at its next collection: up to 30 MiB per worker (docs/architecture.md, "Memory budget").
 */
import { addon } from './addon.js';

export const SCRATCH_RESERVE = 16 * 1024 * 1024;
/** What releaseScratch leaves resident: a pack window (4 MiB) and the blobs of most files. */
export const SCRATCH_KEEP = 4 * 1024 * 1024;

/** `cur` when it holds `size` bytes, otherwise a new buffer of at least max(size, SCRATCH_RESERVE) bytes. */
export function scratchBuffer(cur: Buffer | undefined, size: number): Buffer {
  return cur && cur.length >= size ? cur : Buffer.allocUnsafeSlow(Math.max(size, SCRATCH_RESERVE));
}

/**
 * Gives the pages of `buf` beyond `keep` back to the kernel, when its contents are no longer needed (between two
 * requests of a worker). Without it, the pages one large blob touched stay resident until the worker ends:
 * scratch buffers only grow in resident size. Returns the bytes released.
 */
export function releaseScratch(buf: Buffer | undefined, keep = SCRATCH_KEEP): number {
  return buf && buf.length > keep ? addon().releasePages(buf, keep) : 0;
}
