/**
 * File metadata: captured into a Node on backup (readNode), applied to a restored entry (applyNode,
 * createSpecial). See docs/design.md §10. Paths are raw bytes throughout.
 */
import * as fs from 'node:fs';
import { errorMessage, isErrno } from '../errors/errors.js';
import type { Node, NodeType, Xattr } from '../model/node.js';
import { groupId, groupName, listXattrs, mknod, setTimes, setTimesFd, setXattr, userId, userName } from './native.js';

const { S_IFIFO, S_IFCHR, S_IFBLK } = fs.constants;

function nodeType(st: fs.BigIntStats): NodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isSocket()) return 'socket';
  throw new Error(`unknown file type (mode 0o${st.mode.toString(8)})`);
}

function byName(a: Xattr, b: Xattr): number {
  return Buffer.compare(a.name, b.name);
}

/**
 * Builds the Node of one directory entry from its lstat result (`st` must come from lstat with
 * bigint: true, so that times keep their nanoseconds). Leaves content and subtree unset.
 */
export function readNode(path: Buffer, name: Buffer, st: fs.BigIntStats): Node {
  const type = nodeType(st);
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const node: Node = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid,
    gid,
    user: userName(uid),
    group: groupName(gid),
    mtime: st.mtimeNs,
    atime: st.atimeNs,
    ctime: st.ctimeNs,
    size: type === 'file' ? Number(st.size) : 0,
    inode: st.ino,
    deviceId: st.dev,
    links: Number(st.nlink),
  };
  if (type === 'chardev' || type === 'blockdev') node.rdev = st.rdev;
  if (type === 'symlink') node.linkTarget = fs.readlinkSync(path, { encoding: 'buffer' });
  const xattrs = listXattrs(path).sort(byName);
  if (xattrs.length > 0) node.xattrs = xattrs;
  return node;
}

export interface ApplyOptions {
  /** restore the owner (needs root, or CAP_CHOWN) */
  owner: boolean;
  /** map owners by user/group name when the name exists locally, else by the numeric ids */
  ownerByName: boolean;
}

function ownerIds(node: Node, byName: boolean): { uid: number; gid: number } {
  if (!byName) return { uid: node.uid, gid: node.gid };
  return { uid: userId(node.user) ?? node.uid, gid: groupId(node.group) ?? node.gid };
}

/** Runs one step of applyNode, turning a failure into a warning. */
function attempt(warnings: string[], what: string, step: () => void): void {
  try {
    step();
  } catch (err) {
    warnings.push(`${what}: ${errorMessage(err)}`);
  }
}

function applyXattrs(path: Buffer, node: Node, warnings: string[]): void {
  for (const { name, value } of node.xattrs ?? []) {
    try {
      setXattr(path, name, value);
    } catch (err) {
      // Linux refuses user.* attributes on symlinks; a symlink cannot carry them, so nothing is lost.
      if (node.type === 'symlink' && isErrno(err, 'EPERM', 'ENOTSUP')) continue;
      warnings.push(`xattr ${printable(name)}: ${errorMessage(err)}`);
    }
  }
}

function printable(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('utf8'));
}

/**
 * Applies the metadata of `node` to the already-created entry at `path` (never following a symlink)
 * and returns the warnings for attributes that could not be applied (they do not name the path: the
 * caller prefixes it). Order matters: chown before chmod because chown clears setuid/setgid; times
 * last because every other change would update them.
 *
 * For a directory, call this only after all its children have been written: writing a child changes
 * the directory's mtime, and a restored mode without write permission would block creating them.
 */
export function applyNode(path: Buffer, node: Node, opts: ApplyOptions): string[] {
  const warnings: string[] = [];
  if (opts.owner) {
    const { uid, gid } = ownerIds(node, opts.ownerByName);
    attempt(warnings, `chown ${uid}:${gid}`, () => fs.lchownSync(path, uid, gid));
  }
  // Linux symlinks have no mode of their own (chmod would change the target).
  if (node.type !== 'symlink') {
    attempt(warnings, `chmod 0o${node.mode.toString(8)}`, () => fs.chmodSync(path, node.mode));
  }
  applyXattrs(path, node, warnings);
  attempt(warnings, 'set times', () => setTimes(path, node.atime, node.mtime, true));
  return warnings;
}

/** What a restore sets on a regular file it has just written (no xattrs: those files go through applyNode). */
export interface FileMeta {
  mode: number;
  uid: number;
  gid: number;
  atime: bigint;
  mtime: bigint;
}

/**
 * applyNode for a regular file, through its open descriptor (no path lookup per attribute): owner (when asked),
 * mode, then times, with applyNode's warnings.
 */
export function applyFileMetaFd(fd: number, m: FileMeta, owner: boolean): string[] {
  const warnings: string[] = [];
  if (owner) attempt(warnings, `chown ${m.uid}:${m.gid}`, () => fs.fchownSync(fd, m.uid, m.gid));
  attempt(warnings, `chmod 0o${m.mode.toString(8)}`, () => fs.fchmodSync(fd, m.mode));
  attempt(warnings, 'set times', () => setTimesFd(fd, m.atime, m.mtime));
  return warnings;
}

/**
 * Creates a fifo or device node at `path` (permissions are set later by applyNode). A socket cannot
 * be recreated without a process serving it: nothing is created, and the caller should warn.
 */
export function createSpecial(path: Buffer, node: Node): void {
  const perm = node.mode & 0o777;
  switch (node.type) {
    case 'fifo':
      mknod(path, S_IFIFO | perm, 0n);
      return;
    case 'chardev':
    case 'blockdev':
      if (node.rdev === undefined) throw new Error(`${node.type} without a device number`);
      mknod(path, (node.type === 'chardev' ? S_IFCHR : S_IFBLK) | perm, node.rdev);
      return;
    case 'socket':
      return;
    default:
      throw new Error(`not a special file: ${node.type}`);
  }
}
