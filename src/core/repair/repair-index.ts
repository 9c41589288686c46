/**
 * repair index: rebuild the index from the packs themselves (design.md §8: every pack carries its own sealed
 * header at its tail). Intact index files are trusted for the packs they list (unless readAll); every other pack
 * on the device has its header read. The result replaces every index file, damaged ones included.
 */
import { errorMessage } from '../errors/errors.js';
import { PackTable } from '../index/pack-table.js';
import type { IndexPack } from '../pack/format.js';
import { replaceIndex } from '../repository/index-writer.js';
import type { Lock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';

export interface RepairIndexOptions {
  /** read the header of every pack, even those an intact index file lists */
  readAll?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface RepairIndexResult {
  packs: number;
  blobs: number;
  /** packs whose header was read from the device */
  headersRead: number;
  /** index files that could not be read (replaced) */
  damagedIndexFiles: string[];
  /** packs listed by an index file but absent from the device: their blobs are lost */
  missingPacks: string[];
  /** packs whose header cannot be read: their blobs are not indexed */
  unreadablePacks: { pack: string; message: string }[];
  indexFilesWritten: number;
  indexFilesRemoved: number;
}

export async function repairIndex(repo: Repository, lock: Lock, opts: RepairIndexOptions = {}): Promise<RepairIndexResult> {
  const r: RepairIndexResult = { packs: 0, blobs: 0, headersRead: 0, damagedIndexFiles: [], missingPacks: [], unreadablePacks: [], indexFilesWritten: 0, indexFilesRemoved: 0 };
  const existing: string[] = [];
  for await (const name of repo.backend.listNames('index')) existing.push(name);
  if (!opts.readAll) await repo.loadIndex((file) => r.damagedIndexFiles.push(file));
  const onDisk = new Map<string, number>();
  for await (const f of repo.backend.list('data')) onDisk.set(f.name, f.size);
  const toRead = [...onDisk.keys()].filter((name) => opts.readAll || repo.index.findPack(name) === undefined);
  for (const name of toRead) {
    opts.signal?.throwIfAborted();
    try {
      repo.addPackToIndex(name, await repo.readPackHeader(name, onDisk.get(name)));
      r.headersRead++;
    } catch (err) {
      r.unreadablePacks.push({ pack: name, message: errorMessage(err) });
    }
    opts.onProgress?.(r.headersRead + r.unreadablePacks.length, toRead.length);
  }
  const table = new PackTable(repo.index);
  for (let p = 0; p < repo.index.packCount; p++) {
    const id = repo.index.packId(p);
    if (!onDisk.has(id) && table.count(p) > 0) r.missingPacks.push(id);
  }
  const packs = function* (): Generator<IndexPack> {
    for (let p = 0; p < repo.index.packCount; p++) {
      const id = repo.index.packId(p);
      if (!onDisk.has(id) || table.count(p) === 0) continue;
      const entries = table.blobs(id).map(({ id: blob, loc }) => ({ id: blob, type: loc.type, compression: loc.compression, offset: loc.offset, length: loc.length, rawLength: loc.rawLength }));
      r.packs++;
      r.blobs += entries.length;
      yield { packId: id, entries };
    }
  };
  const written = await replaceIndex(repo, packs(), existing, () => lock.check());
  r.indexFilesWritten = written.length;
  r.indexFilesRemoved = existing.length;
  return r;
}
