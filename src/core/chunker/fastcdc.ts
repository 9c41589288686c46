import { createHmac } from 'node:crypto';
import { readSync as fsReadSync } from 'node:fs';
import { addon } from '../util/addon.js';

/**
 * FastCDC with normalised chunking (level 2) and a secret gear table, exactly as docs/design.md §6.
 * Chunk boundaries are a repository-format property: test/chunker.test.ts holds golden vectors.
 */
export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
}

export type ReadSyncFn = (fd: number, buf: Uint8Array, off: number, len: number, pos: number) => number;

/** gear[i] = signed int32 at offset 4·(i mod 8) (LE) of HMAC(chunkerKey, "gear" ‖ u8(i div 8)). */
export function gearTable(chunkerKey: Buffer): Int32Array {
  const gear = new Int32Array(256);
  for (let j = 0; j < 32; j++) {
    const mac = createHmac('sha256', chunkerKey).update(Buffer.from([0x67, 0x65, 0x61, 0x72, j])).digest();
    for (let k = 0; k < 8; k++) gear[j * 8 + k] = mac.readInt32LE(4 * k);
  }
  return gear;
}

/** Largest supported `max`: chunkFile's buffer (max + READ_AHEAD) must stay a valid Buffer length. */
const MAX_CHUNK_LIMIT = 1 << 30;

export function validateChunkerParams(p: ChunkerParams): void {
  const ok =
    Number.isSafeInteger(p.min) &&
    Number.isSafeInteger(p.avg) &&
    Number.isSafeInteger(p.max) &&
    p.min >= 0 &&
    p.min <= p.avg &&
    p.avg <= p.max &&
    p.max >= 1 &&
    p.max <= MAX_CHUNK_LIMIT;
  const bits = Math.round(Math.log2(p.avg));
  if (!ok || !(bits >= 2 && bits <= 30)) {
    throw new RangeError(`invalid chunker parameters min=${p.min} avg=${p.avg} max=${p.max}`);
  }
}

/** The top n bits of 32 set, as an int32 (so `(h & mask) === 0` works on int32 h). */
function topBits(n: number): number {
  return n === 0 ? 0 : (-1 << (32 - n)) | 0;
}

export class Chunker {
  readonly params: Readonly<ChunkerParams>;
  /** the gear table, then maskS and maskL: what the native scan reads */
  private readonly state = new Int32Array(258);
  private readonly min: number;
  private readonly avg: number;
  private readonly max: number;

  constructor(gear: Int32Array, p: ChunkerParams) {
    if (!(gear instanceof Int32Array) || gear.length !== 256) throw new RangeError('gear table must be an Int32Array(256)');
    validateChunkerParams(p);
    this.params = Object.freeze({ min: p.min, avg: p.avg, max: p.max });
    this.min = p.min;
    this.avg = p.avg;
    this.max = p.max;
    const bits = Math.round(Math.log2(p.avg));
    this.state.set(gear);
    this.state[256] = topBits(bits + 2);
    this.state[257] = topBits(bits - 2);
  }

  /**
   * Length of the chunk starting at `start`, given the bytes buf[start..end). Returns -1 when no boundary
   * was found, fewer than `max` bytes are available and !eof (the caller must supply more bytes and call
   * again from the same `start`). At eof the remaining bytes form the last chunk; an empty range gives 0.
   * `scanned`: how many bytes from `start` an earlier call that returned -1 already tested (its end - start);
   * testing resumes there instead of at `min`, with the same result.
   *
   * The byte loop is native (addon gearScan: h = (h << 1) + gear[byte] mod 2^32, a boundary after the byte
   * when h & mask is 0); in JavaScript it ran at ≈ 220 MB/s, a tenth of a first backup's CPU time.
   */
  cut(buf: Uint8Array, start: number, end: number, eof: boolean, scanned = 0): number {
    const avail = end - start;
    const min = this.min;
    if (avail <= min) return eof ? avail : -1;
    const max = this.max;
    const limit = start + (avail < max ? avail : max);
    // A byte at offset < avg from the chunk start is tested with maskS, later ones with maskL.
    // Hashing starts at offset min with h = 0, so a chunk cut by content is at least min + 1 bytes long.
    const mid = start + this.avg < limit ? start + this.avg : limit;
    let from = start + min;
    let warm = from;
    if (scanned > min) {
      // h is a shift register: (h << 1) pushes a byte's share out after 32 steps, so the 32 bytes before the
      // resume point give h exactly (fewer when hashing started closer to it).
      const resume = start + (scanned < avail ? scanned : avail);
      warm = resume - 32 > from ? resume - 32 : from;
      from = resume;
    }
    const at = addon().gearScan(this.state, buf, warm, from, mid, limit);
    if (at >= 0) return at - start;
    if (avail >= max) return max;
    return eof ? avail : -1;
  }
}

