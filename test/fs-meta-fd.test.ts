/**
 * applyFileMetaFd: what a restore worker sets on a file it has just written, through the descriptor it wrote
 * with (blobwork/worker.ts): owner, mode and nanosecond times, in applyNode's order and with its warnings.
 * The addon's fstatInto: what a backup's chunk worker compares before and after reading a file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyFileMetaFd } from '../src/core/fs/meta.js';
import { addon } from '../src/core/util/addon.js';
import { AFTER_2038, BEFORE_1970, lstat, nodeOf } from './helpers/meta.js';

let dir: string;
const p = (name: string) => Buffer.from(path.join(dir, name));

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashback-fs-meta-fd-'));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('times and mode', () => {
  test('applyFileMetaFd: mode and nanosecond times through the descriptor, before 1970 and after 2038', () => {
    for (const ns of [BEFORE_1970, AFTER_2038]) {
      const file = p(`fd-times-${ns}`);
      const fd = fs.openSync(file, 'w', 0o600);
      try {
        assert.deepEqual(applyFileMetaFd(fd, { mode: 0o640, uid: 0, gid: 0, atime: ns + 1n, mtime: ns }, false), []);
      } finally {
        fs.closeSync(fd);
      }
      const back = nodeOf(file);
      assert.equal(back.mtime, ns);
      assert.equal(back.atime, ns + 1n);
      assert.equal(back.mode, 0o640);
    }
    // a closed descriptor: every step is a warning, as with applyNode
    const fd = fs.openSync(p('fd-closed'), 'w');
    fs.closeSync(fd);
    const warnings = applyFileMetaFd(fd, { mode: 0o644, uid: 0, gid: 0, atime: 0n, mtime: 0n }, false);
    assert.deepEqual(warnings.map((w) => w.split(':')[0]), ['chmod 0o644', 'set times']);
    assert.match(warnings[1], /EBADF/);
  });

});

describe('owner', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  test('applyFileMetaFd: owner then mode, so setuid and setgid survive; owner: false leaves the owner', () => {
    const file = p('fd-suid');
    let fd = fs.openSync(file, 'w', 0o600);
    try {
      assert.deepEqual(applyFileMetaFd(fd, { mode: 0o6755, uid: 4321, gid: 5432, atime: 0n, mtime: 0n }, true), []);
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(lstat(file).mode & 0o7777n, 0o6755n);
    assert.equal(lstat(file).uid, 4321n);
    assert.equal(lstat(file).gid, 5432n);
    fd = fs.openSync(file, 'r+');
    try {
      assert.deepEqual(applyFileMetaFd(fd, { mode: 0o644, uid: 1, gid: 1, atime: 0n, mtime: 0n }, false), []);
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(lstat(file).uid, 4321n);
    assert.equal(lstat(file).mode & 0o7777n, 0o644n);
  });

});

test('fstatInto: size, mtime and ctime in nanoseconds, as fstat gives them; errors for a bad descriptor or array', () => {
  const file = p('fstat-into');
  fs.writeFileSync(file, 'x'.repeat(12345));
  fs.utimesSync(file, 1, new Date(-1500));
  const fd = fs.openSync(file, 'r');
  try {
    const out = new BigInt64Array(3);
    addon().fstatInto(fd, out);
    const st = fs.fstatSync(fd, { bigint: true });
    assert.deepEqual([...out], [12345n, st.mtimeNs, st.ctimeNs]);
    assert.equal(out[1], -1_500_000_000n, 'before 1970');
    assert.throws(() => addon().fstatInto(fd, new BigInt64Array(2) as BigInt64Array), TypeError);
    assert.throws(() => addon().fstatInto(fd, new Float64Array(3) as unknown as BigInt64Array), TypeError);
  } finally {
    fs.closeSync(fd);
  }
  assert.throws(() => addon().fstatInto(fd, new BigInt64Array(3)), (e: NodeJS.ErrnoException) => e.code === 'EBADF');
});

test('tuneMalloc: glibc takes the settings the CLI uses (elsewhere it says no); bad arguments are a TypeError', () => {
  const glibc = !!(process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  assert.equal(addon().tuneMalloc(2, 128 * 1024), glibc);
  assert.equal(addon().tuneMalloc(0, 0), glibc, '0: leave as is');
  assert.throws(() => addon().tuneMalloc(-1 as number, 0), TypeError);
  assert.throws(() => addon().tuneMalloc('2' as unknown as number, 0), TypeError);
});

test('releasePages / releaseScratch: whole pages past `keep` read as zeros and leave RSS; bytes before stay; bad arguments are refused', async () => {
  const { releaseScratch, SCRATCH_KEEP } = await import('../src/core/util/scratch.js');
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
  const buf = Buffer.allocUnsafeSlow(SCRATCH_KEEP + 32 * 1024 * 1024);
  buf.fill(7);
  const before = rss();
  const released = releaseScratch(buf);
  const page = 4096;
  assert.ok(released >= 32 * 1024 * 1024 - 2 * page && released <= 32 * 1024 * 1024, `released ${released}`);
  assert.ok(before - rss() >= 24 * 1024 * 1024, `RSS ${before} → ${rss()}`);
  assert.equal(buf[SCRATCH_KEEP - 1], 7, 'bytes before keep are kept');
  assert.equal(buf[SCRATCH_KEEP + 2 * page], 0, 'released pages read as zeros');
  assert.equal(buf[buf.length - 2 * page], 0);
  assert.equal(releaseScratch(Buffer.alloc(1024)), 0, 'a buffer no longer than keep is left alone');
  assert.equal(addon().releasePages(Buffer.alloc(100), 100), 0, 'nothing past the end');
  assert.throws(() => addon().releasePages(Buffer.alloc(100), 101), TypeError);
  assert.throws(() => addon().releasePages(Buffer.alloc(100), -1), TypeError);
  assert.throws(() => addon().releasePages(new Uint16Array(8) as unknown as Uint8Array, 0), TypeError);
});
