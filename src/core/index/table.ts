/**
 * One hash table of the blob index (blob-index.ts): open addressing with linear probing over typed arrays on
 * SharedArrayBuffers, entries in dense blocks (see BlobIndex). A table is filled by one thread and, once frozen,
 * read by any; native/index.c inserts index files into it with the same layout and probing.
 */
import { addon } from '../util/addon.js';

export interface BlobLocation { pack: number; offset: number; length: number; rawLength: number; type: 0 | 1; compression: 0 | 1 }

/**
 * One frozen table. A block of n entries holds the ids (32n bytes), then pack, offset, length, rawLength (u32,
 * 16n bytes), then the flags (n bytes: bit0 type, bit1 zstd).
 */
export interface SharedTableState {
  readonly count: number;
  readonly slots: SharedArrayBuffer;
  readonly blocks: readonly SharedArrayBuffer[];
}

export const BLOCK_SHIFT = 16;
export const BLOCK_SIZE = 1 << BLOCK_SHIFT;
export const BLOCK_MASK = BLOCK_SIZE - 1;
const MAX_LOAD = 0.75;
export const DELTA_CAPACITY = 1024;

// The id being looked up, copied to an aligned scratch buffer and compared as 8 int32 words (one per thread).
const qBytes = new Uint8Array(32);
const q = new Int32Array(qBytes.buffer);

export function loadQuery(id: Uint8Array): void {
  if (id.length !== 32) throw new RangeError(`a blob id has 32 bytes, got ${id.length}`);
  qBytes.set(id);
}

/** loadQuery of the id at buf[at..at+32], without a view of it */
export function loadQueryAt(buf: Uint8Array, at: number): void {
  if (at < 0 || at + 32 > buf.length) throw new RangeError('a blob id has 32 bytes');
  for (let i = 0; i < 32; i++) qBytes[i] = buf[at + i];
}

