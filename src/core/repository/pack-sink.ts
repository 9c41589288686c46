/**
 * Writes already sealed blobs into new packs (prune's repack, repair packs): data and tree blobs apart, a pack
 * saved (durably) whenever it reaches the configured size. The caller indexes `packs` afterwards.
 */
import { PackBuilder, type IndexPack, type PackEntry } from '../pack/format.js';
import type { Repository } from './repository.js';

export class PackSink {
  readonly packs: IndexPack[] = [];
  bytes = 0;
  blobs = 0;
  private builders: [PackBuilder, PackBuilder] = [new PackBuilder(), new PackBuilder()];

  constructor(private readonly repo: Repository) {}

  async add(e: Pick<PackEntry, 'id' | 'type' | 'compression' | 'rawLength'>, sealed: Buffer): Promise<void> {
    const b = this.builders[e.type];
    b.add(e.type, e.compression, e.id, sealed, e.rawLength);
    this.blobs++;
    if (b.size >= this.repo.config.packSize) await this.close(e.type);
  }

  private async close(type: 0 | 1): Promise<void> {
    const b = this.builders[type];
    if (b.count === 0) return;
    this.builders[type] = new PackBuilder();
    const { id, parts, size, entries } = b.finishParts(this.repo.keys.encKey);
    await this.repo.backend.save('data', id, parts);
    this.packs.push({ packId: id, entries });
    this.bytes += size;
  }

  /** saves the packs still open */
  async flush(): Promise<void> {
    await this.close(0);
    await this.close(1);
  }
}
