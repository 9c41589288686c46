/** compareTrees itself: an exact copy (cp -a) compares equal, and every kind of difference is reported. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { compareTrees, makeTempDir, showName, type CompareOptions } from './helpers/tree.js';

const root = process.getuid?.() === 0;
const ALL: CompareOptions = { times: true, owner: true, xattrs: true };
const raw = (s: string) => Buffer.from(s, 'latin1');
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' });
/** setfattr on dir/bad-\xff-name: node passes arguments as UTF-8, so let printf make the raw byte. */
const setfattrBad = (dir: string, ...args: string[]) =>
  execFileSync('bash', ['-c', 'setfattr "$@" -- "$(printf "bad-\\377-name")"', '_', ...args], { cwd: dir, stdio: 'pipe' });

const work = makeTempDir('fb-tree-compare-');
const base = join(work.dir, 'a');

/** A tree with one of everything compareTrees looks at; built with plain tools, not the code under test. */
function buildBase(): void {
  const p = (...parts: string[]) => join(base, ...parts);
  mkdirSync(p('sub', 'deep'), { recursive: true });
  writeFileSync(p('hello.txt'), 'hello\n');
  writeFileSync(p('twin.txt'), 'hello\n');
  writeFileSync(p('empty'), '');
  writeFileSync(p('data.bin'), Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) & 255)));
  writeFileSync(p('sub', 'deep', 'x'), 'deep\n');
  symlinkSync('hello.txt', p('link'));
  symlinkSync(raw('target-\xff'), raw(`${base}/link-raw`));
  writeFileSync(raw(`${base}/bad-\xff-name`), 'not utf-8\n');
  writeFileSync(p('nl\nback\\slash'), 'odd name\n');
  writeFileSync(p('h1'), 'linked\n');
  linkSync(p('h1'), p('h2'));
  linkSync(p('h1'), p('sub', 'h3'));
  const fd = openSync(p('sparse.img'), 'w');
  writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 1 << 20);
  ftruncateSync(fd, 16 << 20);
  closeSync(fd);
  sh('mkfifo', p('fifo'));
  writeFileSync(p('setuid'), '#!/bin/sh\n');
  sh('chmod', '4755', p('setuid'));
  mkdirSync(p('sticky'));
  sh('chmod', '1777', p('sticky'));
  writeFileSync(p('xattr.txt'), 'with attributes\n');
  sh('setfattr', '-n', 'user.comment', '-v', 'hello', p('xattr.txt'));
  sh('setfattr', '-n', 'user.binary', '-v', '0x0001ff', p('xattr.txt'));
  sh('setfattr', '-n', 'user.dir', '-v', 'on a directory', p('sub'));
  sh('setfattr', '-n', 'user.odd', '-v', 'odd', p('nl\nback\\slash'));
  setfattrBad(base, '-n', 'user.bad', '-v', 'bad');
  if (root) {
    sh('mknod', p('null-dev'), 'c', '1', '3');
    writeFileSync(p('owned'), 'owned by someone else\n');
    sh('chown', '-h', '1234:5678', p('owned'));
  }
  sh('touch', '-h', '-d', '@1600000000.123456789', p('hello.txt'), p('twin.txt'), p('link'));
}

let n = 0;
function copy(): string {
  const b = join(work.dir, `b${n++}`);
  sh('cp', '-a', base, b);
  return b;
}

test('an exact copy (cp -a) of a tree with every kind of entry compares equal', () => {
  buildBase();
  assert.deepEqual(compareTrees(base, copy(), ALL), []);
  assert.deepEqual(compareTrees(base, base + '/', ALL), [], 'a trailing slash makes no difference');
});

interface Case {
  what: string;
  change: (b: string) => void;
  expect: RegExp;
  rootOnly?: boolean;
}

