/**
 * Typed wrappers around the flashback_native addon (native/flashback.c): extended attributes,
 * nanosecond-exact timestamps, mknod, and user/group name lookups, which Node's fs does not offer.
 * Errors thrown by the addon look like Node's fs errors: `.code` ('ENOENT', 'ENOTSUP', ...), `.errno`
 * (negative, as in Node) and `.syscall`.
 */
import type { BigIntStats } from 'node:fs';
import { constants } from 'node:os';
import { isErrno } from '../errors/errors.js';
import type { Xattr } from '../model/node.js';
import { addon } from '../util/addon.js';

const NS_PER_SEC = 1_000_000_000n;

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

const S_IFMT = 0o170000n;
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The fields of BigIntStats that the backup walk and node capture use, from lstatdir's numbers. */
class DirEntryStats {
  constructor(
    readonly dev: bigint,
    readonly ino: bigint,
    readonly mode: bigint,
    readonly nlink: bigint,
    readonly uid: bigint,
    readonly gid: bigint,
    readonly rdev: bigint,
    readonly size: bigint,
    readonly blocks: bigint,
    readonly atimeNs: bigint,
    readonly mtimeNs: bigint,
    readonly ctimeNs: bigint,
  ) {}
  isFile(): boolean {
    return (this.mode & S_IFMT) === 0o100000n;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === 0o040000n;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === 0o120000n;
  }
  isFIFO(): boolean {
    return (this.mode & S_IFMT) === 0o010000n;
  }
  isSocket(): boolean {
    return (this.mode & S_IFMT) === 0o140000n;
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === 0o020000n;
  }
  isBlockDevice(): boolean {
    return (this.mode & S_IFMT) === 0o060000n;
  }
}

export interface DirEntryStat {
  name: Buffer;
  /** lstat of the entry; undefined when it failed (error says why: vanished, permission) */
  st?: BigIntStats;
  error?: NodeJS.ErrnoException;
}

/**
 * readdir + lstat of every entry in one native call (the walk of a no-change backup is mostly this). The stats
 * carry the fields of BigIntStats that the walk and readNode use (ids, mode, sizes, times in ns, isX()),
 * not the Date properties.
 */
export function lstatDir(path: Buffer): DirEntryStat[] {
  const { names, stats: f } = addon().lstatdir(path);
  const u = new BigUint64Array(f.buffer, f.byteOffset, f.length); // ids, mode, counts and sizes are unsigned
  const out: DirEntryStat[] = new Array(names.length);
  for (let i = 0, k = 0; i < names.length; i++, k += 13) {
    if (f[k] !== 0n) {
      const code = ERRNO_NAMES.get(Number(f[k])) ?? 'EIO';
      const error = Object.assign(new Error(`${code}: lstat '${Buffer.concat([path, Buffer.from('/'), names[i]]).toString()}'`), { code, errno: -Number(f[k]), syscall: 'lstat' });
      out[i] = { name: names[i], error };
      continue;
    }
    const st = new DirEntryStats(u[k + 1], u[k + 2], u[k + 3], u[k + 4], u[k + 5], u[k + 6], u[k + 7], u[k + 8], u[k + 9], f[k + 10], f[k + 11], f[k + 12]);
    out[i] = { name: names[i], st: st as unknown as BigIntStats };
  }
  return out;
}
