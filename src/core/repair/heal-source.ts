/**
 * Healing from the live source: the files of the snapshots that referenced a lost data blob are read where they
 * still exist, cut with this repository's chunker (same secret gear table, same parameters), and every chunk
 * whose keyed id is a lost blob is sealed and stored. The keyed id is the verification: a file that changed
 * since the backup simply yields other ids. Files are only read (O_NOFOLLOW), one at a time.
 */
import { closeSync, constants as C, fstatSync, openSync } from 'node:fs';
import { FlashbackError } from '../errors/errors.js';
import { Chunker, chunkFile, gearTable } from '../chunker/fastcdc.js';
import type { PackSink } from '../repository/pack-sink.js';
import type { Repository } from '../repository/repository.js';

export interface LostBlob {
  type: 0 | 1;
  /** absolute paths (raw bytes) of files whose content includes the blob (a few, not all) */
  files: Buffer[];
}

export interface SourceHeal {
  blob: string;
  path: string;
}

export async function healFromSource(repo: Repository, lost: Map<string, LostBlob>, sink: PackSink, signal?: AbortSignal, onWarning?: (path: string, message: string) => void): Promise<SourceHeal[]> {
  const healed: SourceHeal[] = [];
  const byFile = new Map<string, { path: Buffer; blobs: Set<string> }>();
  for (const [id, l] of lost) {
    if (l.type !== 0) continue;
    for (const path of l.files) {
      const key = path.toString('latin1');
      (byFile.get(key) ?? byFile.set(key, { path, blobs: new Set() }).get(key)!).blobs.add(id);
    }
  }
  const chunker = new Chunker(gearTable(repo.keys.chunkerKey), repo.config.chunker);
  for (const { path, blobs } of byFile.values()) {
    signal?.throwIfAborted();
    if (![...blobs].some((id) => lost.has(id))) continue; // healed from an earlier file
    let fd: number;
    try {
      fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
    } catch (err) {
      if (err instanceof FlashbackError) throw err; // writing here failed: not a problem of the source file
      onWarning?.(path.toString(), `not read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      continue;
    }
    try {
      if (!fstatSync(fd).isFile()) continue;
      for (const chunk of chunkFile(fd, chunker, repo.config.chunker.max)) {
        const id = repo.blobId(chunk).toString('hex');
        if (!lost.has(id) || lost.get(id)!.type !== 0) continue;
        const s = repo.sealBlob(0, chunk);
        await sink.add({ id: s.id, type: 0, compression: s.compression, rawLength: s.rawLength }, s.sealed);
        lost.delete(id);
        healed.push({ blob: id, path: path.toString() });
      }
    } catch (err) {
      if (err instanceof FlashbackError) throw err; // writing here failed: not a problem of the source file
      onWarning?.(path.toString(), `reading failed: ${(err as Error).message}`);
    } finally {
      closeSync(fd);
    }
  }
  return healed;
}
