/** Small pieces of the backup walk: paths as bytes, pending entries, cache-directory tags. */
import { readFileSync, type BigIntStats } from 'node:fs';
import { FlashbackError } from '../errors/errors.js';
import type { Node } from '../model/node.js';

export const SLASH = Buffer.from('/');
export const CACHEDIR_TAG = Buffer.from('CACHEDIR.TAG');
const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

export function join(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f ? Buffer.concat([dir, name]) : Buffer.concat([dir, SLASH, name]);
}

export function interrupted(): FlashbackError {
  return new FlashbackError('ERR_INTERRUPTED', 'backup interrupted; the data written so far is saved and indexed', {
    hint: 'rerun the backup: it reuses what was already written',
  });
}

/** An entry whose walk is done; `done` resolves when its content (or subtree) is stored. */
export interface Pending {
  done: Promise<Node | undefined>;
}

export function ready(n: Node | undefined): Pending {
  return { done: Promise.resolve(n) };
}

/** Marks the promise handled now (it is awaited later, with its siblings) so an early failure is not "unhandled". */
export function pending(done: Promise<Node | undefined>): Pending {
  done.catch(() => undefined);
  return { done };
}

/** A directory entry found by the walk (after exclusions). */
export interface Entry {
  name: Buffer;
  path: Buffer;
  st: BigIntStats;
}

/** An entry of a listed directory; its path is only joined when asked for (most entries of a no-change backup never are). */
export class ListedEntry implements Entry {
  private joined?: Buffer;
  constructor(
    private readonly dir: Buffer,
    readonly name: Buffer,
    readonly st: BigIntStats,
  ) {}
  get path(): Buffer {
    return (this.joined ??= join(this.dir, this.name));
  }
}

/** Over a directory's entries that are not directories: how many, how many regular files, their bytes. */
export interface Totals {
  others: number;
  files: number;
  bytes: number;
}

export function nonDirTotals(entries: Entry[]): Totals {
  const t: Totals = { others: 0, files: 0, bytes: 0 };
  for (const e of entries) {
    if (e.st.isDirectory()) continue;
    t.others++;
    if (e.st.isFile()) {
      t.files++;
      t.bytes += Number(e.st.size);
    }
  }
  return t;
}

/** What a walk carries down: directories on the current path (symlink loop detection) and the source's device. */
export interface Walk {
  ancestors: Set<string>;
  dev: bigint;
}

export function byName(nodes: Node[] | undefined): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of nodes ?? []) m.set(n.name.toString('latin1'), n);
  return m;
}

export function present(nodes: (Node | undefined)[]): Node[] {
  return nodes.filter((n): n is Node => n !== undefined);
}

export function isCacheDir(dir: Buffer): boolean {
  try {
    return readFileSync(join(dir, CACHEDIR_TAG)).subarray(0, CACHEDIR_SIGNATURE.length).toString() === CACHEDIR_SIGNATURE;
  } catch {
    return false;
  }
}


/** The entry is the one recorded: same inode, size, mtime and ctime (a ctime change covers mode, owner, xattrs). */
export function sameInode(old: Node, st: BigIntStats): boolean {
  return old.inode === st.ino && old.size === Number(st.isDirectory() ? old.size : st.size) && old.mtime === st.mtimeNs && old.ctime === st.ctimeNs;
}

/** Whether two nodes serialise identically (so a tree of such nodes is the old tree). */
export function sameNode(a: Node, b: Node | undefined): boolean {
  if (!b) return false;
  if (a === b) return true;
  return (
    a.type === b.type && a.name.equals(b.name) && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.user === b.user &&
    a.group === b.group && a.mtime === b.mtime && a.atime === b.atime && a.ctime === b.ctime && a.size === b.size &&
    a.inode === b.inode && a.deviceId === b.deviceId && a.links === b.links && a.rdev === b.rdev && a.subtree === b.subtree &&
    a.error === b.error && eqBuf(a.linkTarget, b.linkTarget) && eqList(a.content, b.content) &&
    (a.xattrs ?? []).length === (b.xattrs ?? []).length &&
    (a.xattrs ?? []).every((x, i) => x.name.equals(b.xattrs![i].name) && x.value.equals(b.xattrs![i].value))
  );
}

function eqBuf(a?: Buffer, b?: Buffer): boolean {
  return a === b || (!!a && !!b && a.equals(b));
}

function eqList(a?: string[], b?: string[]): boolean {
  return a === b || (!!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]));
}
