/**
 * A Node is one entry of a directory as stored in a tree blob (docs/design.md §10).
 * Names and link targets are raw bytes: file names on Linux need not be valid UTF-8.
 */
export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';

export interface Xattr {
  name: Buffer;
  value: Buffer;
}

export interface Node {
  name: Buffer;
  type: NodeType;
  /** permission bits including setuid/setgid/sticky (st_mode & 0o7777) */
  mode: number;
  uid: number;
  gid: number;
  user: string;
  group: string;
  /** nanoseconds since the epoch (may be negative) */
  mtime: bigint;
  atime: bigint;
  ctime: bigint;
  size: number;
  inode: bigint;
  deviceId: bigint;
  links: number;
  /** chardev / blockdev device number */
  rdev?: bigint;
  /** symlink target bytes */
  linkTarget?: Buffer;
  xattrs?: Xattr[];
  /** data blob ids (hex) of a file, in order */
  content?: string[];
  /** tree blob id (hex) of a directory */
  subtree?: string;
  /** set when the file's data is known to be damaged or incomplete */
  error?: string;
}
