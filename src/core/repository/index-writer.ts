/**
 * Writes a complete new index (prune, repair index) as several bounded files. Only the LAST file names the
 * index files it supersedes (design.md §9), so until it is durable the old files stay in force and the new
 * ones merely duplicate them: a crash at any point leaves an index that lists every live blob.
 */
import { sha256 } from '../crypto/crypto.js';
import { encodeIndex, ENTRY_BYTES, INDEX_AAD, sealFile, type IndexPack } from '../pack/format.js';
import type { Repository } from './repository.js';

/** entries per index file: about 12 MiB of body, so that memory and a torn write stay bounded */
const MAX_ENTRIES = 256 * 1024;

/** An upper bound of the bytes an index of these packs takes on the device (compression ignored). */
export function indexBytesEstimate(packs: number, entries: number, superseded: number): number {
  const files = Math.ceil(entries / MAX_ENTRIES) + 1;
  return files * (5 + 4 + 1 + 28) + packs * 36 + entries * ENTRY_BYTES + superseded * 32;
}

export class IndexFileWriter {
  private packs: IndexPack[] = [];
  private entries = 0;
  readonly written: string[] = [];

  constructor(private readonly repo: Repository) {}

  async addPack(p: IndexPack): Promise<void> {
    this.packs.push(p);
    this.entries += p.entries.length;
    if (this.entries >= MAX_ENTRIES) await this.flush([]);
  }

  private async flush(superseded: string[]): Promise<void> {
    const bytes = sealFile(this.repo.keys.encKey, INDEX_AAD, encodeIndex(this.packs, superseded), this.repo.config.compression.level);
    const name = sha256(bytes).toString('hex');
    await this.repo.backend.save('index', name, bytes);
    this.written.push(name);
    this.packs = [];
    this.entries = 0;
  }

  /** Writes the last file, which supersedes `superseded`; returns the names of all files written. */
  async finish(superseded: string[]): Promise<string[]> {
    await this.flush(superseded);
    return this.written;
  }
}

/**
 * Replaces the whole index: writes `packs` as new index files (the last one superseding `superseded`), then
 * removes the superseded files. `beforeCommit` runs just before the superseding file is written (lock check).
 */
export async function replaceIndex(
  repo: Repository,
  packs: Iterable<IndexPack> | AsyncIterable<IndexPack>,
  superseded: string[],
  beforeCommit?: () => Promise<void>,
): Promise<string[]> {
  const w = new IndexFileWriter(repo);
  for await (const p of packs) await w.addPack(p);
  await beforeCommit?.();
  const written = await w.finish(superseded);
  for (const name of superseded) await repo.backend.remove('index', name);
  return written;
}
