/**
 * Restore plan: walks the snapshot's trees from the chosen sub-path and lists what to create, in order.
 * Names come from authenticated trees but are still treated as untrusted (model/tree.ts refuses unsafe ones).
 */
import { FlashbackError } from '../errors/errors.js';
import type { Node } from '../model/node.js';
import type { Repository } from '../repository/repository.js';
import type { Excluder } from '../source/exclude.js';

export interface PlanEntry {
  /** path relative to the target, as components */
  rel: Buffer[];
  /** path inside the snapshot, for filters and messages */
  snapPath: string;
  node: Node;
  depth: number;
}

export interface RestorePlan {
  entries: PlanEntry[];
  files: number;
  bytes: number;
}

export interface PlanOptions {
  subpath?: string;
  include?: Excluder;
  exclude?: Excluder;
}

const SLASH = Buffer.from('/');

export async function resolvePath(repo: Repository, treeId: string, subpath: string): Promise<{ node?: Node; tree: Node[] }> {
  let tree = await repo.loadTree(treeId);
  let node: Node | undefined;
  for (const part of subpath.split('/').filter((p) => p && p !== '.')) {
    node = tree.find((n) => n.name.equals(Buffer.from(part)));
    if (!node) throw new FlashbackError('ERR_NOT_FOUND', `path ${subpath} is not in the snapshot`, { hint: 'list it with "flashback ls SNAPSHOT"' });
    tree = node.type === 'dir' && node.subtree ? await repo.loadTree(node.subtree) : [];
  }
  return { node, tree };
}

export async function planRestore(repo: Repository, treeId: string, opts: PlanOptions): Promise<RestorePlan> {
  const plan: RestorePlan = { entries: [], files: 0, bytes: 0 };
  const base = (opts.subpath ?? '/').split('/').filter((p) => p && p !== '.');
  const { node, tree } = await resolvePath(repo, treeId, opts.subpath ?? '/');
  const basePath = '/' + base.join('/');
  if (node && node.type !== 'dir') {
    add(plan, { rel: [node.name], snapPath: basePath, node, depth: 0 }, opts, false);
    return plan;
  }
  await walk(repo, tree, [], basePath === '/' ? '' : basePath, 0, plan, opts, false);
  return plan;
}

function add(plan: RestorePlan, e: PlanEntry, opts: PlanOptions, ancestorIncluded: boolean): boolean {
  const isDir = e.node.type === 'dir';
  if (opts.exclude?.excluded(Buffer.from(e.snapPath), isDir)) return false;
  const included = !opts.include || ancestorIncluded || opts.include.excluded(Buffer.from(e.snapPath), isDir);
  if (!included && !isDir) return false;
  plan.entries.push(e);
  if (e.node.type === 'file') {
    plan.files++;
    plan.bytes += e.node.size;
  }
  return included;
}

async function walk(repo: Repository, nodes: Node[], rel: Buffer[], snapDir: string, depth: number, plan: RestorePlan, opts: PlanOptions, ancestorIncluded: boolean): Promise<void> {
  for (const node of nodes) {
    const snapPath = `${snapDir}/${node.name.toString()}`;
    const entry: PlanEntry = { rel: [...rel, node.name], snapPath, node, depth };
    const at = plan.entries.length;
    if (!add(plan, entry, opts, ancestorIncluded) && node.type !== 'dir') continue;
    if (node.type === 'dir' && plan.entries[at] === entry) {
      const included = !opts.include || ancestorIncluded || opts.include.excluded(Buffer.from(snapPath), true);
      const before = plan.entries.length;
      if (node.subtree) await walk(repo, await repo.loadTree(node.subtree), entry.rel, snapPath, depth + 1, plan, opts, included);
      // with --include, a directory is only created when something inside it is restored
      if (!included && plan.entries.length === before) plan.entries.splice(at, 1);
    }
  }
}

export function relPath(target: Buffer, rel: Buffer[]): Buffer {
  const parts: Buffer[] = [target];
  for (const r of rel) parts.push(SLASH, r);
  return Buffer.concat(parts);
}
