/**
 * Typed wrappers around the flashback_native addon (native/flashback.c): extended attributes,
 * nanosecond-exact timestamps, mknod, and user/group name lookups, which Node's fs does not offer.
 * Errors thrown by the addon look like Node's fs errors: `.code` ('ENOENT', 'ENOTSUP', ...), `.errno`
 * (negative, as in Node) and `.syscall`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isErrno } from '../errors/errors.js';
import type { Xattr } from '../model/node.js';

interface Addon {
  llistxattr(path: Buffer): Buffer[];
  lgetxattr(path: Buffer, name: Buffer): Buffer;
  lsetxattr(path: Buffer, name: Buffer, value: Buffer): void;
  utimensat(path: Buffer, aSec: bigint, aNsec: number, mSec: bigint, mNsec: number, noFollow: boolean): void;
  mknod(path: Buffer, mode: number, rdev: bigint): void;
  getpwuid(uid: number): string | undefined;
  getgrgid(gid: number): string | undefined;
  getpwnam(name: string): number | undefined;
  getgrnam(name: string): number | undefined;
}

const ADDON_PATH = ['native', 'build', 'Release', 'flashback_native.node'];
const NS_PER_SEC = 1_000_000_000n;

let loaded: Addon | undefined;

/** The same code runs from src/core/fs (source) and dist/src/core/fs (compiled): find the repo root. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** Loaded on first use so that modules importing this one still load where the addon is not built. */
function addon(): Addon {
  if (loaded === undefined) {
    const path = join(repoRoot(), ...ADDON_PATH);
    try {
      loaded = createRequire(import.meta.url)(path) as Addon;
    } catch (err) {
      throw new Error(`cannot load the native addon ${path} (run "npm run build:native")`, { cause: err });
    }
  }
  return loaded;
}

/**
 * The extended attributes of `path` itself (symlinks are not followed), in the order the kernel lists them.
 * A filesystem without xattr support gives []; an attribute removed between listing and reading is left out.
 */
export function listXattrs(path: Buffer): Xattr[] {
  let names: Buffer[];
  try {
    names = addon().llistxattr(path);
  } catch (err) {
    if (isErrno(err, 'ENOTSUP')) return [];
    throw err;
  }
  const out: Xattr[] = [];
  for (const name of names) {
    try {
      out.push({ name, value: addon().lgetxattr(path, name) });
    } catch (err) {
      if (!isErrno(err, 'ENODATA', 'ENOTSUP')) throw err;
    }
  }
  return out;
}

export function setXattr(path: Buffer, name: Buffer, value: Buffer): void {
  addon().lsetxattr(path, name, value);
}

/** Splits ns since the epoch into seconds and 0..999999999 ns, rounding the seconds down (also below 0). */
export function splitNs(ns: bigint): { sec: bigint; nsec: number } {
  let sec = ns / NS_PER_SEC;
  let rest = ns % NS_PER_SEC;
  if (rest < 0n) {
    sec -= 1n;
    rest += NS_PER_SEC;
  }
  return { sec, nsec: Number(rest) };
}

/** Sets atime and mtime exactly to the nanosecond; with noFollow a symlink's own times are set. */
export function setTimes(path: Buffer, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): void {
  const a = splitNs(atimeNs);
  const m = splitNs(mtimeNs);
  addon().utimensat(path, a.sec, a.nsec, m.sec, m.nsec, noFollow);
}

/** mode includes the file type (S_IFIFO, S_IFCHR, S_IFBLK); rdev is used for devices. */
export function mknod(path: Buffer, mode: number, rdev: bigint): void {
  addon().mknod(path, mode, rdev);
}

const userNames = new Map<number, string>();
const groupNames = new Map<number, string>();
const userIds = new Map<string, number | undefined>();
const groupIds = new Map<string, number | undefined>();

function cached<K, V>(cache: Map<K, V>, key: K, lookup: (key: K) => V, fallback: V): V {
  if (cache.has(key)) return cache.get(key) as V;
  let value: V;
  try {
    value = lookup(key);
  } catch {
    value = fallback; // an NSS failure (e.g. unreachable directory service) is treated as "unknown"
  }
  cache.set(key, value);
  return value;
}

/** The local name of a uid, '' if unknown. */
export function userName(uid: number): string {
  return cached(userNames, uid, (id) => addon().getpwuid(id) ?? '', '');
}

/** The local name of a gid, '' if unknown. */
export function groupName(gid: number): string {
  return cached(groupNames, gid, (id) => addon().getgrgid(id) ?? '', '');
}

/** The local uid of a user name, undefined if unknown. */
export function userId(name: string): number | undefined {
  return name === '' ? undefined : cached(userIds, name, (n) => addon().getpwnam(n), undefined);
}

/** The local gid of a group name, undefined if unknown. */
export function groupId(name: string): number | undefined {
  return name === '' ? undefined : cached(groupIds, name, (n) => addon().getgrnam(n), undefined);
}
