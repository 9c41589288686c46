/**
 * compareTrees(a, b): every difference between two directory trees, as readable lines; [] means identical.
 * Compares type, mode, size, content (sha256), symlink target bytes, owner, times (ns), rdev, xattrs,
 * hardlink structure and sparseness. Names are raw bytes (not necessarily UTF-8).
 * Extended attributes are read with getfattr (package attr), not with the native addon the code under test
 * uses, so a bug there cannot hide itself. makeTempDir(prefix) gives a directory that is removed at exit.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, type BigIntStats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listXattrs } from '../../src/core/fs/native.js';

export interface CompareOptions {
  /** mtime in nanoseconds (of everything but the roots) */
  times?: boolean;
  /** uid and gid */
  owner?: boolean;
  /** extended attributes (all namespaces that getfattr lists) */
  xattrs?: boolean;
  /** atime in nanoseconds, except of directories */
  atime?: boolean;
}

interface Entry {
  rel: Buffer;
  st: BigIntStats;
}

const SLASH = Buffer.from('/');

function walk(root: Buffer, rel: Buffer, out: Map<string, Entry>): void {
  const path = rel.length ? Buffer.concat([root, SLASH, rel]) : root;
  const st = lstatSync(path, { bigint: true });
  out.set(rel.toString('latin1'), { rel, st });
  if (!st.isDirectory()) return;
  for (const name of readdirSync(path, { encoding: 'buffer' })) walk(root, rel.length ? Buffer.concat([rel, SLASH, name]) : name, out);
}

/** A name for humans: UTF-8 where valid, \xNN for the other bytes. */
export function showName(rel: Buffer): string {
  if (!rel.length) return '.';
  const s = rel.toString('utf8');
  if (Buffer.from(s, 'utf8').equals(rel)) return s;
  return [...rel].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

/** sha256 of a file's content, read with O_NOATIME where allowed so that comparing does not change atimes. */
function sha(path: Buffer): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOATIME ?? 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    fd = openSync(path, 'r');
  }
  try {
    return createHash('sha256').update(readFileSync(fd)).digest('hex');
  } finally {
    closeSync(fd);
  }
}

function kind(st: BigIntStats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  return 'socket';
}

function hasGetfattr(): boolean {
  return ['/usr/bin/getfattr', '/bin/getfattr'].some((p) => existsSync(p)) || spawnSync('getfattr', ['--version']).status === 0;
}

/**
 * Every entry's xattrs, keyed like the walk (relative path as latin1): one `getfattr -R` for the whole tree.
 * getfattr writes names as raw bytes with \ooo escapes for control characters and backslash.
 */
function xattrsOf(root: Buffer, tree: Map<string, Entry>): Map<string, string> {
  const out = new Map<string, string>();
  if (!hasGetfattr()) {
    if (process.env.CI) throw new Error('getfattr not found: install the attr package (scripts/install-test-deps.sh)');
    for (const [key, e] of tree) {
      const list = listXattrs(e.rel.length ? Buffer.concat([root, SLASH, e.rel]) : root);
      if (list.length) out.set(key, list.map((x) => `${x.name.toString('latin1')}=0x${x.value.toString('hex')}`).sort().join('\n'));
    }
    return out;
  }
  const r = spawnSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root.toString('latin1')], {
    encoding: 'buffer',
    maxBuffer: 1 << 30,
  });
  const stderr = r.stderr.toString('latin1').split('\n').filter((l) => l && !/Operation not supported/.test(l));
  if (r.status !== 0 && stderr.length) throw new Error(`getfattr failed: ${stderr.join('; ')}`);
  const prefix = root.toString('latin1');
  for (const block of r.stdout.toString('latin1').split('\n\n')) {
    const lines = block.split('\n').filter((l) => l);
    if (!lines.length || !lines[0].startsWith('# file: ')) continue;
    const path = lines[0].slice(8).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const rel = path === prefix ? '' : path.startsWith(prefix + '/') ? path.slice(prefix.length + 1) : undefined;
    if (rel === undefined) throw new Error(`getfattr: unexpected path ${JSON.stringify(path)}`);
    const attrs = lines.slice(1).map((l) => (l.includes('=') ? l : `${l}=0x`)).sort();
    if (attrs.length) out.set(rel, attrs.join('\n'));
  }
  return out;
}

/** For each non-directory entry: the smallest key sharing its inode (itself when not hard-linked). */
function linkLeaders(tree: Map<string, Entry>): Map<string, string> {
  const byInode = new Map<string, string>();
  for (const [key, { st }] of tree) {
    if (st.isDirectory()) continue;
    const id = `${st.dev}:${st.ino}`;
    const cur = byInode.get(id);
    if (cur === undefined || key < cur) byInode.set(id, key);
  }
  const out = new Map<string, string>();
  for (const [key, { st }] of tree) if (!st.isDirectory()) out.set(key, byInode.get(`${st.dev}:${st.ino}`)!);
  return out;
}

