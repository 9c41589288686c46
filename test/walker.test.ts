/**
 * Directory listings for the backup walk (native/walk.c): lstatDir sorts bytewise and its digest is the
 * directory cache's (entriesDigest); the walker that lists ahead in a thread gives exactly what lstatDir
 * gives, whatever the walk does: visit in order, skip subtrees (exclusions), jump ahead, go back, ask for paths
 * it never planned, outrun it, hit its memory bound, or stop it half-way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirWalker, lstatDir, type DirListing } from '../src/core/fs/native.js';
import { entriesDigest } from '../src/core/archiver/dircache.js';
import { sourceOrder, buildTrie } from '../src/core/archiver/sources.js';

const b = (s: string) => Buffer.from(s);

/** A tree of `width`^`depth` directories, each with a few files, a symlink and odd names. */
function makeTree(root: string, depth: number, width: number): void {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'file.txt'), `in ${root}\n`);
  writeFileSync(join(root, 'a'), 'a');
  writeFileSync(join(root, 'ab'), 'ab');
  writeFileSync(join(root, 'B'), 'B');
  writeFileSync(Buffer.concat([b(root + '/'), Buffer.from([0xff, 0x61])]), 'not UTF-8');
  symlinkSync('file.txt', join(root, 'link'));
  if (depth === 0) return;
  for (let i = 0; i < width; i++) makeTree(join(root, `d${i}`), depth - 1, width);
}

/** What a listing says, in plain values (stats read through every field the walk uses). */
function plain(l: DirListing): unknown {
  return {
    digest: l.digest,
    digested: l.digested,
    entries: l.entries.map((e) => ({
      name: e.name.toString('hex'),
      error: e.error?.message,
      st: e.st && {
        dev: e.st.dev, ino: e.st.ino, mode: e.st.mode, nlink: e.st.nlink, uid: e.st.uid, gid: e.st.gid, rdev: e.st.rdev,
        size: e.st.size, blocks: e.st.blocks, atimeNs: e.st.atimeNs, mtimeNs: e.st.mtimeNs, ctimeNs: e.st.ctimeNs,
        file: e.st.isFile(), dir: e.st.isDirectory(), link: e.st.isSymbolicLink(),
      },
    })),
  };
}

/** Every directory under `root`, depth first, children by name: the order the archiver visits them. */
function walkOrder(root: Buffer): Buffer[] {
  const out: Buffer[] = [root];
  for (const e of lstatDir(root).entries) if (e.st?.isDirectory()) out.push(...walkOrder(Buffer.concat([root, b('/'), e.name])));
  return out;
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'fb-walker-'));
}