const cases: Case[] = [
  { what: 'missing entry', change: (b) => rmSync(join(b, 'hello.txt')), expect: /^missing in b: hello\.txt$/ },
  { what: 'extra entry', change: (b) => writeFileSync(join(b, 'sub', 'new.txt'), ''), expect: /^extra in b: sub\/new\.txt$/ },
  { what: 'type', change: (b) => (rmSync(join(b, 'sub', 'deep', 'x')), mkdirSync(join(b, 'sub', 'deep', 'x'))), expect: /^sub\/deep\/x: type file != dir$/ },
  { what: 'mode', change: (b) => sh('chmod', '755', join(b, 'setuid')), expect: /^setuid: mode 4755 != 755$/ },
  { what: 'sticky bit', change: (b) => sh('chmod', '777', join(b, 'sticky')), expect: /^sticky: mode 1777 != 777$/ },
  { what: 'size', change: (b) => writeFileSync(join(b, 'data.bin'), 'x', { flag: 'a' }), expect: /^data\.bin: size 100000 != 100001$/ },
  {
    what: 'content of the same size',
    change: (b) => {
      const d = readFileSync(join(b, 'data.bin'));
      d[54321] ^= 1;
      writeFileSync(join(b, 'data.bin'), d);
    },
    expect: /^data\.bin: content differs$/,
  },
  { what: 'symlink target', change: (b) => (rmSync(join(b, 'link')), symlinkSync('hello.TXT', join(b, 'link'))), expect: /^link: symlink target hello\.txt != hello\.TXT$/ },
  {
    what: 'symlink target bytes (not UTF-8)',
    change: (b) => (rmSync(join(b, 'link-raw')), symlinkSync(raw('target-\xfe'), raw(`${b}/link-raw`))),
    expect: /^link-raw: symlink target target-\\xff != target-\\xfe$/,
  },
  { what: 'owner', change: (b) => sh('chown', '-h', '1234:9999', join(b, 'owned')), expect: /^owned: owner 1234:5678 != 1234:9999$/, rootOnly: true },
  { what: 'mtime (1 ns)', change: (b) => sh('touch', '-h', '-d', '@1600000000.123456788', join(b, 'link')), expect: /^link: mtime 1600000000123456789 != 1600000000123456788$/ },
  { what: 'rdev', change: (b) => (rmSync(join(b, 'null-dev')), sh('mknod', join(b, 'null-dev'), 'c', '1', '5')), expect: /^null-dev: rdev 259 != 261$/, rootOnly: true },
  { what: 'fifo replaced by a file', change: (b) => (rmSync(join(b, 'fifo')), writeFileSync(join(b, 'fifo'), '')), expect: /^fifo: type fifo != file$/ },
  { what: 'xattr value', change: (b) => sh('setfattr', '-n', 'user.comment', '-v', 'bye', join(b, 'xattr.txt')), expect: /^xattr\.txt: xattrs differ: .*user\.comment=0x68656c6c6f.* != .*user\.comment=0x627965/ },
  { what: 'xattr removed from a directory', change: (b) => sh('setfattr', '-x', 'user.dir', join(b, 'sub')), expect: /^sub: xattrs differ/ },
  { what: 'xattr added', change: (b) => sh('setfattr', '-n', 'user.new', '-v', '1', join(b, 'hello.txt')), expect: /^hello\.txt: xattrs differ: \[\] != \[user\.new=0x31\]$/ },
  { what: 'xattr of an entry with a newline and a backslash in its name', change: (b) => sh('setfattr', '-n', 'user.odd', '-v', 'ODD', join(b, 'nl\nback\\slash')), expect: /^nl\nback\\slash: xattrs differ/ },
  { what: 'xattr of a non-UTF-8 name', change: (b) => setfattrBad(b, '-x', 'user.bad'), expect: /^bad-\\xff-name: xattrs differ/ },
  {
    what: 'hardlink broken',
    change: (b) => (rmSync(join(b, 'h2')), sh('cp', '-p', join(b, 'h1'), join(b, 'h2'))),
    expect: /^h2: hardlink structure differs \(in a same inode as h1, in b not linked to an earlier name\)$/,
  },
  {
    what: 'hardlink added',
    change: (b) => (rmSync(join(b, 'twin.txt')), linkSync(join(b, 'hello.txt'), join(b, 'twin.txt'))),
    expect: /^twin\.txt: hardlink structure differs/,
  },
  {
    what: 'sparse file made dense',
    change: (b) => (sh('cp', '--sparse=never', '-p', join(base, 'sparse.img'), join(b, 'sparse.img'))),
    expect: /^sparse\.img: sparse in a \(\d+ blocks\) but not in b \(\d+ blocks\)$/,
  },
  { what: 'non-UTF-8 name', change: (b) => renameSync(raw(`${b}/bad-\xff-name`), raw(`${b}/bad-\xfe-name`)), expect: /^missing in b: bad-\\xff-name$/ },
];

