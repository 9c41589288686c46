/**
 * Prune, step 1: the plan (docs/maintenance.md "Prune"). Pure reading: marks every blob that a snapshot
 * references, sizes every pack, and decides which packs to keep, delete or repack. Nothing is written, so
 * `--dry-run` shows exactly what `prune` then does.
 */
import { FlashbackError } from '../errors/errors.js';
import type { Repository } from '../repository/repository.js';
import { ENTRY_BYTES } from '../pack/format.js';
import { SEAL_OVERHEAD } from '../crypto/crypto.js';
import { PackTable } from '../index/pack-table.js';

export interface PruneOptions {
  /** tolerated unused bytes after prune: a fraction of the repository (0.05 = 5 %), or an absolute byte count */
  maxUnused?: { fraction: number } | { bytes: number };
  /** repack at most this many bytes of packs in one run */
  maxRepackBytes?: number;
  /** plan as if these snapshots were gone (forget --dry-run --prune) */
  ignoreSnapshots?: Set<string>;
  signal?: AbortSignal;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export type PackAction = 'keep' | 'delete' | 'repack' | 'drop';

/** Bytes a pack needs beyond its blobs: the sealed header (version, count, entries) and its length. */
export function packOverhead(blobs: number): number {
  return SEAL_OVERHEAD + 5 + ENTRY_BYTES * blobs + 4;
}

export interface PrunePlan {
  snapshots: number;
  usedBlobs: number;
  usedBytes: number;
  packs: { total: number; keep: number; delete: number; repack: number; orphans: number; missing: number };
  bytes: { total: number; delete: number; repack: number; copy: number; unusedBefore: number; unusedAfter: number; freed: number };
  /** pack numbers (in repo.index) by action; orphans were adopted into the in-memory index */
  action: PackAction[];
  /** pack file sizes by pack number (0 when missing) */
  size: Float64Array;
  /** marks by index ordinal: 1 when a snapshot references the blob */
  marked: Uint8Array;
  /** index entries grouped by pack number */
  table: PackTable;
  /** pack numbers of orphans (packs no index file lists; adopted into the in-memory index by the plan) */
  orphans: Set<number>;
  /** packs that exist but whose header cannot be read and that no index lists: deleted */
  unreadableOrphans: string[];
  /** index files in force when the plan was made (the new index supersedes them) */
  indexFiles: string[];
}

/** Marks the trees and data blobs reachable from the roots. Returns the ids referenced but not in the index. */
async function mark(repo: Repository, roots: string[], marked: Uint8Array, signal?: AbortSignal, onTree?: () => void): Promise<string[]> {
  const missing = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    signal?.throwIfAborted();
    const tree = stack.pop()!;
    const o = repo.index.ordinal(Buffer.from(tree, 'hex'));
    if (o < 0) {
      missing.add(tree);
      continue;
    }
    if (marked[o]) continue;
    marked[o] = 1;
    onTree?.();
    for (const node of await repo.loadTree(tree)) {
      if (node.subtree) stack.push(node.subtree);
      for (const c of node.content ?? []) {
        const d = repo.index.ordinal(Buffer.from(c, 'hex'));
        if (d < 0) missing.add(c);
        else marked[d] = 1;
      }
    }
  }
  return [...missing];
}

