/**
 * Restore plan: walks the snapshot's trees from the chosen sub-path and yields what to create, in order.
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

export interface PlanTotals {
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

/**
 * The plan as a stream: calls `visit` for each entry in tree order (a directory before its children), holding one
 * tree per level of depth, so that a restore keeps a bounded batch of entries rather than every node of the
 * snapshot. When `visit` returns a promise, the walk waits for it (backpressure).
 */
export async function walkPlan(repo: Repository, treeId: string, opts: PlanOptions, visit: (e: PlanEntry) => void | Promise<void>): Promise<void> {
  const base = (opts.subpath ?? '/').split('/').filter((p) => p && p !== '.');
  const { node, tree } = await resolvePath(repo, treeId, opts.subpath ?? '/');
  const basePath = '/' + base.join('/');
  if (node && node.type !== 'dir') {
    const e: PlanEntry = { rel: [node.name], snapPath: basePath, node, depth: 0 };
    if (admit(e, opts, false) !== 'skip') await visit(e);
    return;
  }
  await walk(repo, tree, [], basePath === '/' ? '' : basePath, 0, opts, false, [], visit);
}

/** Counts what `walkPlan` visits (same filters), for progress totals; keeps nothing. */
export async function planTotals(repo: Repository, treeId: string, opts: PlanOptions): Promise<PlanTotals> {
  const t: PlanTotals = { files: 0, bytes: 0 };
  await walkPlan(repo, treeId, opts, (e) => {
    if (e.node.type !== 'file') return;
    t.files++;
    t.bytes += e.node.size;
  });
  return t;
}

/** 'yes': restore it; 'maybe': a directory restored only if something inside it is (--include); 'skip'. */
function admit(e: PlanEntry, opts: PlanOptions, ancestorIncluded: boolean): 'yes' | 'maybe' | 'skip' {
  const isDir = e.node.type === 'dir';
  if (opts.exclude?.excluded(Buffer.from(e.snapPath), isDir)) return 'skip';
  if (!opts.include || ancestorIncluded || opts.include.excluded(Buffer.from(e.snapPath), isDir)) return 'yes';
  return isDir ? 'maybe' : 'skip';
}

/**
 * `held`: directories admitted as 'maybe' on the current path and not yet visited; they are visited (outermost
 * first) just before the first entry found inside them, and never when nothing inside them is restored.
 */
async function walk(
  repo: Repository,
  nodes: Node[],
  rel: Buffer[],
  snapDir: string,
  depth: number,
  opts: PlanOptions,
  ancestorIncluded: boolean,
  held: PlanEntry[],
  visit: (e: PlanEntry) => void | Promise<void>,
): Promise<void> {
  for (const node of nodes) {
    const snapPath = `${snapDir}/${node.name.toString()}`;
    const entry: PlanEntry = { rel: [...rel, node.name], snapPath, node, depth };
    const verdict = admit(entry, opts, ancestorIncluded);
    if (verdict === 'skip') continue;
    if (verdict === 'yes') {
      for (const h of held.splice(0)) await visit(h);
      const wait = visit(entry);
      if (wait) await wait; // most entries return nothing: no microtask per entry
    } else held.push(entry);
    if (node.type === 'dir' && node.subtree) await walk(repo, await repo.loadTree(node.subtree), entry.rel, snapPath, depth + 1, opts, verdict === 'yes', held, visit);
    if (held[held.length - 1] === entry) held.pop();
  }
}

export function relPath(target: Buffer, rel: Buffer[]): Buffer {
  const parts: Buffer[] = [target];
  for (const r of rel) parts.push(SLASH, r);
  return Buffer.concat(parts);
}
