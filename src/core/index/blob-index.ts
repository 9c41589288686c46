import { addon } from '../util/addon.js';
import { hexToId, idToHex } from '../util/hex.js';

/**
 * The in-memory repository index (docs/design.md §9): blob id → where the sealed blob is. Open addressing
 * (linear probing, hash = first 4 bytes of the id, which is a uniformly random HMAC) over typed arrays on
 * SharedArrayBuffers, so that frozen tables can be handed to worker threads without copying. Entries live in
 * dense blocks of 64 Ki entries (32-byte id, pack, offset, length, rawLength as u32, u8 flags: 49 bytes);
 * the hash slots hold entry number + 1 (0 = empty) and are the only part rebuilt when the table grows.
 */
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

/** `packIds` holds the 32-byte ids of pack numbers 0..packCount-1. */
export interface SharedBlobIndexState {
  readonly tables: readonly SharedTableState[];
  readonly packIds: SharedArrayBuffer;
  readonly packCount: number;
}
const BLOCK_SHIFT = 16;
const BLOCK_SIZE = 1 << BLOCK_SHIFT;
const BLOCK_MASK = BLOCK_SIZE - 1;
const MAX_LOAD = 0.75;
const DELTA_CAPACITY = 1024;

// The id being looked up, copied to an aligned scratch buffer and compared as 8 int32 words (one per thread).
const qBytes = new Uint8Array(32);
const q = new Int32Array(qBytes.buffer);

