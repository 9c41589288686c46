import { hexToId, idToHex } from '../util/hex.js';
import { BLOCK_MASK, BLOCK_SHIFT, DELTA_CAPACITY, Table, loadQuery, loadQueryAt, merge, shared, type BlobLocation, type SharedTableState } from './table.js';

/**
 * The in-memory repository index (docs/design.md §9): blob id → where the sealed blob is. Open addressing
 * (linear probing, hash = first 4 bytes of the id, which is a uniformly random HMAC) over typed arrays on
 * SharedArrayBuffers, so that frozen tables can be handed to worker threads without copying. Entries live in
 * dense blocks of 64 Ki entries (32-byte id, pack, offset, length, rawLength as u32, u8 flags: 49 bytes);
 * the hash slots hold entry number + 1 (0 = empty) and are the only part rebuilt when the table grows.
 */
export type { BlobLocation, SharedTableState } from './table.js';

/** `packIds` holds the 32-byte ids of pack numbers 0..packCount-1. */
export interface SharedBlobIndexState {
  readonly tables: readonly SharedTableState[];
  readonly packIds: SharedArrayBuffer;
  readonly packCount: number;
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/** Bytes of one index entry (pack/format.ts): type, compression, id (32), offset, length, rawLength (u32 each). */
const ENTRY_BYTES = 46;

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
    loadQueryAt(buf, at);
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