export async function planPrune(repo: Repository, opts: PruneOptions = {}): Promise<PrunePlan> {
  await repo.loadIndex();
  const indexFiles = [...repo.indexFiles];
  const all = await repo.snapshots.list((file, err) => {
    throw new FlashbackError('ERR_DAMAGED', `${file} cannot be read (${err.message}); prune would lose track of the data it references`, {
      hint: 'remove it with "flashback forget ID" if it is unwanted, or run "flashback check" first',
      cause: err,
    });
  });

  const snaps = all.filter((s) => !opts.ignoreSnapshots?.has(s.id));

  // packs on the device; orphans (in no index) are read and adopted, so that their blobs count
  const onDisk = new Map<string, number>();
  for await (const f of repo.backend.list('data')) onDisk.set(f.name, f.size);
  const unreadableOrphans: string[] = [];
  const orphanSet = new Set<number>();
  for (const [name] of onDisk) {
    if (repo.index.findPack(name) !== undefined) continue;
    try {
      repo.addPackToIndex(name, await repo.readPackHeader(name, onDisk.get(name)));
      orphanSet.add(repo.index.findPack(name)!);
    } catch {
      unreadableOrphans.push(name);
    }
  }

  const marked = new Uint8Array(repo.index.size);
  let trees = 0;
  const missing = await mark(repo, snaps.map((s) => s.snapshot.tree), marked, opts.signal, () => opts.onProgress?.('mark', ++trees, 0));
  if (missing.length) {
    throw new FlashbackError('ERR_DAMAGED', `${missing.length} blob(s) that snapshots reference are not in the index (e.g. ${missing[0]}); prune stops before deleting anything`, {
      hint: 'run "flashback repair index" (an index file may be lost), then "flashback check"; "flashback repair snapshots" drops what is really lost',
    });
  }

  // size the used part of every pack
  const np = repo.index.packCount;
  const used = new Float64Array(np);
  const usedCount = new Uint32Array(np);
  let usedBytes = 0;
  let usedBlobs = 0;
  repo.index.forEachEntry((o, loc) => {
    if (marked[o]) {
      used[loc.pack] += loc.length;
      usedCount[loc.pack]++;
      usedBytes += loc.length;
      usedBlobs++;
    }
  });
  const size = new Float64Array(np);
  const action: PackAction[] = new Array(np);
  const unused = new Float64Array(np);
  let total = 0;
  let missingPacks = 0;
  const lost: string[] = [];
  for (let p = 0; p < np; p++) {
    const id = repo.index.packId(p);
    const s = onDisk.get(id);
    if (s === undefined) {
      missingPacks++;
      if (usedCount[p]) lost.push(id);
      action[p] = 'drop';
      continue;
    }
    size[p] = s;
    total += s;
    unused[p] = Math.max(0, s - used[p] - packOverhead(usedCount[p]));
    action[p] = usedCount[p] === 0 ? 'delete' : 'keep';
  }
  if (lost.length) {
    throw new FlashbackError('ERR_DAMAGED', `${lost.length} pack(s) that snapshots need are missing from the device (e.g. data/${lost[0].slice(0, 2)}/${lost[0]}); prune stops before deleting anything`, {
      hint: 'run "flashback check" to see what is affected, then "flashback repair snapshots"',
    });
  }

  // repack the packs with the most unused space first, until what stays unused is within the tolerance
  const candidates = [...Array(np).keys()].filter((p) => action[p] === 'keep' && unused[p] > 0).sort((a, b) => unused[b] / size[b] - unused[a] / size[a] || a - b);
  let unusedAfter = candidates.reduce((n, p) => n + unused[p], 0);
  const m = opts.maxUnused ?? { fraction: 0.05 };
  const allowed = 'bytes' in m ? m.bytes : m.fraction >= 1 ? Infinity : (m.fraction / (1 - m.fraction)) * usedBytes;
  let repackBytes = 0;
  let copy = 0;
  for (const p of candidates) {
    if (unusedAfter <= allowed) break;
    if (opts.maxRepackBytes !== undefined && repackBytes + size[p] > opts.maxRepackBytes) continue;
    action[p] = 'repack';
    repackBytes += size[p];
    copy += used[p];
    unusedAfter -= unused[p];
  }

  let del = 0;
  let delBytes = 0;
  let keep = 0;
  let repack = 0;
  let unusedBefore = 0;
  for (let p = 0; p < np; p++) {
    if (action[p] === 'drop') continue;
    unusedBefore += action[p] === 'delete' ? size[p] : unused[p];
    if (action[p] === 'delete') {
      del++;
      delBytes += size[p];
    } else if (action[p] === 'repack') repack++;
    else keep++;
  }
  for (const name of unreadableOrphans) delBytes += onDisk.get(name)!;
  return {
    snapshots: snaps.length,
    usedBlobs,
    usedBytes,
    packs: { total: onDisk.size, keep, delete: del + unreadableOrphans.length, repack, orphans: orphanSet.size + unreadableOrphans.length, missing: missingPacks },
    bytes: { total, delete: delBytes, repack: repackBytes, copy, unusedBefore, unusedAfter, freed: delBytes + repackBytes - copy },
    action,
    size,
    marked,
    table: new PackTable(repo.index),
    orphans: orphanSet,
    unreadableOrphans,
    indexFiles,
  };
}
