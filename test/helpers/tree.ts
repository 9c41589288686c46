/**
 * compareTrees(a, b): every difference between two directory trees, as readable lines; [] means identical.
 * Compares type, mode, size, content (sha256), symlink target bytes, owner, times (ns), rdev, xattrs,
 * hardlink structure and sparseness. Names are raw bytes (not necessarily UTF-8).
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';
import { listXattrs } from '../../src/core/fs/native.js';

export interface CompareOptions {
  times?: boolean;
  owner?: boolean;
  xattrs?: boolean;
  atime?: boolean;
}

const SLASH = Buffer.from('/');

function walk(root: Buffer, rel: Buffer, out: Map<string, { rel: Buffer; st: BigIntStats }>): void {
  const path = rel.length ? Buffer.concat([root, SLASH, rel]) : root;
  const st = lstatSync(path, { bigint: true });
  out.set(rel.toString('latin1'), { rel, st });
  if (!st.isDirectory()) return;
  for (const name of readdirSync(path, { encoding: 'buffer' })) walk(root, rel.length ? Buffer.concat([rel, SLASH, name]) : name, out);
}

function sha(path: Buffer): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
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

function xattrString(path: Buffer): string {
  return listXattrs(path)
    .map((x) => `${x.name.toString('hex')}=${x.value.toString('hex')}`)
    .sort()
    .join(',');
}

export function compareTrees(a: string, b: string, opts: CompareOptions = {}): string[] {
  const ra = Buffer.from(a);
  const rb = Buffer.from(b);
  const ta = new Map<string, { rel: Buffer; st: BigIntStats }>();
  const tb = new Map<string, { rel: Buffer; st: BigIntStats }>();
  walk(ra, Buffer.alloc(0), ta);
  walk(rb, Buffer.alloc(0), tb);
  const diffs: string[] = [];
  const inodesA = new Map<string, string>();
  const inodesB = new Map<string, string>();
  for (const [key, { rel, st: sa }] of ta) {
    const name = rel.length ? rel.toString() : '.';
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
      if (sa.blocks * 512n < sa.size / 2n && !(sb.blocks * 512n < sb.size / 2n)) diffs.push(`${name}: sparse in a (${sa.blocks} blocks) but not in b (${sb.blocks} blocks)`);
      if (sa.nlink > 1n) {
        const ga = `${sa.dev}:${sa.ino}`;
        const gb = `${sb.dev}:${sb.ino}`;
        if (inodesA.has(ga) && inodesB.get(gb) !== inodesA.get(ga)) diffs.push(`${name}: hardlink structure differs`);
        inodesA.set(ga, inodesA.get(ga) ?? key);
        inodesB.set(gb, inodesB.get(gb) ?? key);
      }
    }
    if (sa.isSymbolicLink() && !readlinkSync(pa, { encoding: 'buffer' }).equals(readlinkSync(pb, { encoding: 'buffer' }))) diffs.push(`${name}: symlink target differs`);
    if ((sa.isCharacterDevice() || sa.isBlockDevice()) && sa.rdev !== sb.rdev) diffs.push(`${name}: rdev ${sa.rdev} != ${sb.rdev}`);
    if (opts.owner && (sa.uid !== sb.uid || sa.gid !== sb.gid)) diffs.push(`${name}: owner ${sa.uid}:${sa.gid} != ${sb.uid}:${sb.gid}`);
    if (opts.times && rel.length && sa.mtimeNs !== sb.mtimeNs) diffs.push(`${name}: mtime ${sa.mtimeNs} != ${sb.mtimeNs}`);
    if (opts.atime && !sa.isDirectory() && sa.atimeNs !== sb.atimeNs) diffs.push(`${name}: atime ${sa.atimeNs} != ${sb.atimeNs}`);
    if (opts.xattrs && !sa.isSymbolicLink() && xattrString(pa) !== xattrString(pb)) diffs.push(`${name}: xattrs differ`);
  }
  for (const [key, { rel }] of tb) if (!ta.has(key)) diffs.push(`extra in b: ${rel.toString()}`);
  return diffs;
}
