/**
 * copy, the execution: missing blobs are read from the source (coalesced, verified), re-sealed for the target
 * and written through its BlobWriter (packs, index checkpoints, final index); only then are the snapshots saved.
 * Order packs → index → snapshot (design.md §14): an interrupted copy leaves orphans the next run adopts.
 */
import { FlashbackError } from '../errors/errors.js';
import type { SnapshotRef } from '../model/snapshot.js';
import { BlobWriter, findOrphanPacks } from '../repository/blob-writer.js';
import { transferBlobs } from '../repository/blob-transfer.js';
import type { Repository } from '../repository/repository.js';
import type { CopyPlan } from './plan.js';

export interface CopyState {
  blobs: number;
  totalBlobs: number;
  bytes: number;
  totalBytes: number;
}

export interface CopyResult {
  /** [source id, new target id] */
  copied: { id: string; target: string }[];
  /** snapshots not saved because a blob they reference failed verification in the source */
  notCopied: { id: string; reason: string }[];
  damaged: { blob: string; message: string }[];
  blobs: number;
  dataBlobs: number;
  treeBlobs: number;
  rawBytes: number;
  storedBytes: number;
  bytesRead: number;
  packs: number;
  interrupted: boolean;
}

/**
 * Indexes the target's orphan packs (left by an interrupted copy or backup). With `write`, one index file is
 * written for them, as backup does; otherwise (dry run) they are only added in memory.
 */
export async function adoptOrphans(target: Repository, write: boolean): Promise<number> {
  const orphans = await findOrphanPacks(target);
  if (write) await new BlobWriter(target).adopt(orphans);
  else for (const p of orphans) target.addPackToIndex(p.packId, p.entries);
  return orphans.length;
}

export async function executeCopy(source: Repository, target: Repository, plan: CopyPlan, state: CopyState, signal?: AbortSignal): Promise<CopyResult> {
  const writer = new BlobWriter(target);
  const damaged = new Map<string, string>();
  let bytesRead = 0;
  state.totalBlobs = plan.blobs;
  state.totalBytes = plan.storedBytes;
  let interrupted = false;
  try {
    await transferBlobs(source, target, plan.byPack, {
      signal,
      onRead: (n) => (bytesRead += n),
      onDamage: (id, err) => damaged.set(id, err.message),
      onBlob: async (b, stored) => {
        await writer.add(b.type, b.id, b.sealed, b.compression, b.rawLength);
        state.blobs++;
        state.bytes += stored;
      },
    });
  } catch (err) {
    if (!signal?.aborted) {
      await writer.abort();
      throw err;
    }
    interrupted = true;
  }
  // what is packed gets indexed, also when interrupted: the rerun sends only what is still missing
  await writer.flush();
  const result: CopyResult = {
    copied: [],
    notCopied: [],
    damaged: [...damaged].map(([blob, message]) => ({ blob, message })),
    blobs: writer.stats.blobs,
    dataBlobs: writer.stats.dataBlobs,
    treeBlobs: writer.stats.treeBlobs,
    rawBytes: writer.stats.rawBytes,
    storedBytes: writer.stats.packedBytes,
    bytesRead,
    packs: writer.stats.packs,
    interrupted,
  };
  if (interrupted) return result;
  const broken = damaged.size ? await snapshotsReferencing(source, plan.copy, new Set(damaged.keys())) : new Map<string, string>();
  for (const ref of plan.copy) {
    const blob = broken.get(ref.id);
    if (blob) {
      result.notCopied.push({ id: ref.id, reason: `blob ${blob} is damaged in the source` });
      continue;
    }
    result.copied.push({ id: ref.id, target: await target.snapshots.save(ref.snapshot) });
  }
  return result;
}

/** For each snapshot that references one of `ids` (a tree or data blob), one such id. */
async function snapshotsReferencing(repo: Repository, refs: SnapshotRef[], ids: Set<string>): Promise<Map<string, string>> {
  const memo = new Map<string, string>();
  const walk = async (treeId: string): Promise<string> => {
    const known = memo.get(treeId);
    if (known !== undefined) return known;
    memo.set(treeId, '');
    let hit = ids.has(treeId) ? treeId : '';
    if (!hit) {
      try {
        for (const node of await repo.loadTree(treeId)) {
          if (node.type === 'file') hit ||= node.content?.find((id) => ids.has(id)) ?? '';
          else if (node.type === 'dir' && node.subtree) hit ||= await walk(node.subtree);
          if (hit) break;
        }
      } catch (err) {
        if (!(err instanceof FlashbackError) || err.code !== 'ERR_DAMAGED') throw err;
        hit = treeId;
      }
    }
    memo.set(treeId, hit);
    return hit;
  };
  const out = new Map<string, string>();
  for (const ref of refs) {
    const hit = await walk(ref.snapshot.tree);
    if (hit) out.set(ref.id, hit);
  }
  return out;
}
