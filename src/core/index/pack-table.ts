/**
 * The index grouped by pack without an object per blob: per pack number its blob count and the end of its
 * furthest blob, and the index entries of all packs as one u32 array grouped by pack (4 bytes per blob next
 * to the index's ~60). A pack's blobs become objects only while that pack is checked.
 */
import type { BlobIndex, BlobLocation } from './blob-index.js';

export interface PackBlob {
  id: Buffer;
  loc: BlobLocation;
}

export class PackTable {
  private readonly start: Uint32Array;
  private readonly refs: Uint32Array;
  private readonly ends: Float64Array;
  private readonly numbers = new Map<string, number>();

  constructor(private readonly index: BlobIndex) {
    const n = index.packCount;
    const count = new Uint32Array(n);
    this.ends = new Float64Array(n);
    index.forEachEntry((_ref, loc) => {
      count[loc.pack]++;
      const end = loc.offset + loc.length;
      if (end > this.ends[loc.pack]) this.ends[loc.pack] = end;
    });
    this.start = new Uint32Array(n + 1);
    for (let p = 0; p < n; p++) {
      this.start[p + 1] = this.start[p] + count[p];
      // a pack whose blobs all live elsewhere too (a duplicate left by an interrupted run) holds no entry
      if (count[p] > 0) this.numbers.set(index.packId(p), p);
    }
    this.refs = new Uint32Array(index.size);
    const next = this.start.slice(0, n);
    index.forEachEntry((ref, loc) => {
      this.refs[next[loc.pack]++] = ref;
    });
  }

  has(packId: string): boolean {
    return this.numbers.has(packId);
  }

  /** packs that hold at least one index entry */
  packIds(): string[] {
    return [...this.numbers.keys()];
  }

  /** end of the furthest blob the index places in the pack */
  end(packId: string): number {
    const p = this.numbers.get(packId);
    return p === undefined ? 0 : this.ends[p];
  }

  /** calls fn with the ordinal of every index entry in pack number p */
  forEachRef(p: number, fn: (ref: number) => void): void {
    for (let i = this.start[p]; i < this.start[p + 1]; i++) fn(this.refs[i]);
  }

  /** how many index entries pack number p holds */
  count(p: number): number {
    return this.start[p + 1] - this.start[p];
  }

  /** the index entries of one pack, as fresh objects */
  blobs(packId: string): PackBlob[] {
    const p = this.numbers.get(packId);
    if (p === undefined) return [];
    const out: PackBlob[] = [];
    for (let i = this.start[p]; i < this.start[p + 1]; i++) out.push(this.index.entryAt(this.refs[i]));
    return out;
  }
}
