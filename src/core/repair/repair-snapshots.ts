/**
 * repair snapshots: rewrite snapshots whose data is partly lost so that everything else stays restorable, and
 * say exactly what was lost. A blob is lost when the index does not list it (after "repair packs" or a lost
 * pack) or when the scrub records name it damaged. In the rewritten trees:
 * - a file with lost data keeps its name and metadata, loses its content and gets `error` set (design.md §10),
 *   so `ls` still shows it and `restore` reports it instead of writing a wrong file; with `drop`, it is removed;
 * - a directory whose tree is lost becomes an empty directory with `error` set.
 * The repaired snapshot is saved as a new snapshot tagged "repaired"; the original stays unless `forget`.
 */
import { encodeTree } from '../model/tree.js';
import type { Node } from '../model/node.js';
import type { SnapshotRef } from '../model/snapshot.js';
import { BlobWriter } from '../repository/blob-writer.js';
import type { Repository } from '../repository/repository.js';
import { loadScrubState } from '../repository/scrub-records.js';

export interface RepairSnapshotsOptions {
  /** remove files with lost data instead of marking them */
  drop?: boolean;
  /** remove the original snapshot once the repaired one is saved */
  forget?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  now?: number;
}

export interface SnapshotRepair {
  id: string;
  /** the repaired snapshot (undefined in a dry run or when nothing was lost) */
  newId?: string;
  files: string[];
  dirs: string[];
}

export async function repairSnapshots(repo: Repository, snapshots: SnapshotRef[], opts: RepairSnapshotsOptions = {}): Promise<SnapshotRepair[]> {
  await repo.loadIndex();
  const damaged = new Set<string>();
  // a blob named by a damage record is lost only while the index still places it in that pack: once healed or
  // stored again elsewhere (heal, a backup after repair packs) it is intact
  for (const [packId, v] of (await loadScrubState(repo, opts.now ?? Date.now())).packs) {
    if (v.verdict === 'damaged') for (const b of v.blobs ?? []) if (repo.lookup(b)?.packId === packId) damaged.add(b);
  }
  const lost = (id: string) => damaged.has(id) || !repo.index.has(Buffer.from(id, 'hex'));
  const writer = new BlobWriter(repo);
  /** tree id → rewritten tree id (same id when nothing below it was lost) and the losses below it */
  const memo = new Map<string, { id: string; files: string[]; dirs: string[] }>();
  const emptyTree = async () => (opts.dryRun ? '0'.repeat(64) : writer.addTree(encodeTree([])));

  const rewrite = async (treeId: string, path: string): Promise<{ id: string; files: string[]; dirs: string[] } | undefined> => {
    opts.signal?.throwIfAborted();
    const known = memo.get(treeId);
    if (known) return { id: known.id, files: known.files.map((f) => path + f), dirs: known.dirs.map((d) => path + d) };
    let nodes: Node[];
    try {
      if (lost(treeId)) return undefined;
      nodes = await repo.loadTree(treeId);
    } catch {
      return undefined;
    }
    const out: Node[] = [];
    const files: string[] = [];
    const dirs: string[] = [];
    let changed = false;
    for (const node of nodes) {
      const name = `/${node.name.toString()}`;
      if (node.type === 'file' && node.content?.some(lost)) {
        changed = true;
        files.push(name);
        const missing = node.content.filter(lost).length;
        if (!opts.drop) out.push({ ...node, content: [], error: `data lost: ${missing} of ${node.content.length} blob(s) missing or damaged (repair snapshots)` });
        continue;
      }
      if (node.type === 'dir' && node.subtree) {
        const sub = await rewrite(node.subtree, '');
        if (!sub) {
          changed = true;
          dirs.push(name);
          out.push({ ...node, subtree: await emptyTree(), error: 'directory contents lost (repair snapshots)' });
          continue;
        }
        files.push(...sub.files.map((f) => name + f));
        dirs.push(...sub.dirs.map((d) => name + d));
        if (sub.id !== node.subtree) {
          changed = true;
          out.push({ ...node, subtree: sub.id });
          continue;
        }
      }
      out.push(node);
    }
    const id = !changed ? treeId : opts.dryRun ? treeId + '~' : await writer.addTree(encodeTree(out));
    memo.set(treeId, { id, files, dirs });
    return { id, files: files.map((f) => path + f), dirs: dirs.map((d) => path + d) };
  };

  const results: SnapshotRepair[] = [];
  try {
    for (const ref of snapshots) {
      const root = await rewrite(ref.snapshot.tree, '');
      const rep: SnapshotRepair = { id: ref.id, files: root?.files ?? [], dirs: root ? root.dirs : ['/'] };
      if (root && root.id === ref.snapshot.tree) continue; // intact
      results.push(rep);
      if (opts.dryRun) continue;
      const tree = root ? root.id : await emptyTree();
      await writer.flush();
      const tags = ref.snapshot.tags.includes('repaired') ? ref.snapshot.tags : [...ref.snapshot.tags, 'repaired'];
      rep.newId = await repo.snapshots.save({ ...ref.snapshot, tree, tags, original: ref.id });
      if (opts.forget) await repo.backend.remove('snapshots', ref.id);
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return results;
}
