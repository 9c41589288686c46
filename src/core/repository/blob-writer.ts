/**
 * Writes blobs into packs and packs into the repository in crash-safe order (design.md §14): a pack is saved
 * (durably) before any index file names it, and index files are written as checkpoints every few packs, so an
 * interrupted backup loses at most the packs since the last checkpoint, which the next run adopts anyway.
 */
import { sha256 } from '../crypto/crypto.js';
import { encodeIndexPack, encodeIndexRecords, ENTRY_BYTES, INDEX_AAD, sealFile, type IndexPack } from '../pack/format.js';
import { PackFile, type FinishedPack } from './pack-file.js';
import type { Repository } from './repository.js';

const CHECKPOINT_PACKS = 8;
const MAX_PENDING_SAVES = 2;

export interface WriterStats {
  blobs: number;
  dataBlobs: number;
  treeBlobs: number;
  rawBytes: number;
  packedBytes: number;
  packs: number;
}

export class BlobWriter {
  readonly stats: WriterStats = { blobs: 0, dataBlobs: 0, treeBlobs: 0, rawBytes: 0, packedBytes: 0, packs: 0 };
  private packs: [PackFile, PackFile];
  /** ids of blobs added to a pack that is not yet in the index, as latin1 strings (32 one-byte characters) */
  private pending = new Set<string>();
  private saves = new Set<Promise<void>>();
  /** index records (encodeIndexPack) of the packs saved since the last index file */
  private unindexed: Buffer[] = [];
  private failure: unknown;
  readonly indexFilesWritten: string[] = [];

  constructor(private readonly repo: Repository) {
    this.packs = [new PackFile(repo.backend), new PackFile(repo.backend)];
  }

  /** whether a blob is stored or about to be */
  known(id: Buffer): boolean {
    return this.repo.index.has(id) || this.pending.has(id.toString('latin1'));
  }

  /**
   * Adds a sealed blob unless it is already known; true when it was added. The answer is a promise only when
   * the caller must wait (a write issued, a pack to close): a backup adds ~100k blobs, mostly without waiting.
   */
  add(type: 0 | 1, id: Buffer, sealed: Buffer, compression: 0 | 1, rawLength: number): boolean | Promise<boolean> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.known(id)) return false;
    const b = this.packs[type];
    this.pending.add(id.toString('latin1'));
    const written = b.add(type, compression, id, sealed, rawLength);
    this.stats.blobs++;
    if (type === 0) this.stats.dataBlobs++;
    else this.stats.treeBlobs++;
    this.stats.rawBytes += rawLength;
    this.stats.packedBytes += sealed.length;
    if (!written && b.size < this.repo.config.packSize) return true;
    return (async () => {
      await written;
      if (b.size >= this.repo.config.packSize) await this.closePack(type);
      return true;
    })();
  }

  /** seal + add a tree blob (main thread); returns its id */
  async addTree(plain: Buffer): Promise<string> {
    const id = this.repo.blobId(plain);
    if (!this.known(id)) {
      const s = this.repo.sealBlob(1, plain);
      await this.add(1, s.id, s.sealed, s.compression, s.rawLength);
    }
    return id.toString('hex');
  }

  private async closePack(type: 0 | 1): Promise<void> {
    const b = this.packs[type];
    if (b.count === 0) return;
    this.packs[type] = new PackFile(this.repo.backend);
    let done: FinishedPack;
    try {
      while (this.saves.size >= MAX_PENDING_SAVES) await Promise.race(this.saves);
      if (this.failure) throw this.failure;
      done = await b.finish(this.repo.keys.encKey);
    } catch (err) {
      await b.discard();
      throw err;
    }
    const p: Promise<void> = done
      .save()
      .then(() => this.packSaved(done.id, done.records))
      .catch((err) => {
        this.failure ??= err;
      })
      .finally(() => this.saves.delete(p));
    this.saves.add(p);
  }

  private async packSaved(packId: string, records: Buffer): Promise<void> {
    this.repo.addPackRecordsToIndex(packId, records);
    for (let at = 0; at < records.length; at += ENTRY_BYTES) this.pending.delete(records.toString('latin1', at + 2, at + 34));
    this.unindexed.push(encodeIndexPack({ packId, records }));
    this.stats.packs++;
    if (this.unindexed.length >= CHECKPOINT_PACKS) await this.writeIndex();
  }

  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const packs = this.unindexed;
    this.unindexed = [];
    const bytes = sealFile(this.repo.keys.encKey, INDEX_AAD, encodeIndexRecords(packs, []), this.repo.config.compression.level);
    const name = sha256(bytes).toString('hex');
    await this.repo.backend.save('index', name, bytes);
    this.repo.indexFiles.add(name);
    this.indexFilesWritten.push(name);
  }

  /** Closes the open packs, waits for every save, and writes the final index file. */
  async flush(): Promise<void> {
    await this.closePack(0);
    await this.closePack(1);
    while (this.saves.size) await Promise.race(this.saves);
    if (this.failure) throw this.failure;
    await this.writeIndex();
  }

  /** Waits for in-flight saves and drops the open packs, writing nothing more (used when aborting). */
  async abort(): Promise<void> {
    while (this.saves.size) await Promise.race(this.saves);
    for (const b of this.packs) await b.discard();
  }

  /** Records packs found on the device but in no index file (left by an interrupted run). */
  async adopt(packs: IndexPack[]): Promise<void> {
    for (const p of packs) {
      this.repo.addPackToIndex(p.packId, p.entries);
      this.unindexed.push(encodeIndexPack(p));
    }
    await this.writeIndex();
  }
}

/** Lists packs that no loaded index file names, and reads their headers (only the tail of each file). */
export async function findOrphanPacks(repo: Repository, onDamage?: (pack: string, err: Error) => void): Promise<IndexPack[]> {
  const indexed = new Set<string>();
  for (let i = 0; i < repo.index.packCount; i++) indexed.add(repo.index.packId(i));
  const out: IndexPack[] = [];
  // names only: at 125k packs a stat of each took 4 s of every backup's start (docs/scaling.md)
  for await (const name of repo.backend.listNames('data')) {
    if (indexed.has(name)) continue;
    try {
      out.push({ packId: name, entries: await repo.readPackHeader(name) });
    } catch (err) {
      onDamage?.(name, err as Error);
    }
  }
  return out;
}
