/** Source paths → a trie of absolute path components, so the root tree mirrors absolute paths (design.md §11). */
import { resolve, sep } from 'node:path';

export interface SourceTrie {
  children: Map<string, SourceTrie>;
  /** this path itself was named as a source: back it up whole */
  source: boolean;
}

export function normalizeSources(paths: string[]): string[] {
  const abs = [...new Set(paths.map((p) => resolve(p)))].sort();
  // a source inside another source adds nothing
  return abs.filter((p) => !abs.some((q) => q !== p && (q === sep || p.startsWith(q + sep))));
}

export function buildTrie(paths: string[]): SourceTrie {
  const root: SourceTrie = { children: new Map(), source: false };
  for (const p of paths) {
    if (p === sep) {
      root.source = true;
      continue;
    }
    let t = root;
    for (const part of p.split(sep).filter(Boolean)) {
      let c = t.children.get(part);
      if (!c) t.children.set(part, (c = { children: new Map(), source: false }));
      t = c;
    }
    t.source = true;
  }
  return root;
}

/** The sources in the order the backup walks them (Archiver.saveVirtual: children sorted, depth first). */
export function sourceOrder(trie: SourceTrie, path: string = sep): string[] {
  if (trie.source && path === sep) return [sep];
  const out: string[] = [];
  for (const [name, child] of [...trie.children].sort()) {
    const p = path === sep ? sep + name : path + sep + name;
    if (child.source) out.push(p);
    else out.push(...sourceOrder(child, p));
  }
  return out;
}
