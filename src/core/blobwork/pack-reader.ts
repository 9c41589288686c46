/**
 * How a blob worker reads a local pack (docs/architecture.md, "Memory"): in windows of a few MiB, into one
 * buffer per thread, instead of the whole pack or span at once. A scrub's worker then holds one window, not a
 * 16–24 MiB pack; and since blobs are opened in place (decodeBlob, `inPlace`), nothing else.
 */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { parsePackHeader, type PackEntry } from '../pack/format.js';
import { errorMessage } from '../errors/errors.js';
import { scratchBuffer } from '../util/scratch.js';

/** A read of the pack failed (not damage: the device or the file system). */
export class PackReadError extends Error {}

export interface ReadScratch {
  buf?: Buffer;
}

function buffer(scratch: ReadScratch, size: number): Buffer {
  return (scratch.buf = scratchBuffer(scratch.buf, size));
}

/** Reads up to `length` bytes at `pos` into buf[0..]; fewer only at the end of the file. */
function readAt(fd: number, buf: Buffer, length: number, pos: number): number {
  let got = 0;
  try {
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, pos + got);
      if (n === 0) break;
      got += n;
    }
  } catch (err) {
    throw new PackReadError(errorMessage(err));
  }
  return got;
}

/**
 * Blobs of one pack, read window by window in offset order. get() returns a view that is valid until the next
 * call, and which the caller may overwrite (decrypt in place): bytes before the end of the last blob returned
 * are never handed out again without a fresh read.
 */
export class WindowReader {
  private start = 0;
  private end = 0;
  /** file offset below which the buffer may have been overwritten */
  private used = 0;
  private eof = false;

  constructor(
    private readonly fd: number,
    private readonly scratch: ReadScratch,
    private readonly window: number,
    /** end of the bytes wanted (a span): a window never reads past it */
    private readonly limit = Infinity,
  ) {}

  /** bytes [offset, offset + length) of the file; fewer when the file ends first (a truncated pack) */
  get(offset: number, length: number): Buffer {
    const inside = offset >= this.start && offset >= this.used && (offset + length <= this.end || this.eof);
    if (!inside) {
      const want = Math.max(length, Math.min(this.window, this.limit - offset));
      const buf = buffer(this.scratch, want);
      const got = readAt(this.fd, buf, want, offset);
      this.start = offset;
      this.end = offset + got;
      this.eof = got < want;
    }
    this.used = offset + length;
    const from = offset - this.start;
    return this.scratch.buf!.subarray(from, Math.max(from, Math.min(offset + length, this.end) - this.start));
  }
}

/** SHA-256 of the first `size` bytes of the file (hex), read window by window. */
export function hashFile(fd: number, size: number, scratch: ReadScratch, window: number): string {
  const h = createHash('sha256');
  const buf = buffer(scratch, Math.min(window, Math.max(size, 1)));
  for (let pos = 0; pos < size; ) {
    const got = readAt(fd, buf, Math.min(window, size - pos), pos);
    if (got === 0) break;
    h.update(buf.subarray(0, got));
    pos += got;
  }
  return h.digest('hex');
}

function idsOf(entries: PackEntry[]): Uint8Array {
  const ids = new Uint8Array(entries.length * 32);
  entries.forEach((e, i) => ids.set(e.id, i * 32));
  return ids;
}

/** The blob ids in the header of a whole pack in memory, back to back, or why they cannot be read. */
export function headerIdsIn(pack: Buffer, encKey: Buffer, packId: string): { ids: Uint8Array } | { error: string } {
  try {
    const h = parsePackHeader(encKey, pack, pack.length, packId);
    return 'entries' in h ? { ids: idsOf(h.entries) } : { error: 'header length points outside the file' };
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

/** The same for a pack file of `size` bytes, read from its tail. */
export function headerIdsOf(fd: number, size: number, encKey: Buffer, packId: string): { ids: Uint8Array } | { error: string } {
  try {
    let want = Math.min(size, 64 * 1024);
    for (;;) {
      const tail = Buffer.allocUnsafe(want);
      const got = readAt(fd, tail, want, size - want);
      const h = parsePackHeader(encKey, tail.subarray(0, got), size, packId);
      if ('entries' in h) return { ids: idsOf(h.entries) };
      if (h.need <= want) return { error: 'header length points outside the file' };
      want = h.need;
    }
  } catch (err) {
    if (err instanceof PackReadError) throw err;
    return { error: errorMessage(err) };
  }
}
