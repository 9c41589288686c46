/**
 * One pack being written (design.md §8, §14). Where the backend writes a file piece by piece (openWriter: the
 * local file system), the sealed blobs go to a temporary file as they come: at most WRITE_BYTES wait in memory,
 * plus the one write in flight. Elsewhere they are gathered and saved whole. Either way the pack is named by
 * the SHA-256 of its bytes, and only save() names it, durably.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Backend, FileWriter } from '../backend/backend.js';
import { sha256 } from '../crypto/crypto.js';
import { decodeEntries, ENTRY_BYTES, packTrailer, writeEntry, type PackEntry } from '../pack/format.js';

/** Bytes gathered before a write is issued: few system calls, little memory. */
const WRITE_BYTES = 1 << 20;

export interface FinishedPack {
  id: string;
  size: number;
  /** the header's entries, encoded (pack/format.ts encodeEntries) */
  records: Buffer;
  /** the same, decoded */
  readonly entries: PackEntry[];
  /** makes the pack durable under its name */
  save(): Promise<void>;
}

export class PackFile {
  /**
   * The header's entries, encoded as they will be written (46 bytes each): a pack of small blobs holds tens
   * of thousands, and as objects with an id Buffer each they cost ≈ 250 bytes apiece.
   */
  private records = Buffer.allocUnsafeSlow(64 * ENTRY_BYTES);
  private n = 0;
  /** bytes of the blobs added so far */
  size = 0;
  /** the sealed blobs not yet written (all of them without openWriter) */
  private queue: Uint8Array[] = [];
  private queued = 0;
  private readonly hash?: Hash;
  private writer?: Promise<FileWriter>;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly backend: Backend) {
    if (backend.openWriter) this.hash = createHash('sha256');
  }

  get count(): number {
    return this.n;
  }

  /**
   * Appends a sealed blob. Streaming, when it issues a write it returns a promise that resolves once the
   * previous write is done (memory stays bounded); otherwise nothing (no promise per blob).
   */
  add(type: 0 | 1, compression: 0 | 1, id: Buffer, sealed: Buffer, rawLength: number): Promise<void> | undefined {
    if ((this.n + 1) * ENTRY_BYTES > this.records.length) {
      const grown = Buffer.allocUnsafeSlow(this.records.length * 2);
      this.records.copy(grown, 0, 0, this.n * ENTRY_BYTES);
      this.records = grown;
    }
    writeEntry(this.records, this.n++ * ENTRY_BYTES, { type, compression, id, offset: this.size, length: sealed.length, rawLength });
    this.size += sealed.length;
    this.queue.push(sealed);
    if (!this.hash) return undefined;
    this.hash.update(sealed);
    this.queued += sealed.length;
    return this.queued >= WRITE_BYTES ? this.write() : undefined;
  }

  /**
   * Issues a write of the queue after the ones before it (each write starts where the last ended) and resolves
   * when the previous write is done: adders wait for the disk. A failed write rejects this or a later call.
   */
  private write(): Promise<void> {
    const parts = this.queue;
    this.queue = [];
    this.queued = 0;
    const before = this.writing;
    const writer = (this.writer ??= this.backend.openWriter!('data'));
    this.writing = (async () => {
      await before;
      await (await writer).write(parts);
    })();
    this.writing.catch(() => undefined); // surfaces through the next write() or finish()
    return before;
  }

  /** Appends the header; the pack can then be saved (FinishedPack.save) and must not be added to. */
  async finish(encKey: Buffer): Promise<FinishedPack> {
    const records = this.records.subarray(0, this.n * ENTRY_BYTES);
    const trailer = packTrailer(encKey, records);
    const size = this.size + trailer[0].length + trailer[1].length;
    this.queue.push(...trailer);
    const finished = (id: string, save: () => Promise<void>): FinishedPack => ({
      id,
      size,
      records,
      get entries() {
        return decodeEntries(records);
      },
      save,
    });
    if (!this.hash) {
      const parts = this.queue;
      this.queue = [];
      const id = sha256(parts).toString('hex');
      return finished(id, () => this.backend.save('data', id, parts));
    }
    for (const p of trailer) this.hash.update(p);
    void this.write();
    await this.writing;
    const w = await this.writer!;
    const id = this.hash.digest('hex');
    return finished(id, () => w.commit(id));
  }

  /** Drops the pack: its temporary file, if any, is removed. Never throws. */
  async discard(): Promise<void> {
    this.queue = [];
    await this.writing.catch(() => undefined);
    const w = await this.writer?.catch(() => undefined);
    await w?.discard();
  }
}
