/**
 * repair packs: salvage damaged packs. Every blob the index places in such a pack is read and verified; the
 * intact ones are copied into new packs, the new index no longer lists the pack, and the pack is deleted.
 * Lost blobs thereby leave the index, so the next backup stores them again from any source file that still has
 * them (and `repair snapshots` marks the files that referenced them). Which packs: those named, or those the
 * scrub records (check --read-data) found damaged.
 */
import { DamageError, FlashbackError, errorMessage } from '../errors/errors.js';
import { PackTable } from '../index/pack-table.js';
import type { IndexPack, PackEntry } from '../pack/format.js';
import { replaceIndex } from '../repository/index-writer.js';
import type { Lock } from '../repository/lock.js';
import { PackSink } from '../repository/pack-sink.js';
import type { Repository } from '../repository/repository.js';
import { loadScrubState } from '../repository/scrub-records.js';

export interface RepairPacksResult {
  packs: { pack: string; salvaged: number; lost: string[] }[];
  newPacks: number;
}

/** Packs recorded as damaged by the last verification of each (scrub records). */
export async function damagedPacks(repo: Repository, now = Date.now()): Promise<string[]> {
  const state = await loadScrubState(repo, now);
  return [...state.packs].filter(([, v]) => v.verdict === 'damaged').map(([id]) => id);
}

export async function repairPacks(repo: Repository, lock: Lock, packIds: string[], signal?: AbortSignal): Promise<RepairPacksResult> {
  await repo.loadIndex();
  const table = new PackTable(repo.index);
  for (const id of packIds) {
    if (!table.has(id)) throw new FlashbackError('ERR_NOT_FOUND', `pack ${id} is not in the index`, { hint: 'give full pack ids as "check" prints them; run "flashback repair index" if the index is damaged' });
  }
  const result: RepairPacksResult = { packs: [], newPacks: 0 };
  const sink = new PackSink(repo);
  for (const packId of packIds) {
    signal?.throwIfAborted();
    let bytes: Buffer | undefined;
    try {
      bytes = await repo.backend.load('data', packId);
    } catch (err) {
      if (!(err instanceof FlashbackError) || err.code !== 'ERR_NOT_FOUND') throw err;
    }
    const lost: string[] = [];
    let salvaged = 0;
    for (const { id, loc } of table.blobs(packId)) {
      try {
        if (!bytes || loc.offset + loc.length > bytes.length) throw new DamageError(`data/${packId}`, 'cut off');
        const sealed = bytes.subarray(loc.offset, loc.offset + loc.length);
        repo.openBlob(sealed, loc, id, packId);
        await sink.add({ id, type: loc.type, compression: loc.compression, rawLength: loc.rawLength }, Buffer.from(sealed));
        salvaged++;
      } catch (err) {
        if (!(err instanceof DamageError)) throw new FlashbackError('ERR_IO', `salvaging pack ${packId}: ${errorMessage(err)}`, { cause: err });
        lost.push(id.toString('hex'));
      }
    }
    result.packs.push({ pack: packId, salvaged, lost });
  }
  await sink.flush();
  result.newPacks = sink.packs.length;
  const repaired = new Set(packIds);
  // a lost blob may have a second copy in another pack that the in-memory index did not keep: index it there
  const copies = await repo.findBlobCopies(new Set(result.packs.flatMap((p) => p.lost)), repaired);
  const extra = new Map<string, PackEntry[]>();
  for (const p of result.packs) {
    p.lost = p.lost.filter((id) => {
      const c = copies.get(id);
      if (!c) return true;
      (extra.get(c.packId) ?? extra.set(c.packId, []).get(c.packId)!).push(c.entry);
      p.salvaged++;
      return false;
    });
  }
  const packs = function* (): Generator<IndexPack> {
    yield* sink.packs;
    for (const id of table.packIds()) {
      if (repaired.has(id)) continue;
      const entries: PackEntry[] = table.blobs(id).map(({ id: blob, loc }) => ({ id: blob, type: loc.type, compression: loc.compression, offset: loc.offset, length: loc.length, rawLength: loc.rawLength }));
      yield { packId: id, entries: [...entries, ...(extra.get(id) ?? [])] };
    }
    for (const [id, entries] of extra) if (!table.has(id)) yield { packId: id, entries };
  };
  await replaceIndex(repo, packs(), [...repo.indexFiles, ...repo.supersededFiles], () => lock.check());
  await lock.check();
  for (const id of packIds) await repo.backend.remove('data', id);
  return result;
}