function loadQuery(id: Uint8Array): void {
  if (id.length !== 32) throw new RangeError(`a blob id has 32 bytes, got ${id.length}`);
  qBytes.set(id);
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/** Bytes of one index entry: type, compression, id (32), offset, length, rawLength (u32 each). */
const ENTRY_BYTES = 46;

function pow2AtLeast(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

const shared = (a: { buffer: ArrayBufferLike }) => a.buffer as SharedArrayBuffer;

class Table {
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

/** has()/get() over tables checked oldest first. */
class TableSet {
  protected tables: Table[] = [];

  has(id: Uint8Array): boolean {
    loadQuery(id);
    for (const t of this.tables) if (t.find() >= 0) return true;
    return false;
  }

  get(id: Uint8Array): BlobLocation | undefined {
    loadQuery(id);
    for (const t of this.tables) {
      const e = t.find();
      if (e >= 0) return t.location(e);
    }
    return undefined;
  }

  get size(): number {
    return this.tables.reduce((n, t) => n + t.count, 0);
  }

  /**
   * A dense number in [0, size) for the entry of an id, or -1. Stable until the next share() (which regroups
   * tables), so a pass over a loaded index (prune, check) can keep per-blob marks in a bitmap instead of a Set.
   */
  ordinal(id: Uint8Array): number {
    loadQuery(id);
    let base = 0;
    for (const t of this.tables) {
      const e = t.find();
      if (e >= 0) return base + e;
      base += t.count;
    }
    return -1;
  }

  /** The location of the entry with this ordinal (see ordinal()). */
  locationAt(ordinal: number): BlobLocation {
    if (!Number.isInteger(ordinal) || ordinal < 0) throw new RangeError(`no index entry ${ordinal}`);
    let e = ordinal;
    for (const t of this.tables) {
      if (e < t.count) return t.location(e);
      e -= t.count;
    }
    throw new RangeError(`no index entry ${ordinal}`);
  }

  /** The entry with this ordinal (see ordinal()), with a fresh id Buffer. */
  entryAt(ordinal: number): { id: Buffer; loc: BlobLocation } {
    if (!Number.isInteger(ordinal) || ordinal < 0) throw new RangeError(`no index entry ${ordinal}`);
    let e = ordinal;
    for (const t of this.tables) {
      if (e < t.count) return { id: t.id(e), loc: t.location(e) };
      e -= t.count;
    }
    throw new RangeError(`no index entry ${ordinal}`);
  }
}

function checkLocation(l: BlobLocation): void {
  const u32 = (v: number) => v >>> 0 === v;
  const bit = (v: number) => v === 0 || v === 1;
  if (!u32(l.pack) || !u32(l.offset) || !u32(l.length) || !u32(l.rawLength) || !bit(l.type) || !bit(l.compression)) {
    throw new RangeError(`invalid blob location ${JSON.stringify(l)}`);
  }
}

export class BlobIndex extends TableSet {
  // All tables but the last are frozen (possibly shared with workers); the last one takes new entries.
  private readonly packNumbers = new Map<string, number>();
  private readonly packIds: string[] = [];

  constructor(initialCapacity = DELTA_CAPACITY) {
    super();
    this.tables = [new Table(Math.max(1, initialCapacity))];
  }

  packNumber(packIdHex: string): number {
    let n = this.packNumbers.get(packIdHex);
    if (n === undefined) {
      hexToId(packIdHex);
      n = this.packIds.push(packIdHex) - 1;
      this.packNumbers.set(packIdHex, n);
    }
    return n;
  }

  /** the number of a pack already known to the index, or undefined */
  findPack(packIdHex: string): number | undefined {
    return this.packNumbers.get(packIdHex);
  }

  packId(n: number): string {
    const hex = this.packIds[n];
    if (hex === undefined) throw new RangeError(`no pack number ${n}`);
    return hex;
  }

  get packCount(): number {
    return this.packIds.length;
  }

  /** Returns false (and changes nothing) when the id is already present. */
  add(id: Uint8Array, loc: BlobLocation): boolean {
    checkLocation(loc);
    loadQuery(id);
    return this.addQuery(loc);
  }

  /**
   * add() of the id at buf[at..at+32], for the index loader (no view per entry): `loc` comes from an index
   * body's u32 fields and checked flags, so it is not checked again.
   */
  addAt(buf: Uint8Array, at: number, loc: BlobLocation): boolean {
    if (at < 0 || at + 32 > buf.length) throw new RangeError('a blob id has 32 bytes');
    for (let i = 0; i < 32; i++) qBytes[i] = buf[at + i];
    return this.addQuery(loc);
  }

  /**
   * add() of every entry of an index body whose structure indexPackNumbers checked and numbered (`packs`);
   * returns how many were new. Throws, adding nothing, at an entry with an invalid type or compression.
   */
  addBody(body: Uint8Array, packs: Uint32Array): number {
    const runs: [at: number, n: number][] = [];
    let entries = 0;
    for (let i = 0, at = 5; i < packs.length; i++) {
      if (packs[i] >= this.packIds.length) throw new RangeError(`invalid pack number ${packs[i]}`);
      const n = u32le(body, at + 32);
      runs.push([at + 36, n]);
      entries += n;
      at += 36 + n * ENTRY_BYTES;
      if (at > body.length) throw new Error('index body is truncated');
    }
    if (this.tables.length === 1) return this.tables[0].insertBody(body, packs, entries);
    // frozen tables to look in first: entry by entry
    for (const [at, n] of runs) for (let j = 0, p = at; j < n; j++, p += ENTRY_BYTES) if (body[p] > 1 || body[p + 1] > 1) throw new Error(`invalid entry at ${p}`);
    const loc: BlobLocation = { pack: 0, offset: 0, length: 0, rawLength: 0, type: 0, compression: 0 };
    let added = 0;
    for (const [i, [start, n]] of runs.entries()) {
      loc.pack = packs[i];
      for (let j = 0, at = start; j < n; j++, at += ENTRY_BYTES) {
        loc.type = body[at] as 0 | 1;
        loc.compression = body[at + 1] as 0 | 1;
        loc.offset = u32le(body, at + 34);
        loc.length = u32le(body, at + 38);
        loc.rawLength = u32le(body, at + 42);
        if (this.addAt(body, at + 2, loc)) added++;
      }
    }
    return added;
  }

  /** Makes room for `extra` more entries in the table that takes new ones (one rehash instead of many). */
  reserve(extra: number): void {
    this.tables[this.tables.length - 1].reserve(extra);
  }

  private addQuery(loc: BlobLocation): boolean {
    const last = this.tables.length - 1;
    for (let i = 0; i < last; i++) if (this.tables[i].find() >= 0) return false;
    const r = this.tables[last].find();
    if (r >= 0) return false;
    this.tables[last].insert(-r - 1, loc.pack, loc.offset, loc.length, loc.rawLength, loc.type | (loc.compression << 1));
    return true;
  }

  /** All entries, oldest first, each with a fresh id Buffer. */
  *entries(): Generator<{ id: Buffer; loc: BlobLocation }> {
    for (const t of this.tables.slice()) {
      for (let e = 0; e < t.count; e++) yield { id: t.id(e), loc: t.location(e) };
    }
  }

  /**
   * Visits every entry without allocating per entry: `ref` is the entry's ordinal() (0..size-1, oldest first),
   * valid until the next add() or share(); `loc` is one object reused for every call.
   */
  forEachEntry(fn: (ref: number, loc: BlobLocation) => void): void {
    const loc: BlobLocation = { pack: 0, offset: 0, length: 0, rawLength: 0, type: 0, compression: 0 };
    let ref = 0;
    for (const t of this.tables) {
      for (let e = 0; e < t.count; e++, ref++) {
        const m = t.meta[e >>> BLOCK_SHIFT];
        const k = (e & BLOCK_MASK) << 2;
        const f = t.flags[e >>> BLOCK_SHIFT][e & BLOCK_MASK];
        loc.pack = m[k];
        loc.offset = m[k + 1];
        loc.length = m[k + 2];
        loc.rawLength = m[k + 3];
        loc.type = (f & 1) as 0 | 1;
        loc.compression = ((f >> 1) & 1) as 0 | 1;
        fn(ref, loc);
      }
    }
  }

  /** Bytes held by the typed arrays (pack ids are a few JS strings and not counted). */
  memoryBytes(): number {
    return this.tables.reduce((n, t) => n + t.bytes(), 0);
  }

  /**
   * Freezes the current entries and hands them out as SharedArrayBuffers (plus a copy of the pack ids); later
   * add()s go to a fresh table. Frozen tables are never written again: share() merges the newest ones into new
   * tables (log-structured, so lookups visit O(log n) tables) and leaves the old ones to the workers using them.
   */
  share(): SharedBlobIndexState {
    const active = this.tables[this.tables.length - 1];
    const frozen = this.tables.slice(0, -1);
    if (active.count > 0) {
      frozen.push(active);
      while (frozen.length >= 2 && 2 * frozen[frozen.length - 1].count >= frozen[frozen.length - 2].count) {
        const b = frozen.pop()!;
        frozen.push(merge(frozen.pop()!, b));
      }
      this.tables = [...frozen, new Table(DELTA_CAPACITY)];
    }
    const packIds = new Uint8Array(new SharedArrayBuffer(32 * this.packIds.length));
    this.packIds.forEach((hex, i) => packIds.set(hexToId(hex), 32 * i));
    const tables = Object.freeze(frozen.map((t) => t.state()));
    return Object.freeze({ tables, packIds: shared(packIds), packCount: this.packIds.length });
  }

  static fromShared(state: SharedBlobIndexState): BlobIndexReader {
    return new BlobIndexReader(state);
  }
}

function merge(a: Table, b: Table): Table {
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

/** A read-only view of a shared index, usable from any thread: has(), get(), size, packId(). */
export class BlobIndexReader extends TableSet {
  private readonly packIdBytes: Uint8Array;
  readonly packCount: number;

  constructor(state: SharedBlobIndexState) {
    super();
    this.tables = state.tables.map((s) => new Table(0, s));
    this.packIdBytes = new Uint8Array(state.packIds);
    this.packCount = state.packCount;
  }

  packId(n: number): string {
    if (!(Number.isInteger(n) && n >= 0 && n < this.packCount)) throw new RangeError(`no pack number ${n}`);
    return idToHex(this.packIdBytes.subarray(32 * n, 32 * n + 32));
  }
}
