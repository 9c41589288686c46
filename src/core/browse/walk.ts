/** Walking and comparing snapshot trees: the shared machinery of ls, diff and find. */
import type { Node } from '../model/node.js';
import type { Repository } from '../repository/repository.js';

export interface WalkItem {
  path: string;
  node: Node;
}

/** Depth-first, in name order; `recurse(path)` decides whether to descend into a directory. */
export async function* walkTree(repo: Repository, treeId: string, base = '', recurse: (path: string) => boolean = () => true): AsyncGenerator<WalkItem> {
  for (const node of await repo.loadTree(treeId)) {
    const path = `${base}/${node.name.toString()}`;
    yield { path, node };
    if (node.type === 'dir' && node.subtree && recurse(path)) yield* walkTree(repo, node.subtree, path, recurse);
  }
}

export type Change = '+' | '-' | 'M' | 'T' | 'U';

export interface DiffStats {
  added: number;
  removed: number;
  changed: number;
  addedBytes: number;
  removedBytes: number;
}

function sameContent(a: Node, b: Node): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'file') return a.size === b.size && (a.content ?? []).join() === (b.content ?? []).join();
  if (a.type === 'symlink') return !!a.linkTarget && !!b.linkTarget && a.linkTarget.equals(b.linkTarget);
  return true;
}

function sameMeta(a: Node, b: Node): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtime === b.mtime && JSON.stringify(a.xattrs ?? []) === JSON.stringify(b.xattrs ?? []);
}

/** Yields the differences between two trees; identical subtrees (same id) are skipped without loading. */
export async function* diffTrees(repo: Repository, a: string | undefined, b: string | undefined, base: string, stats: DiffStats): AsyncGenerator<{ path: string; change: Change; node: Node }> {
  if (a === b) return;
  const left = new Map((a ? await repo.loadTree(a) : []).map((n) => [n.name.toString('latin1'), n]));
  const right = new Map((b ? await repo.loadTree(b) : []).map((n) => [n.name.toString('latin1'), n]));
  const names = [...new Set([...left.keys(), ...right.keys()])].sort((x, y) => Buffer.compare(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1')));
  for (const name of names) {
    const l = left.get(name);
    const r = right.get(name);
    const path = `${base}/${Buffer.from(name, 'latin1').toString()}`;
    if (l && !r) {
      stats.removed++;
      stats.removedBytes += l.size;
      yield { path, change: '-', node: l };
      if (l.type === 'dir') yield* diffTrees(repo, l.subtree, undefined, path, stats);
    } else if (!l && r) {
      stats.added++;
      stats.addedBytes += r.size;
      yield { path, change: '+', node: r };
      if (r.type === 'dir') yield* diffTrees(repo, undefined, r.subtree, path, stats);
    } else if (l && r) {
      if (l.type !== r.type) {
        stats.changed++;
        yield { path, change: 'T', node: r };
        yield* diffTrees(repo, l.type === 'dir' ? l.subtree : undefined, r.type === 'dir' ? r.subtree : undefined, path, stats);
      } else if (l.type === 'dir') {
        if (!sameMeta(l, r)) yield { path, change: 'U', node: r };
        yield* diffTrees(repo, l.subtree, r.subtree, path, stats);
      } else if (!sameContent(l, r)) {
        stats.changed++;
        yield { path, change: 'M', node: r };
      } else if (!sameMeta(l, r)) yield { path, change: 'U', node: r };
    }
  }
}

/** Shell-style glob → RegExp: * and ? do not cross '/', ** does, [...] classes. */
export function globToRegExp(glob: string, caseInsensitive = false): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += '[' + glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, caseInsensitive ? 'i' : '');
}