for (const c of cases) {
  test(`detects: ${c.what}`, (t) => {
    if (c.rootOnly && !root) {
      if (process.env.CI) assert.fail('needs root (skips are failures in CI)');
      return t.skip('needs root');
    }
    const b = copy();
    c.change(b);
    const diffs = compareTrees(base, b, ALL);
    assert.ok(diffs.some((d) => c.expect.test(d)), `expected ${c.expect} in:\n${diffs.join('\n')}`);
    // only this entry (and the mtime of the directory holding it) differs
    const others = diffs.filter((d) => !c.expect.test(d) && !/: mtime /.test(d));
    assert.ok(others.every((d) => /^extra in b: bad-\\xfe-name$/.test(d)), `unexpected:\n${others.join('\n')}`);
  });
}

test('options: times, owner and xattrs are compared only when asked; atime only with atime', () => {
  const b = copy();
  sh('touch', '-h', '-d', '@1500000000', join(b, 'link'));
  sh('setfattr', '-n', 'user.comment', '-v', 'bye', join(b, 'xattr.txt'));
  if (root) sh('chown', '-h', '1:1', join(b, 'owned'));
  assert.deepEqual(compareTrees(base, b, {}), []);
  assert.equal(compareTrees(base, b, { times: true }).length, 1);
  assert.equal(compareTrees(base, b, { xattrs: true }).length, 1);
  assert.equal(compareTrees(base, b, { owner: true }).length, root ? 1 : 0);
  // atime changes whenever a file is read, so it gets a tree of its own with atimes set explicitly
  const x = join(work.dir, 'atime-a');
  const y = join(work.dir, 'atime-b');
  mkdirSync(join(x, 'dir'), { recursive: true });
  writeFileSync(join(x, 'f'), 'read me\n');
  sh('cp', '-a', x, y);
  sh('touch', '-a', '-d', '@1600000000', join(x, 'f'), join(y, 'f'));
  sh('touch', '-a', '-d', '@1600000005', join(y, 'dir')); // directories' atimes are never compared
  assert.deepEqual(compareTrees(x, y, { atime: true }), []);
  sh('touch', '-a', '-d', '@1600000001', join(y, 'f'));
  assert.deepEqual(compareTrees(x, y, { atime: true }), ['f: atime 1600000000000000000 != 1600000001000000000']);
  assert.equal(statSync(join(x, 'f'), { bigint: true }).atimeNs, 1600000000_000000000n, 'comparing reads with O_NOATIME');
  assert.deepEqual(compareTrees(x, y, ALL), []);
});

test('showName: UTF-8 as is, other bytes as \\xNN', () => {
  assert.equal(showName(Buffer.from('grüße/x')), 'grüße/x');
  assert.equal(showName(raw('bad-\xff\\')), 'bad-\\xff\\x5c');
  assert.equal(showName(Buffer.alloc(0)), '.');
});

test.after(() => work.remove());
