/**
 * copy, the plan (docs/maintenance.md "Copying between devices"): which source snapshots the target lacks,
 * and which of their blobs it lacks, found by walking the snapshots' trees in the source (each tree once).
 * Reads only; the same plan serves --dry-run, --json and the real run.
 */
import { FlashbackError } from '../errors/errors.js';
import type { Snapshot, SnapshotRef } from '../model/snapshot.js';
import type { BlobRef } from '../repository/blob-transfer.js';
import type { Repository } from '../repository/repository.js';

export interface CopyPlan {
  /** source snapshots to copy, oldest first */
  copy: SnapshotRef[];
  /** source snapshots the target already holds: [source id, target id] */
  skipped: { id: string; target: string }[];
  /** source snapshots that reference blobs the source lacks or cannot read: not copied */
  incomplete: { id: string; reason: string }[];
  /** missing blobs grouped by source pack */
  byPack: Map<string, BlobRef[]>;
  blobs: number;
  dataBlobs: number;
  treeBlobs: number;
  /** plaintext bytes of the missing blobs */
  rawBytes: number;
  /** sealed bytes of the missing blobs in the source (about what the target gains) */
  storedBytes: number;
}

/** The fields restic compares to call two snapshots the same (everything but parent, original, summary). */
export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  const set = (x: string[]) => JSON.stringify([...x].sort());
  return a.tree === b.tree && Date.parse(a.time) === Date.parse(b.time) && a.hostname === b.hostname && a.username === b.username && set(a.paths) === set(b.paths) && set(a.tags) === set(b.tags);
}

/** Refuses a pair of repositories that copy or heal cannot join (works on the plain configs). */
export function checkFamily(source: Pick<Repository, 'config' | 'location'>, target: Pick<Repository, 'config' | 'location'>): void {
  if (source.config.id === target.config.id) {
    throw new FlashbackError('ERR_INVALID', `${source.location} and ${target.location} are the same repository (id ${target.config.id.slice(0, 10)})`, {
      hint: 'give another device as --from-repo (the same stick may be mounted at two paths)',
    });
  }
  if (source.config.family !== target.config.family) {
    throw new FlashbackError('ERR_INVALID', `${source.location} and ${target.location} are not of one family: their blob ids differ, so nothing can be copied blob by blob`, {
      hint: 'create the target with "flashback init --copy-secrets-from SOURCE" and copy into that',
    });
  }
  // init --copy-secrets-from takes the family's id function too; only a config edited by hand can differ
  if (source.config.blobId !== target.config.blobId) {
    throw new FlashbackError('ERR_INVALID', `${source.location} names blobs with ${source.config.blobId} and ${target.location} with ${target.config.blobId}: nothing can be copied blob by blob`, {
      hint: 'create the target with "flashback init --copy-secrets-from SOURCE" and copy into that',
    });
  }
}

export interface PlanOptions {
  signal?: AbortSignal;
  onTree?: () => void;
}

/** Both indexes must be loaded (and the target's orphan packs indexed in memory). */
export async function planCopy(source: Repository, target: Repository, chosen: SnapshotRef[], targetSnapshots: SnapshotRef[], opts: PlanOptions = {}): Promise<CopyPlan> {
  const plan: CopyPlan = { copy: [], skipped: [], incomplete: [], byPack: new Map(), blobs: 0, dataBlobs: 0, treeBlobs: 0, rawBytes: 0, storedBytes: 0 };
  /** tree id → why it cannot be copied completely ('' when it can) */
  const trees = new Map<string, string>();
  const wanted = new Set<string>();

  const want = (id: string): string => {
    if (wanted.has(id) || target.index.has(Buffer.from(id, 'hex'))) return '';
    const found = source.lookup(id);
    if (!found) return `blob ${id} is not in the source's index (lost data)`;
    const { loc, packId } = found;
    wanted.add(id);
    const list = plan.byPack.get(packId) ?? plan.byPack.set(packId, []).get(packId)!;
    list.push({ id: Buffer.from(id, 'hex'), type: loc.type, compression: loc.compression, offset: loc.offset, length: loc.length, rawLength: loc.rawLength });
    plan.blobs++;
    if (loc.type === 0) plan.dataBlobs++;
    else plan.treeBlobs++;
    plan.rawBytes += loc.rawLength;
    plan.storedBytes += loc.length;
    return '';
  };

  const walk = async (treeId: string): Promise<string> => {
    const known = trees.get(treeId);
    if (known !== undefined) return known;
    opts.signal?.throwIfAborted();
    trees.set(treeId, ''); // a tree cannot contain itself; set early so that a malicious cycle ends
    let problem = want(treeId);
    if (!problem) {
      try {
        for (const node of await source.loadTree(treeId)) {
          let p = '';
          if (node.type === 'file') for (const id of node.content ?? []) p ||= want(id);
          else if (node.type === 'dir' && node.subtree) p = await walk(node.subtree);
          problem ||= p;
        }
      } catch (err) {
        if (!(err instanceof FlashbackError) || err.code !== 'ERR_DAMAGED') throw err;
        problem = err.message;
      }
    }
    opts.onTree?.();
    trees.set(treeId, problem);
    return problem;
  };

  for (const ref of chosen) {
    const twin = targetSnapshots.find((t) => sameSnapshot(t.snapshot, ref.snapshot));
    if (twin) {
      plan.skipped.push({ id: ref.id, target: twin.id });
      continue;
    }
    const problem = await walk(ref.snapshot.tree);
    if (problem) plan.incomplete.push({ id: ref.id, reason: problem });
    else plan.copy.push(ref);
  }
  return plan;
}