function pow2AtLeast(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

export const shared = (a: { buffer: ArrayBufferLike }) => a.buffer as SharedArrayBuffer;

export class Table {
  count = 0;
  slots: Uint32Array;
  ids: Int32Array[] = [];
  meta: Uint32Array[] = [];
  flags: Uint8Array[] = [];

  constructor(capacity: number, state?: SharedTableState) {
    if (state) {
      this.count = state.count;
      this.slots = new Uint32Array(state.slots);
      for (const block of state.blocks) this.addBlock(block);
      return;
    }
    this.slots = new Uint32Array(new SharedArrayBuffer(4 * pow2AtLeast(Math.ceil(capacity / MAX_LOAD))));
    this.addBlock(new SharedArrayBuffer(49 * Math.min(BLOCK_SIZE, pow2AtLeast(capacity))));
  }

  /** Entry number of the id in the query scratch, or -(slot + 1) for the empty slot where it would go. */
  find(): number {
    const slots = this.slots;
    const mask = slots.length - 1;
    const ids = this.ids;
    const q0 = q[0];
    for (let s = q0 & mask; ; s = (s + 1) & mask) {
      const v = slots[s];
      if (v === 0) return -(s + 1);
      const w = ids[(v - 1) >>> BLOCK_SHIFT];
      const k = ((v - 1) & BLOCK_MASK) << 3;
      if (w[k] === q0 && w[k + 1] === q[1] && w[k + 2] === q[2] && w[k + 3] === q[3] &&
          w[k + 4] === q[4] && w[k + 5] === q[5] && w[k + 6] === q[6] && w[k + 7] === q[7]) {
        return v - 1;
      }
    }
  }

  /** Adds the id in the query scratch, known to be absent, at `slot` (from find()). */
  insert(slot: number, pack: number, offset: number, length: number, rawLength: number, flags: number): void {
    if (this.count + 1 > this.slots.length * MAX_LOAD) {
      this.rehash(this.slots.length * 2);
      slot = -this.find() - 1;
    }
    const e = this.count;
    const b = e >>> BLOCK_SHIFT;
    const o = e & BLOCK_MASK;
    if (b === this.flags.length) this.addBlock(new SharedArrayBuffer(49 * BLOCK_SIZE));
    else if (o === this.flags[b].length) this.growFirstBlock();
    this.ids[b].set(q, o << 3);
    const m = this.meta[b];
    m[o << 2] = pack;
    m[(o << 2) + 1] = offset;
    m[(o << 2) + 2] = length;
    m[(o << 2) + 3] = rawLength;
    this.flags[b][o] = flags;
    this.slots[slot] = e + 1;
    this.count = e + 1;
  }

  private addBlock(buffer: SharedArrayBuffer): void {
    const n = buffer.byteLength / 49;
    this.ids.push(new Int32Array(buffer, 0, 8 * n));
    this.meta.push(new Uint32Array(buffer, 32 * n, 4 * n));
    this.flags.push(new Uint8Array(buffer, 48 * n, n));
  }

  /**
   * Adds the entries of an index body (pack/format.ts: u8 version, u32 pack count, per pack its id, u32 entry
   * count and entries; the structure checked by indexPackNumbers, `packs` its pack numbers) that are not in
   * this table yet, in native code (native/index.c, the same layout and probing as find() and insert()):
   * loading the index is on the path of every command, in a fresh process where this loop in JavaScript would
   * mostly run unoptimized. Throws, adding nothing, at an entry with an invalid type or compression.
   * Returns how many were added.
   */
  insertBody(body: Uint8Array, packs: Uint32Array, entries: number): number {
    this.reserve(entries);
    const before = this.count;
    this.count = addon().indexInsertBody(body, packs, this.slots, this.ids, this.meta, this.flags, this.count);
    return this.count - before;
  }

  /** Room for `extra` more entries without growing: slots at most MAX_LOAD full, blocks for every entry. */
  reserve(extra: number): void {
    const want = this.count + extra;
    if (want > this.slots.length * MAX_LOAD) this.rehash(pow2AtLeast(Math.ceil(want / MAX_LOAD)));
    if (this.flags.length === 1 && this.flags[0].length < Math.min(BLOCK_SIZE, want)) this.growFirstBlock(Math.min(BLOCK_SIZE, pow2AtLeast(want)));
    let room = this.flags.reduce((n, f) => n + f.length, 0);
    for (; room < want; room += BLOCK_SIZE) this.addBlock(new SharedArrayBuffer(49 * BLOCK_SIZE));
  }

  /** Small tables start with a short first block that doubles up to BLOCK_SIZE; later blocks are full. */
  private growFirstBlock(to = Math.min(BLOCK_SIZE, this.flags[0].length * 2)): void {
    const [ids, meta, flags] = [this.ids.pop()!, this.meta.pop()!, this.flags.pop()!];
    this.addBlock(new SharedArrayBuffer(49 * to));
    this.ids[0].set(ids);
    this.meta[0].set(meta);
    this.flags[0].set(flags);
  }

  private rehash(size: number): void {
    const slots = new Uint32Array(new SharedArrayBuffer(4 * size));
    const mask = size - 1;
    for (let e = 0; e < this.count; e++) {
      let s = this.ids[e >>> BLOCK_SHIFT][(e & BLOCK_MASK) << 3] & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = e + 1;
    }
    this.slots = slots;
  }

  location(e: number): BlobLocation {
    const m = this.meta[e >>> BLOCK_SHIFT];
    const f = this.flags[e >>> BLOCK_SHIFT][e & BLOCK_MASK];
    const k = (e & BLOCK_MASK) << 2;
    return { pack: m[k], offset: m[k + 1], length: m[k + 2], rawLength: m[k + 3], type: (f & 1) as 0 | 1, compression: ((f >> 1) & 1) as 0 | 1 };
  }

  /** A fresh copy of the id of entry e. */
  id(e: number): Buffer {
    return Buffer.from(new Uint8Array(this.ids[e >>> BLOCK_SHIFT].buffer, (e & BLOCK_MASK) * 32, 32));
  }

  bytes(): number {
    return this.ids.reduce((n, ids) => n + ids.buffer.byteLength, this.slots.byteLength);
  }

  state(): SharedTableState {
    return Object.freeze({ count: this.count, slots: shared(this.slots), blocks: Object.freeze(this.ids.map(shared)) });
  }
}

export function merge(a: Table, b: Table): Table {
  const t = new Table(a.count + b.count);
  for (const src of [a, b]) {
    for (let e = 0; e < src.count; e++) {
      const l = src.location(e);
      loadQuery(src.id(e));
      t.insert(-t.find() - 1, l.pack, l.offset, l.length, l.rawLength, l.type | (l.compression << 1));
    }
  }
  return t;
}

