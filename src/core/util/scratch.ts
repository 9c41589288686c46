/**
 * Reusable scratch buffers of the workers (blob decoding, pack windows). A new one reserves at least
 * SCRATCH_RESERVE bytes: malloc maps a Buffer this large on its own (the CLI fixes the mmap threshold at
 * 128 KiB, cli/main.ts), and its pages become resident only where bytes are written, so the reserve costs
 * address space, not memory. Growing one blob at a time instead left a dead buffer per step, which V8 frees
 * only at its next collection: up to 30 MiB per worker (docs/architecture.md, "Memory budget").
 */
export const SCRATCH_RESERVE = 16 * 1024 * 1024;

/** `cur` when it holds `size` bytes, otherwise a new buffer of at least max(size, SCRATCH_RESERVE) bytes. */
export function scratchBuffer(cur: Buffer | undefined, size: number): Buffer {
  return cur && cur.length >= size ? cur : Buffer.allocUnsafeSlow(Math.max(size, SCRATCH_RESERVE));
}
