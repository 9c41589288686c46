/**
 * Tree blobs (design.md §10): deterministic JSON, nodes sorted by name bytes, fixed key order, so that identical
 * directories give identical blobs. Names are untrusted when read back: decodeTree refuses unsafe ones.
 */
import type { Node, NodeType, Xattr } from './node.js';
import { FlashbackError } from '../errors/errors.js';

const TYPES: ReadonlySet<string> = new Set(['file', 'dir', 'symlink', 'fifo', 'chardev', 'blockdev', 'socket']);
const HEX64 = /^[0-9a-f]{64}$/;

/** Bytes that decode as UTF-8 and re-encode to the same bytes are stored as strings, others as base64. */
function bytesField(obj: Record<string, unknown>, key: string, b: Buffer): void {
  const s = b.toString('utf8');
  if (Buffer.from(s, 'utf8').equals(b)) obj[key] = s;
  else obj[`${key}_raw`] = b.toString('base64');
}

function readBytes(o: Record<string, unknown>, key: string): Buffer | undefined {
  if (typeof o[key] === 'string') return Buffer.from(o[key] as string, 'utf8');
  if (typeof o[`${key}_raw`] === 'string') return Buffer.from(o[`${key}_raw`] as string, 'base64');
  return undefined;
}

export function nodeToJson(n: Node): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  bytesField(o, 'name', n.name);
  o.type = n.type;
  o.mode = n.mode;
  o.uid = n.uid;
  o.gid = n.gid;
  o.user = n.user;
  o.group = n.group;
  o.mtime = n.mtime.toString();
  o.atime = n.atime.toString();
  o.ctime = n.ctime.toString();
  o.size = n.size;
  o.inode = n.inode.toString();
  o.device_id = n.deviceId.toString();
  o.links = n.links;
  if (n.rdev !== undefined) o.rdev = n.rdev.toString();
  if (n.linkTarget) bytesField(o, 'linktarget', n.linkTarget);
  if (n.xattrs?.length) {
    o.xattrs = n.xattrs.map((x) => {
      const xo: Record<string, unknown> = {};
      bytesField(xo, 'name', x.name);
      xo.value = x.value.toString('base64');
      return xo;
    });
  }
  if (n.content) o.content = n.content;
  if (n.subtree) o.subtree = n.subtree;
  if (n.error) o.error = n.error;
  return o;
}

export function compareNames(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

export function encodeTree(nodes: Node[]): Buffer {
  const sorted = [...nodes].sort((a, b) => compareNames(a.name, b.name));
  return Buffer.from(JSON.stringify({ nodes: sorted.map(nodeToJson) }));
}

export function isSafeName(name: Buffer): boolean {
  if (name.length === 0 || name.length > 4096) return false;
  if (name.length === 1 && name[0] === 0x2e) return false;
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return false;
  return !name.includes(0x2f) && !name.includes(0);
}

function big(v: unknown, field: string): bigint {
  // BigInt() accepts a few forms the format does not ("0x1f", " 12"); the length bound stops absurd inputs
  if (typeof v !== 'string' || v.length === 0 || v.length > 30 || v.charCodeAt(0) === 0x20 || v.charCodeAt(v.length - 1) === 0x20) {
    throw new Error(`invalid ${field}`);
  }
  try {
    const b = BigInt(v);
    if (v.charCodeAt(0) === 0x30 && v.length > 1 && v.charCodeAt(1) > 0x39) throw new Error('prefix');
    return b;
  } catch {
    throw new Error(`invalid ${field}`);
  }
}

/** A blob id: 64 hex digits (an invalid one could only fail to be found in the index, never reach a path). */
function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length === 64;
}

function num(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`invalid ${field}`);
  return v;
}

export function nodeFromJson(o: Record<string, unknown>): Node {
  const name = readBytes(o, 'name');
  if (!name || !isSafeName(name)) {
    throw new FlashbackError('ERR_UNSAFE_PATH', `tree contains an unsafe name ${JSON.stringify(o.name ?? o.name_raw)}`);
  }
  if (typeof o.type !== 'string' || !TYPES.has(o.type)) throw new Error(`invalid type ${String(o.type)}`);
  const n: Node = {
    name,
    type: o.type as NodeType,
    mode: num(o.mode, 'mode') & 0o7777,
    uid: num(o.uid, 'uid'),
    gid: num(o.gid, 'gid'),
    user: typeof o.user === 'string' ? o.user : '',
    group: typeof o.group === 'string' ? o.group : '',
    mtime: big(o.mtime, 'mtime'),
    atime: big(o.atime, 'atime'),
    ctime: big(o.ctime, 'ctime'),
    size: num(o.size, 'size'),
    inode: big(o.inode, 'inode'),
    deviceId: big(o.device_id, 'device_id'),
    links: num(o.links, 'links'),
  };
  if (o.rdev !== undefined) n.rdev = big(o.rdev, 'rdev');
  const lt = readBytes(o, 'linktarget');
  if (lt) n.linkTarget = lt;
  if (Array.isArray(o.xattrs)) {
    n.xattrs = o.xattrs.map((x: Record<string, unknown>): Xattr => {
      const xn = readBytes(x, 'name');
      if (!xn || typeof x.value !== 'string') throw new Error('invalid xattr');
      return { name: xn, value: Buffer.from(x.value, 'base64') };
    });
  }
  if (o.content !== undefined) {
    if (!Array.isArray(o.content) || !o.content.every(isId)) throw new Error('invalid content');
    n.content = o.content as string[];
  }
  if (o.subtree !== undefined) {
    if (typeof o.subtree !== 'string' || !HEX64.test(o.subtree)) throw new Error('invalid subtree');
    n.subtree = o.subtree;
  }
  if (typeof o.error === 'string') n.error = o.error;
  if (n.type === 'dir' && !n.subtree) throw new Error('directory without subtree');
  if (n.type === 'symlink' && !n.linkTarget) throw new Error('symlink without target');
  return n;
}

export function decodeTree(buf: Buffer, what: string): Node[] {
  let j: { nodes?: unknown };
  try {
    j = JSON.parse(buf.toString('utf8'));
  } catch (cause) {
    throw new FlashbackError('ERR_DAMAGED', `${what} is not a valid tree`, { cause });
  }
  if (!Array.isArray(j?.nodes)) throw new FlashbackError('ERR_DAMAGED', `${what} is not a valid tree`);
  const nodes: Node[] = [];
  for (const o of j.nodes) {
    try {
      nodes.push(nodeFromJson(o as Record<string, unknown>));
    } catch (err) {
      if (err instanceof FlashbackError) throw err;
      throw new FlashbackError('ERR_DAMAGED', `${what}: ${(err as Error).message}`);
    }
  }
  for (let i = 1; i < nodes.length; i++) {
    if (compareNames(nodes[i - 1].name, nodes[i].name) >= 0) {
      throw new FlashbackError('ERR_DAMAGED', `${what} has unsorted or duplicate names`);
    }
  }
  return nodes;
}