test('lstatDir: entries sorted bytewise, stats as lstat gives them, digest equal to entriesDigest', () => {
  const dir = scratch();
  try {
    makeTree(dir, 1, 3);
    const l = lstatDir(b(dir));
    const names = l.entries.map((e) => e.name);
    assert.deepEqual(names, [...names].sort(Buffer.compare));
    assert.deepEqual(names.map((n) => n.toString('latin1')), ['B', 'a', 'ab', 'd0', 'd1', 'd2', 'file.txt', 'link', '\xffa']);
    for (const e of l.entries) {
      const st = lstatSync(Buffer.concat([b(dir + '/'), e.name]), { bigint: true });
      assert.equal(e.st!.ino, st.ino);
      assert.equal(e.st!.mode, st.mode);
      assert.equal(e.st!.size, st.size);
      assert.equal(e.st!.mtimeNs, st.mtimeNs);
      assert.equal(e.st!.ctimeNs, st.ctimeNs);
      assert.equal(e.st!.isDirectory(), st.isDirectory());
      assert.equal(e.st!.isSymbolicLink(), st.isSymbolicLink());
      assert.equal(e.st!.isFile(), st.isFile());
    }
    assert.equal(l.digested, l.entries.length);
    assert.equal(l.digest, entriesDigest(l.entries.map((e) => ({ name: e.name, st: e.st! }))));
    // an entry left out (as an exclusion does) changes the digest: the walk must then compute its own
    assert.notEqual(l.digest, entriesDigest(l.entries.slice(1).map((e) => ({ name: e.name, st: e.st! }))));
    assert.equal(lstatDir(b(join(dir, 'd0'))).digest, entriesDigest(lstatDir(b(join(dir, 'd0'))).entries.map((e) => ({ name: e.name, st: e.st! }))));
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    assert.deepEqual(lstatDir(b(empty)).entries, []);
    assert.equal(lstatDir(b(empty)).digest, entriesDigest([]));
    assert.throws(() => lstatDir(b(join(dir, 'missing'))), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && err.syscall === 'scandir');
    assert.throws(() => lstatDir(b(join(dir, 'file.txt'))), (err: NodeJS.ErrnoException) => err.code === 'ENOTDIR');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('walker: every way of walking gives what lstatDir gives', () => {
  const dir = scratch();
  try {
    makeTree(join(dir, 'src'), 3, 3);
    makeTree(join(dir, 'other'), 1, 2);
    const root = b(join(dir, 'src'));
    const order = walkOrder(root);
    assert.equal(order.length, 1 + 3 + 9 + 27);
    // listed once up front: listing moves a directory's atime once (relatime), and the comparisons below
    // should not see that
    const direct = new Map([...order, ...walkOrder(b(join(dir, 'other')))].map((p) => [p.toString('latin1'), plain(lstatDir(p))]));
    const check = (w: DirWalker, p: Buffer) => assert.deepEqual(plain(w.list(p)), direct.get(p.toString('latin1')), p.toString());

    const runs: [string, (w: DirWalker) => void, number?][] = [
      ['in order', (w) => order.forEach((p) => check(w, p))],
      // the walker is kept one listing ahead at most: every request waits for it or lists itself
      ['in order, memory bound of one listing', (w) => order.forEach((p) => check(w, p)), 1],
      ['skipping every subtree under d1 (an exclusion)', (w) => order.filter((p) => !p.toString().includes('/d1/') && !p.toString().endsWith('/d1')).forEach((p) => check(w, p))],
      ['jumping ahead, then back to the start', (w) => [order[20], order[21], order[0], order[1], ...order.slice(30)].forEach((p) => check(w, p))],
      ['paths it never planned, between planned ones', (w) => {
        check(w, order[0]);
        check(w, b(join(dir, 'other')));
        check(w, b(join(dir, 'other', 'd1')));
        order.slice(1).forEach((p) => check(w, p));
      }],
      ['the last directory first, then all in order', (w) => [order[order.length - 1], ...order].forEach((p) => check(w, p))],
    ];
    for (const [what, walk, maxHeld] of runs) {
      const w = new DirWalker([root], false, maxHeld);
      try {
        walk(w);
      } catch (err) {
        assert.fail(`${what}: ${(err as Error).message}`);
      } finally {
        w.close();
      }
    }

    // the walk outruns a walker that has just started (no head start): same listings
    const w = new DirWalker([root], false);
    order.forEach((p) => check(w, p));
    w.close();

    // two sources, in the archiver's visiting order
    const roots = sourceOrder(buildTrie([join(dir, 'src'), join(dir, 'other')])).map(b);
    assert.deepEqual(roots.map(String), [join(dir, 'other'), join(dir, 'src')]);
    const both = new DirWalker(roots, false);
    for (const p of [...walkOrder(roots[0]), ...order]) check(both, p);
    both.close();

    // stopped half-way: it lists directly from then on; closing twice is harmless
    const half = new DirWalker([root], false);
    order.slice(0, 10).forEach((p) => check(half, p));
    half.close();
    half.close();
    order.slice(10).forEach((p) => check(half, p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('walker: a directory removed after the walker listed its parent fails as lstatDir does; a stale listing is a listing', async () => {
  const dir = scratch();
  try {
    makeTree(join(dir, 'src'), 2, 2);
    const root = b(join(dir, 'src'));
    const w = new DirWalker([root], false, 1); // at most one listing ahead: it has listed d0, not d0's children
    try {
      w.list(root);
      await new Promise((r) => setTimeout(r, 100)); // let it list ahead
      rmSync(join(dir, 'src', 'd0'), { recursive: true });
      // d0 was probably listed before it went: the backup then sees it as it was a moment ago, like any walk
      // that listed it then; its subdirectory is gone either way, and that must throw as lstatDir does
      try {
        w.list(b(join(dir, 'src', 'd0')));
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT');
      }
      assert.throws(() => w.list(b(join(dir, 'src', 'd0', 'd1'))), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && err.syscall === 'scandir');
      // (the walker's own listing of d1's subdirectories moved their atimes: the digest leaves a directory's atime out)
      const d1 = w.list(b(join(dir, 'src', 'd1')));
      const again = lstatDir(b(join(dir, 'src', 'd1')));
      assert.equal(d1.digest, again.digest);
      assert.deepEqual(d1.entries.map((e) => e.name), again.entries.map((e) => e.name));
    } finally {
      w.close();
    }
    assert.throws(() => new DirWalker([root], false).list(b(join(dir, 'nope'))), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
