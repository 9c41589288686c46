/**
 * repair packs: salvage damaged packs. Every blob the index places in such a pack is read and verified; the
 * intact ones are copied into new packs, the new index no longer lists the pack, and the pack is deleted.
 * Lost blobs thereby leave the index, so the next backup stores them again from any source file that still has
 * them (and `repair snapshots` marks the files that referenced them). Which packs: those named, or those the
 * scrub records (check --read-data) found damaged. `heal` (heal.ts) reuses the salvage and the commit.
 */
import { DamageError, FlashbackError, errorMessage } from '../errors/errors.js';
import { PackTable } from '../index/pack-table.js';
import type { IndexPack, PackEntry } from '../pack/format.js';
import { replaceIndex } from '../repository/index-writer.js';
import type { Lock } from '../repository/lock.js';
import { PackSink } from '../repository/pack-sink.js';
import type { Repository } from '../repository/repository.js';
import { loadScrubState } from '../repository/scrub-records.js';

export interface PackSalvage {
  pack: string;
  salvaged: number;
  lost: string[];
}

export interface RepairPacksResult {
  packs: PackSalvage[];
  newPacks: number;
}

/** Packs recorded as damaged by the last verification of each (scrub records). */
export async function damagedPacks(repo: Repository, now = Date.now()): Promise<string[]> {
  const state = await loadScrubState(repo, now);
  return [...state.packs].filter(([, v]) => v.verdict === 'damaged').map(([id]) => id);
}

/** Reads each pack whole and copies its intact blobs into `sink`; a missing pack loses all its blobs. */
export async function salvagePacks(repo: Repository, table: PackTable, packIds: string[], sink: PackSink, signal?: AbortSignal): Promise<PackSalvage[]> {
  for (const id of packIds) {
    if (!table.has(id)) throw new FlashbackError('ERR_NOT_FOUND', `pack ${id} is not in the index`, { hint: 'give full pack ids as "check" prints them; run "flashback repair index" if the index is damaged' });
  }
  const out: PackSalvage[] = [];
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
    out.push({ pack: packId, salvaged, lost });
  }
  return out;
}

/**
 * A lost blob may have a second copy in another pack that the in-memory index did not keep: returns those
 * copies grouped by pack, and removes the blobs found from each salvage's `lost` list.
 */
export async function indexSecondCopies(repo: Repository, salvage: PackSalvage[], retired: Set<string>): Promise<Map<string, PackEntry[]>> {
  const copies = await repo.findBlobCopies(new Set(salvage.flatMap((p) => p.lost)), retired);
  const extra = new Map<string, PackEntry[]>();
  for (const p of salvage) {
    p.lost = p.lost.filter((id) => {
      const c = copies.get(id);
      if (!c) return true;
      (extra.get(c.packId) ?? extra.set(c.packId, []).get(c.packId)!).push(c.entry);
      p.salvaged++;
      return false;
    });
  }
  return extra;
}

/**
 * Commits: one new index (new packs, every indexed pack but the retired ones, second copies) superseding every
 * old index file; then, after checking the lock, deletes the retired packs.
 */
export async function commitRepair(repo: Repository, lock: Lock, table: PackTable, retired: Set<string>, newPacks: IndexPack[], extra: Map<string, PackEntry[]>): Promise<void> {
  const packs = function* (): Generator<IndexPack> {
    yield* newPacks;
    for (const id of table.packIds()) {
      if (retired.has(id)) continue;
      const entries: PackEntry[] = table.blobs(id).map(({ id: blob, loc }) => ({ id: blob, type: loc.type, compression: loc.compression, offset: loc.offset, length: loc.length, rawLength: loc.rawLength }));
      yield { packId: id, entries: [...entries, ...(extra.get(id) ?? [])] };
    }
    for (const [id, entries] of extra) if (!table.has(id)) yield { packId: id, entries };
  };
  await replaceIndex(repo, packs(), [...repo.indexFiles, ...repo.supersededFiles], () => lock.check());
  await lock.check();
  for (const id of retired) {
    try {
      await repo.backend.remove('data', id);
    } catch (err) {
      if (!(err instanceof FlashbackError) || err.code !== 'ERR_NOT_FOUND') throw err; // a pack missing from the device
    }
  }
}

export async function repairPacks(repo: Repository, lock: Lock, packIds: string[], signal?: AbortSignal): Promise<RepairPacksResult> {
  await repo.loadIndex();
  const table = new PackTable(repo.index);
  const sink = new PackSink(repo);
  let packs: PackSalvage[];
  try {
    packs = await salvagePacks(repo, table, packIds, sink, signal);
    await sink.flush();
  } catch (err) {
    await sink.discard(); // the open packs' temporary files
    throw err;
  }
  const retired = new Set(packIds);
  const extra = await indexSecondCopies(repo, packs, retired);
  await commitRepair(repo, lock, table, retired, sink.packs, extra);
  return { packs, newPacks: sink.packs.length };
}
