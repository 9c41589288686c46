/**
 * Writes already sealed blobs into new packs (prune's repack, repair packs): data and tree blobs apart, a pack
 * saved (durably) whenever it reaches the configured size. The caller indexes `packs` afterwards.
 */
import type { IndexPack, PackEntry } from '../pack/format.js';
import { PackFile } from './pack-file.js';
import type { Repository } from './repository.js';

export class PackSink {
  readonly packs: IndexPack[] = [];
  bytes = 0;
  blobs = 0;
  private open: [PackFile, PackFile];

  constructor(private readonly repo: Repository) {
    this.open = [new PackFile(repo.backend), new PackFile(repo.backend)];
  }

  async add(e: Pick<PackEntry, 'id' | 'type' | 'compression' | 'rawLength'>, sealed: Buffer): Promise<void> {
    const b = this.open[e.type];
    this.blobs++;
    await b.add(e.type, e.compression, e.id, sealed, e.rawLength);
    if (b.size >= this.repo.config.packSize) await this.close(e.type);
  }

  private async close(type: 0 | 1): Promise<void> {
    const b = this.open[type];
    if (b.count === 0) return;
    this.open[type] = new PackFile(this.repo.backend);
    try {
      const { id, size, entries, save } = await b.finish(this.repo.keys.encKey);
      await save();
      this.packs.push({ packId: id, entries });
      this.bytes += size;
    } catch (err) {
      await b.discard();
      throw err;
    }
  }

  /** saves the packs still open */
  async flush(): Promise<void> {
    await this.close(0);
    await this.close(1);
  }

  /** drops the packs still open (their temporary files): for a caller that gives up */
  async discard(): Promise<void> {
    for (const b of this.open) await b.discard();
  }
}
