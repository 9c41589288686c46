/**
 * Prune, step 2: carry out a plan, crash-safe at every step (docs/maintenance.md "Prune"):
 *
 *   1. repack: copy the used blobs of partly used packs into new packs (verified on the way);
 *   2. commit: write a new index (kept packs + new packs) that supersedes every old index file, then remove
 *      the old index files;
 *   3. delete the packs the new index no longer names.
 *
 * Before step 3 nothing is lost: an interrupted run leaves duplicates (new packs, new index files) that the
 * next run or backup absorbs. Packs are deleted only after the index that no longer needs them is durable, and
 * only after checking that our exclusive lock is still held. On a nearly full device, step 1 runs in batches
 * that fit the free space, after a first commit that deletes the wholly unused packs.
 */
import { DamageError, FlashbackError } from '../errors/errors.js';
import type { Lock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';
import { indexBytesEstimate, replaceIndex } from '../repository/index-writer.js';
import { PackSink } from '../repository/pack-sink.js';
import type { IndexPack, PackEntry } from '../pack/format.js';
import { packOverhead, type PrunePlan, type PruneOptions } from './plan.js';

/** room kept free beyond the estimate: file system allocation rounding, directory growth */
const MARGIN = 1024 * 1024;
/** more index files than this are merged into a few, even when nothing else changes */
const CONSOLIDATE_ABOVE = 32;
/** a gap up to this size between two used blobs is read rather than split into two reads */
const READ_GAP = 64 * 1024;

export interface PruneResult {
  deletedPacks: number;
  deletedBytes: number;
  repackedPacks: number;
  newPacks: number;
  newBytes: number;
  copiedBlobs: number;
  indexFilesRemoved: number;
  indexFilesWritten: number;
  tmpRemoved: number;
  /** packs left as they were because a used blob in them failed verification */
  damaged: { pack: string; message: string }[];
  /** set when free space ran short: the packs still to repack and the space needed */
  stoppedForSpace?: { packs: number; need: number; free: number };
}

export async function executePrune(repo: Repository, plan: PrunePlan, lock: Lock, opts: PruneOptions = {}): Promise<PruneResult> {
  const r: PruneResult = { deletedPacks: 0, deletedBytes: 0, repackedPacks: 0, newPacks: 0, newBytes: 0, copiedBlobs: 0, indexFilesRemoved: 0, indexFilesWritten: 0, tmpRemoved: 0, damaged: [] };
  const { action } = plan;
  const np = action.length;
  const progress = opts.onProgress ?? (() => undefined);
  let current = [...plan.indexFiles, ...repo.supersededFiles];
  const newPacks: IndexPack[] = [];
  const entriesOf = (p: number): PackEntry[] => plan.table.blobs(repo.index.packId(p)).map(({ id, loc }) => ({ id, ...loc }));
  const liveEntries = () => {
    let packs = newPacks.length;
    let entries = newPacks.reduce((n, p) => n + p.entries.length, 0);
    for (let p = 0; p < np; p++) {
      if (action[p] === 'keep' || action[p] === 'repack') {
        packs++;
        entries += plan.table.count(p);
      }
    }
    return { packs, entries };
  };
  const indexNeed = () => {
    const l = liveEntries();
    return indexBytesEstimate(l.packs, l.entries, current.length);
  };
  const free = async () => (await repo.backend.freeSpace()) ?? Infinity;

  /** writes the index of the packs still in use, removes the old index files, then deletes the rest */
  const commit = async (gone: (p: number) => boolean) => {
    function* live(): Generator<IndexPack> {
      yield* newPacks;
      for (let p = 0; p < np; p++) {
        if (action[p] === 'keep' || (action[p] === 'repack' && !gone(p))) {
          opts.signal?.throwIfAborted();
          yield { packId: repo.index.packId(p), entries: entriesOf(p) };
        }
      }
    }
    const written = await replaceIndex(repo, live(), current, () => lock.check());
    r.indexFilesWritten += written.length;
    r.indexFilesRemoved += current.length;
    current = written;
    await lock.check();
    let done = 0;
    const total = [...action.keys()].filter((p) => gone(p)).length;
    for (let p = 0; p < np; p++) {
      if (!gone(p)) continue;
      if (action[p] !== 'drop') {
        await repo.backend.remove('data', repo.index.packId(p));
        r.deletedPacks++;
        r.deletedBytes += plan.size[p];
      }
      if (action[p] === 'repack') r.repackedPacks++;
      action[p] = 'drop';
      progress('delete', ++done, total);
    }
  };

  // 0. unused orphans and temporary files are in no index: deleting them needs no new index, and frees room for it
  await lock.check();
  for (const p of plan.orphans) {
    if (action[p] !== 'delete') continue;
    await repo.backend.remove('data', repo.index.packId(p));
    r.deletedPacks++;
    r.deletedBytes += plan.size[p];
    action[p] = 'drop';
  }
  for (const name of plan.unreadableOrphans) await repo.backend.remove('data', name);
  // (not locks/: another process may be writing its lock file right now, to find ours and back off)
  for (const type of ['data', 'index', 'snapshots', 'keys'] as const) r.tmpRemoved += await repo.backend.removeTemporary(type);

  // (a dropped orphan needs no index change; a dropped indexed pack, an adopted orphan or a superseded file does)
  const changes = action.some((a, p) => a === 'delete' || a === 'repack' || (a === 'drop' && !plan.orphans.has(p)) || (a === 'keep' && plan.orphans.has(p))) || repo.supersededFiles.size > 0;
  if (!changes && current.length <= CONSOLIDATE_ABOVE) return r;

  // 1. room for the new index at all?
  const f0 = await free();
  if (f0 < indexNeed() + MARGIN) {
    throw new FlashbackError('ERR_DEVICE_FULL', `prune needs about ${mb(indexNeed() + MARGIN)} free to write the new index, and the device has ${mb(f0)}`, {
      hint: 'the repository is consistent (only files no index lists were removed); free a little space on the device (remove other files on it), then run prune again',
    });
  }
  let queue = [...action.keys()].filter((p) => action[p] === 'repack');
  const copies = new Map<number, number>();
  const copyOf = (p: number) => {
    let n = copies.get(p);
    if (n === undefined) {
      n = packOverhead(0);
      plan.table.forEachRef(p, (ref) => {
        if (plan.marked[ref]) n! += repo.index.locationAt(ref).length;
      });
      copies.set(p, n);
    }
    return n;
  };
  const toRepack = queue.length;
  const copyAll = queue.reduce((n, p) => n + copyOf(p), 0);

  // 2. not enough room to copy everything first: free the wholly unused packs before repacking
  if (queue.length && f0 < indexNeed() + copyAll + MARGIN) {
    await commit((p) => action[p] === 'delete' || action[p] === 'drop');
  }
  // 3. repack in batches that fit the free space; commit and delete after each
  let repacked = 0;
  while (queue.length) {
    const budget = (await free()) - indexNeed() - MARGIN;
    const batch: number[] = [];
    let need = 0;
    for (const p of queue) {
      if (need + copyOf(p) > budget) break;
      batch.push(p);
      need += copyOf(p);
    }
    if (batch.length === 0) {
      r.stoppedForSpace = { packs: queue.length, need: copyOf(queue[0]) + indexNeed() + MARGIN, free: await free() };
      for (const p of queue) action[p] = 'keep';
      break;
    }
    queue = queue.slice(batch.length);
    const moved = new Set<number>();
    const sink = new PackSink(repo);
    try {
      for (const p of batch) {
        opts.signal?.throwIfAborted();
        try {
          for (const blob of await readUsedBlobs(repo, plan, p)) await sink.add(blob.entry, blob.sealed);
          moved.add(p);
        } catch (err) {
          if (!(err instanceof DamageError)) throw err;
          r.damaged.push({ pack: repo.index.packId(p), message: err.message });
          action[p] = 'keep'; // left alone; the blobs already copied from it are harmless duplicates
        }
        progress('repack', ++repacked, toRepack);
      }
      await sink.flush();
    } catch (err) {
      await sink.discard();
      throw err;
    }
    newPacks.push(...sink.packs);
    r.newPacks += sink.packs.length;
    r.newBytes += sink.bytes;
    r.copiedBlobs += sink.blobs;
    await commit((p) => moved.has(p) || action[p] === 'delete' || action[p] === 'drop');
  }
  // 4. nothing left to repack (or no room): delete what is unused, if step 1 did not already
  if (r.indexFilesWritten === 0 || action.some((a) => a === 'delete')) {
    await commit((p) => action[p] === 'delete' || action[p] === 'drop');
  }
  return r;
}

/** Reads the used blobs of a pack with as few reads as possible, and verifies each (AEAD tag and keyed id). */
async function readUsedBlobs(repo: Repository, plan: PrunePlan, p: number): Promise<{ entry: PackEntry; sealed: Buffer }[]> {
  const packId = repo.index.packId(p);
  const used: PackEntry[] = [];
  plan.table.forEachRef(p, (ref) => {
    if (!plan.marked[ref]) return;
    const { id, loc } = repo.index.entryAt(ref);
    used.push({ id, type: loc.type, compression: loc.compression, offset: loc.offset, length: loc.length, rawLength: loc.rawLength });
  });
  used.sort((a, b) => a.offset - b.offset);
  const out: { entry: PackEntry; sealed: Buffer }[] = [];
  for (let i = 0; i < used.length; ) {
    let j = i + 1;
    while (j < used.length && used[j].offset - (used[j - 1].offset + used[j - 1].length) <= READ_GAP) j++;
    const from = used[i].offset;
    const to = used[j - 1].offset + used[j - 1].length;
    const bytes = await repo.backend.load('data', packId, { offset: from, length: to - from });
    for (let k = i; k < j; k++) {
      const e = used[k];
      if (e.offset + e.length - from > bytes.length) throw new DamageError(`data/${packId.slice(0, 2)}/${packId}`, `truncated: blob ${e.id.toString('hex')} is cut off`);
      const sealed = bytes.subarray(e.offset - from, e.offset - from + e.length);
      repo.openBlob(sealed, { pack: p, ...e }, e.id, packId);
      out.push({ entry: e, sealed: Buffer.from(sealed) });
    }
    i = j;
  }
  return out;
}

function mb(n: number): string {
  return n === Infinity ? 'unlimited space' : `${(n / 1e6).toFixed(1)} MB`;
}