function isSparse(st: BigIntStats): boolean {
  return st.blocks * 512n < st.size / 2n;
}

export function compareTrees(a: string, b: string, opts: CompareOptions = {}): string[] {
  const ra = Buffer.from(a.length > 1 ? a.replace(/\/+$/, '') : a);
  const rb = Buffer.from(b.length > 1 ? b.replace(/\/+$/, '') : b);
  const ta = new Map<string, Entry>();
  const tb = new Map<string, Entry>();
  walk(ra, Buffer.alloc(0), ta);
  walk(rb, Buffer.alloc(0), tb);
  const xa = opts.xattrs ? xattrsOf(ra, ta) : undefined;
  const xb = opts.xattrs ? xattrsOf(rb, tb) : undefined;
  const la = linkLeaders(ta);
  const lb = linkLeaders(tb);
  const diffs: string[] = [];
  for (const [key, { rel, st: sa }] of ta) {
    const name = showName(rel);
    const eb = tb.get(key);
    if (!eb) {
      diffs.push(`missing in b: ${name}`);
      continue;
    }
    const sb = eb.st;
    const pa = rel.length ? Buffer.concat([ra, SLASH, rel]) : ra;
    const pb = rel.length ? Buffer.concat([rb, SLASH, rel]) : rb;
    if (kind(sa) !== kind(sb)) {
      diffs.push(`${name}: type ${kind(sa)} != ${kind(sb)}`);
      continue;
    }
    if (!sa.isSymbolicLink() && (sa.mode & 0o7777n) !== (sb.mode & 0o7777n)) diffs.push(`${name}: mode ${(sa.mode & 0o7777n).toString(8)} != ${(sb.mode & 0o7777n).toString(8)}`);
    if (sa.isFile()) {
      if (sa.size !== sb.size) diffs.push(`${name}: size ${sa.size} != ${sb.size}`);
      else if (sha(pa) !== sha(pb)) diffs.push(`${name}: content differs`);
      if (isSparse(sa) && !isSparse(sb)) diffs.push(`${name}: sparse in a (${sa.blocks} blocks) but not in b (${sb.blocks} blocks)`);
    }
    if (!sa.isDirectory() && la.get(key) !== lb.get(key)) {
      const ka = la.get(key)!;
      const kb = lb.get(key)!;
      diffs.push(`${name}: hardlink structure differs (in a ${ka === key ? 'not linked to an earlier name' : `same inode as ${showName(ta.get(ka)!.rel)}`}, in b ${kb === key ? 'not linked to an earlier name' : `same inode as ${showName(tb.get(kb)!.rel)}`})`);
    }
    if (sa.isSymbolicLink()) {
      const ga = readlinkSync(pa, { encoding: 'buffer' });
      const gb = readlinkSync(pb, { encoding: 'buffer' });
      if (!ga.equals(gb)) diffs.push(`${name}: symlink target ${showName(ga)} != ${showName(gb)}`);
    }
    if ((sa.isCharacterDevice() || sa.isBlockDevice()) && sa.rdev !== sb.rdev) diffs.push(`${name}: rdev ${sa.rdev} != ${sb.rdev}`);
    if (opts.owner && (sa.uid !== sb.uid || sa.gid !== sb.gid)) diffs.push(`${name}: owner ${sa.uid}:${sa.gid} != ${sb.uid}:${sb.gid}`);
    if (opts.times && rel.length && sa.mtimeNs !== sb.mtimeNs) diffs.push(`${name}: mtime ${sa.mtimeNs} != ${sb.mtimeNs}`);
    if (opts.atime && !sa.isDirectory() && sa.atimeNs !== sb.atimeNs) diffs.push(`${name}: atime ${sa.atimeNs} != ${sb.atimeNs}`);
    if (xa && xb && (xa.get(key) ?? '') !== (xb.get(key) ?? '')) {
      diffs.push(`${name}: xattrs differ: [${(xa.get(key) ?? '').split('\n').join(', ')}] != [${(xb.get(key) ?? '').split('\n').join(', ')}]`);
    }
  }
  for (const [key, { rel }] of tb) if (!ta.has(key)) diffs.push(`extra in b: ${showName(rel)}`);
  return diffs;
}

const tempDirs = new Set<string>();
let exitHook = false;

/** A fresh directory under the system temp dir; remove() deletes it (and it is deleted at exit anyway). */
export function makeTempDir(prefix = 'fb-test-'): { dir: string; remove(): void } {
  if (!exitHook) process.on('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  exitHook = true;
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return {
    dir,
    remove: () => {
      tempDirs.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
