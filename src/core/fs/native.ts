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

/** Sets the atime and mtime of an open file exactly to the nanosecond. */
export function setTimesFd(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
  const a = splitNs(atimeNs);
  const m = splitNs(mtimeNs);
  addon().futimens(fd, a.sec, a.nsec, m.sec, m.nsec);
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

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
/** numbers per entry from lstatdir (native/listing.h FIELDS) */
const FIELDS = 13;
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * The fields of BigIntStats that the backup walk and node capture use, read on demand from lstatdir's numbers
 * (13 per entry: errno, dev, ino, mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime). A no-change
 * backup looks at the type and size of most entries and at nothing else, so no BigInt is made for the rest.
 */
class DirEntryStats {
  constructor(
    private readonly u: BigUint64Array,
    private readonly f: BigInt64Array,
    /** the same numbers as 32-bit words: the mode's low word, without making a BigInt */
    private readonly w: Uint32Array,
    private readonly k: number,
  ) {}
  get dev(): bigint {
    return this.u[this.k + 1];
  }
  get ino(): bigint {
    return this.u[this.k + 2];
  }
  get mode(): bigint {
    return this.u[this.k + 3];
  }
  get nlink(): bigint {
    return this.u[this.k + 4];
  }
  get uid(): bigint {
    return this.u[this.k + 5];
  }
  get gid(): bigint {
    return this.u[this.k + 6];
  }
  get rdev(): bigint {
    return this.u[this.k + 7];
  }
  get size(): bigint {
    return this.u[this.k + 8];
  }
  get blocks(): bigint {
    return this.u[this.k + 9];
  }
  get atimeNs(): bigint {
    return this.f[this.k + 10];
  }
  get mtimeNs(): bigint {
    return this.f[this.k + 11];
  }
  get ctimeNs(): bigint {
    return this.f[this.k + 12];
  }
  private type(): number {
    return this.w[(this.k + 3) * 2] & S_IFMT;
  }
  isFile(): boolean {
    return this.type() === S_IFREG;
  }
  isDirectory(): boolean {
    return this.type() === S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.type() === S_IFLNK;
  }
  isFIFO(): boolean {
    return this.type() === 0o010000;
  }
  isSocket(): boolean {
    return this.type() === 0o140000;
  }
  isCharacterDevice(): boolean {
    return this.type() === 0o020000;
  }
  isBlockDevice(): boolean {
    return this.type() === 0o060000;
  }
}

export interface DirEntryStat {
  name: Buffer;
  /** lstat of the entry; undefined when it failed (error says why: vanished, permission) */
  st?: BigIntStats;
  error?: NodeJS.ErrnoException;
}

/**
 * A directory's entries, sorted by name (bytewise), and the digest of those whose lstat succeeded. The
 * entries are only built when asked for: an unchanged directory of a no-change backup needs its
 * subdirectories and the totals of its files, which come straight from lstatdir's numbers.
 */
export class DirListing {
  private built?: DirEntryStat[];
  private readonly u: BigUint64Array;
  /** the same numbers as 32-bit words: errno, mode and size without making BigInts */
  private readonly w: Uint32Array;

  constructor(
    private readonly dir: Buffer,
    private readonly names: Buffer,
    private readonly ends: Uint32Array,
    private readonly f: BigInt64Array,
    /**
     * SHA-256 (hex) of the entries whose lstat succeeded, exactly as archiver/dircache.ts entriesDigest
     * computes it: valid for the walk's entry list as long as the walk left none of those out.
     */
    readonly digest: string,
    /** how many entries the digest covers */
    readonly digested: number,
  ) {
    this.u = new BigUint64Array(f.buffer, f.byteOffset, f.length); // ids, mode, counts and sizes are unsigned
    this.w = new Uint32Array(f.buffer, f.byteOffset, f.length * 2);
  }

  static empty(): DirListing {
    return new DirListing(Buffer.alloc(0), Buffer.alloc(0), new Uint32Array(0), new BigInt64Array(0), '', -1);
  }

  get count(): number {
    return this.ends.length;
  }

  get entries(): DirEntryStat[] {
    if (!this.built) {
      const out: DirEntryStat[] = new Array(this.ends.length);
      for (let i = 0; i < out.length; i++) out[i] = this.entry(i);
      this.built = out;
    }
    return this.built;
  }

  /** The entries that are directories (whose lstat succeeded), in name order. */
  directories(): DirEntryStat[] {
    const out: DirEntryStat[] = [];
    for (let i = 0; i < this.ends.length; i++) if (this.type(i) === S_IFDIR) out.push(this.entry(i));
    return out;
  }

  /** Over the entries that are not directories (whose lstat succeeded): how many, how many regular files, their bytes. */
  totals(): { others: number; files: number; bytes: number } {
    let others = 0;
    let files = 0;
    let bytes = 0;
    for (let i = 0; i < this.ends.length; i++) {
      const type = this.type(i);
      if (type < 0 || type === S_IFDIR) continue;
      others++;
      if (type === S_IFREG) {
        files++;
        const k = (i * FIELDS + 8) * 2; // the size, as two 32-bit words
        bytes += this.w[k] + this.w[k + 1] * 2 ** 32;
      }
    }
    return { others, files, bytes };
  }

  /** Whether an entry (whose lstat succeeded) is a symbolic link. */
  hasSymlink(): boolean {
    for (let i = 0; i < this.ends.length; i++) if (this.type(i) === S_IFLNK) return true;
    return false;
  }

  /** Whether an entry has this name. */
  has(name: Buffer): boolean {
    for (let i = 0, at = 0; i < this.ends.length; at = this.ends[i], i++) {
      if (this.ends[i] - at === name.length && this.names.compare(name, 0, name.length, at, this.ends[i]) === 0) return true;
    }
    return false;
  }

  /** the file type bits of entry i, or -1 when its lstat failed */
  private type(i: number): number {
    return this.w[i * FIELDS * 2] !== 0 ? -1 : this.w[(i * FIELDS + 3) * 2] & S_IFMT;
  }

  private entry(i: number): DirEntryStat {
    const k = i * FIELDS;
    const name = this.names.subarray(i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
    const errno = this.w[k * 2];
    if (errno !== 0) {
      const code = ERRNO_NAMES.get(errno) ?? 'EIO';
      const error = Object.assign(new Error(`${code}: lstat '${Buffer.concat([this.dir, Buffer.from('/'), name]).toString()}'`), { code, errno: -errno, syscall: 'lstat' });
      return { name, error };
    }
    return { name, st: new DirEntryStats(this.u, this.f, this.w, k) as unknown as BigIntStats };
  }
}

/**
 * Lists the backup's source trees ahead of the walk, in a native thread (native/walk.c): depth first, children
 * by name, the order in which the archiver visits them. `list` takes a listing it made, or lists directly when
 * the walker is behind or never planned the path; either way the result is the same as lstatDir's. It only
 * ever saves time; close() stops the thread and frees what it still held.
 */
export class DirWalker {
  private handle: unknown;

  /**
   * roots: the source directories in the order the walk visits them; oneFileSystem: do not plan directories
   * on another device than their source; maxHeld: bytes of listings made ahead (default 8 MiB)
   */
  constructor(roots: Buffer[], oneFileSystem: boolean, maxHeld?: number) {
    this.handle = addon().walkerStart(roots, oneFileSystem, maxHeld);
  }

  list(path: Buffer): DirListing {
    return lstatDir(path, this);
  }

  /** @internal the native handle, undefined once closed */
  get native(): unknown {
    return this.handle;
  }

  close(): void {
    if (this.handle === undefined) return;
    addon().walkerStop(this.handle);
    this.handle = undefined;
  }
}

/**
 * readdir + lstat of every entry in one native call, sorted by name, with the entries' digest (the walk of a
 * no-change backup is mostly this). The stats carry the fields of BigIntStats that the walk and readNode use
 * (ids, mode, sizes, times in ns, isX()), not the Date properties.
 */
export function lstatDir(path: Buffer, walker?: DirWalker): DirListing {
  const { names, ends, stats, digest, ok } = addon().lstatdir(path, walker?.native);
  return new DirListing(path, names, ends, stats, digest.toString('hex'), ok);
}