const SMALL_BUFFER = 128 * 1024;
/**
 * Bytes read beyond one max-size chunk: the buffer is max + READ_AHEAD long. It is read READ_STEP at a time,
 * only as far as the chunker needs to find the next boundary, and what is left of a chunk is moved to the
 * front before each read: the buffer's pages are touched only as far as the longest chunk + READ_STEP
 * (≈ 2–3 MiB at avg 1 MiB), not all of max + READ_AHEAD (architecture.md, "Memory budget").
 */
const READ_AHEAD = 2 * 1024 * 1024;
const READ_STEP = 1024 * 1024;

/** Reusable read buffers for chunkFile (one per thread; only one chunkFile may use them at a time). */
export interface ChunkScratch {
  small?: Buffer;
  full?: Buffer;
}

/**
 * Cuts the file open at `fd` into chunks, reading it sequentially from offset 0 with positioned reads.
 * Memory stays bounded (max + READ_AHEAD) whatever the file size; an empty file yields nothing.
 * `size`, when the caller knows the file's size (> 0) from a stat: the file is taken to end there, without
 * the read that would return 0 (one system call per file; the caller checks the size after reading).
 *
 * The yielded Buffer is a view into an internal buffer that is only valid until the generator is resumed:
 * a caller that keeps a chunk past the next iteration must copy it.
 */
export function* chunkFile(
  fd: number,
  chunker: Chunker,
  maxChunk: number,
  readSync: ReadSyncFn = fsReadSync,
  scratch?: ChunkScratch,
  size = 0,
): Generator<Buffer> {
  const max = Math.max(maxChunk, chunker.params.max);
  const fullSize = max + READ_AHEAD;
  // Start small so that the many small files of a backup do not each touch a large buffer; a caller that
  // cuts one file after another passes `scratch` so both buffers are allocated once, not per file.
  const alloc = (size: number, slot: 'small' | 'full'): Buffer => {
    if (!scratch) return Buffer.allocUnsafe(size);
    const b = scratch[slot];
    if (b && b.length === size) return b;
    return (scratch[slot] = Buffer.allocUnsafe(size));
  };
  let buf = alloc(Math.min(fullSize, SMALL_BUFFER), 'small');
  let start = 0;
  let end = 0;
  let pos = 0;
  let eof = false;
  /** bytes from start the chunker has tested without finding a boundary */
  let scanned = 0;
  for (;;) {
    const n = chunker.cut(buf, start, end, eof, scanned);
    if (n > 0) {
      yield buf.subarray(start, start + n);
      start += n;
      scanned = 0;
      continue;
    }
    if (n === 0) return;
    // n === -1: fewer than max bytes pending and not at eof (buffer length ≥ max, so room can be made).
    scanned = end - start;
    if (buf.length < fullSize && end === buf.length) {
      const bigger = alloc(fullSize, 'full');
      buf.copy(bigger, 0, start, end);
      buf = bigger;
    } else if (start > 0) {
      buf.copyWithin(0, start, end);
    }
    end -= start;
    start = 0;
    // the small buffer is filled whole (small files: one read); the full one a step at a time
    const stop = buf.length < fullSize ? buf.length : Math.min(buf.length, end + READ_STEP);
    while (end < stop) {
      const got = readSync(fd, buf, end, stop - end, pos);
      if (got === 0) {
        eof = true;
        break;
      }
      end += got;
      pos += got;
      if (pos === size) {
        eof = true;
        break;
      }
    }
  }
}
