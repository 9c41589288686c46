/**
 * What a restore write request asks of a worker, packed into one ArrayBuffer (transferred, not cloned): the
 * blobs of a pack slice and, for each, the places to write it. A structured clone of the same thing as objects
 * (an object, a path Buffer and often a metadata object per file) cost the main thread about as much as
 * reading the packs; this is a few typed writes per file, and the worker reads it in place.
 *
 * Layout, little-endian: u32 blob count; per blob: u32 offset (in the request's bytes), u32 length, u8 type,
 * u8 compression, u32 rawLength, 32-byte id, u32 target count; per target: u32 job, f64 position, u32 path
 * length, the path, u8 1 if the target finishes the file (then f64 size, u32 mode, u32 uid, u32 gid, i64 atime,
 * i64 mtime in ns) else 0.
 *
 * The reply is packed the same way (WrittenReply): per target, in request order, job, end (the end of the last
 * byte written; -1 when it failed) and whether the file was finished; errors and warnings, which are rare,
 * come as a list of their own.
 */
import type { FileMeta } from '../fs/meta.js';

export interface PlanTarget {
  job: number;
  path: Uint8Array;
  pos: number;
  /** this blob is the file's whole content: finish the file through the same descriptor (size, owner, mode, times) */
  finish?: FileMeta & { size: number };
}

export interface PlanBlob {
  offset: number;
  length: number;
  type: number;
  compression: number;
  rawLength: number;
  id: Uint8Array;
  targets: PlanTarget[];
}

const BLOB_BYTES = 4 + 4 + 1 + 1 + 4 + 32 + 4;
const TARGET_BYTES = 4 + 8 + 4 + 1;
const FINISH_BYTES = 8 + 4 + 4 + 4 + 8 + 8;

export function encodeWritePlan(blobs: PlanBlob[]): ArrayBuffer {
  let size = 4;
  for (const b of blobs) {
    size += BLOB_BYTES;
    for (const t of b.targets) size += TARGET_BYTES + t.path.length + (t.finish ? FINISH_BYTES : 0);
  }
  const ab = new ArrayBuffer(size);
  const v = new DataView(ab);
  const u8 = new Uint8Array(ab);
  let at = 0;
  v.setUint32(at, blobs.length, true);
  at += 4;
  for (const b of blobs) {
    if (b.id.length !== 32) throw new RangeError('a blob id has 32 bytes');
    v.setUint32(at, b.offset, true);
    v.setUint32(at + 4, b.length, true);
    v.setUint8(at + 8, b.type);
    v.setUint8(at + 9, b.compression);
    v.setUint32(at + 10, b.rawLength, true);
    u8.set(b.id, at + 14);
    v.setUint32(at + 46, b.targets.length, true);
    at += BLOB_BYTES;
    for (const t of b.targets) {
      v.setUint32(at, t.job, true);
      v.setFloat64(at + 4, t.pos, true);
      v.setUint32(at + 12, t.path.length, true);
      u8.set(t.path, at + 16);
      at += 16 + t.path.length;
      const f = t.finish;
      v.setUint8(at++, f ? 1 : 0);
      if (!f) continue;
      v.setFloat64(at, f.size, true);
      v.setUint32(at + 8, f.mode, true);
      v.setUint32(at + 12, f.uid, true);
      v.setUint32(at + 16, f.gid, true);
      v.setBigInt64(at + 20, f.atime, true);
      v.setBigInt64(at + 28, f.mtime, true);
      at += FINISH_BYTES;
    }
  }
  return ab;
}

/** Reads a plan in place: `onBlob` for each blob, then `onTarget` for each of its targets (views into the plan). */
export function readWritePlan(ab: ArrayBuffer, onBlob: (b: Omit<PlanBlob, 'targets'>) => void, onTarget: (t: PlanTarget & { path: Buffer }) => void): void {
  const v = new DataView(ab);
  const u8 = Buffer.from(ab);
  let at = 4;
  const blob: Omit<PlanBlob, 'targets'> = { offset: 0, length: 0, type: 0, compression: 0, rawLength: 0, id: u8.subarray(0, 0) };
  for (let n = v.getUint32(0, true), i = 0; i < n; i++) {
    blob.offset = v.getUint32(at, true);
    blob.length = v.getUint32(at + 4, true);
    blob.type = v.getUint8(at + 8);
    blob.compression = v.getUint8(at + 9);
    blob.rawLength = v.getUint32(at + 10, true);
    blob.id = u8.subarray(at + 14, at + 46);
    const targets = v.getUint32(at + 46, true);
    at += BLOB_BYTES;
    onBlob(blob);
    for (let j = 0; j < targets; j++) {
      const job = v.getUint32(at, true);
      const pos = v.getFloat64(at + 4, true);
      const len = v.getUint32(at + 12, true);
      const path = u8.subarray(at + 16, at + 16 + len);
      at += 16 + len;
      let finish: PlanTarget['finish'];
      if (v.getUint8(at++) === 1) {
        finish = {
          size: v.getFloat64(at, true),
          mode: v.getUint32(at + 8, true),
          uid: v.getUint32(at + 12, true),
          gid: v.getUint32(at + 16, true),
          atime: v.getBigInt64(at + 20, true),
          mtime: v.getBigInt64(at + 28, true),
        };
        at += FINISH_BYTES;
      }
      onTarget({ job, path, pos, finish });
    }
  }
  if (at !== ab.byteLength) throw new Error('write plan has trailing bytes');
}

/** The outcome of each target of a write plan, in order: 3 numbers each (job, end or -1, 1 if finished). */
export class WrittenBuilder {
  private out: Float64Array;
  private n = 0;
  readonly issues: { i: number; error?: string; warnings?: string[] }[] = [];

  constructor(targets: number) {
    this.out = new Float64Array(3 * targets);
  }

  ok(job: number, end: number, finished: boolean, warnings?: string[]): void {
    if (warnings?.length) this.issues.push({ i: this.n, warnings });
    this.put(job, end, finished);
  }

  failed(job: number, error: string): void {
    this.issues.push({ i: this.n, error });
    this.put(job, -1, false);
  }

  private put(job: number, end: number, finished: boolean): void {
    if (3 * this.n >= this.out.length) {
      const grown = new Float64Array(Math.max(48, this.out.length * 2));
      grown.set(this.out);
      this.out = grown;
    }
    this.out[3 * this.n] = job;
    this.out[3 * this.n + 1] = end;
    this.out[3 * this.n + 2] = finished ? 1 : 0;
    this.n++;
  }

  finish(): { written: Float64Array; issues: { i: number; error?: string; warnings?: string[] }[] } {
    return { written: this.out.slice(0, 3 * this.n), issues: this.issues };
  }
}
