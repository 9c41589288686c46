import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readFileSync, rmSync, writeFileSync, renameSync, mkdirSync, symlinkSync } from 'node:fs';
import { makeRepo, tempDir, PASSWORD } from './helpers/repo.js';
import { LocalBackend } from '../src/core/backend/local.js';
import { Repository } from '../src/core/repository/repository.js';
import { Restorer } from '../src/core/restorer/restorer.js';
import { makeEverythingTree, prng } from './helpers/fixtures.js';
import { compareTrees } from './helpers/tree.js';

test('backup → restore gives back every kind of entry with full metadata', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  makeEverythingTree(src);
  const b = await r.run(['backup', src]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /snapshot [0-9a-f]{8} saved/);
  const target = join(r.dir, 'restored');
  const res = await r.run(['restore', `latest:${src}`, '--target', target, '--verify']);
  assert.equal(res.code, 0, res.stderr);
  const diffs = compareTrees(src, target, { times: true, owner: true, xattrs: true });
  assert.deepEqual(diffs, []);
  // a full restore recreates the absolute path under the target
  const full = join(r.dir, 'full');
  const res2 = await r.run(['restore', 'latest', '--target', full]);
  assert.equal(res2.code, 0, res2.stderr);
  assert.deepEqual(compareTrees(src, join(full, src), { times: true, owner: true, xattrs: true }), []);
  // check --read-data is clean
  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /no errors were found/);
});

test('incremental: unchanged files are not read again, deleted files stay in older snapshots', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'keep.txt'), 'keep\n');
  writeFileSync(join(src, 'gone.txt'), 'will be deleted\n');
  writeFileSync(join(src, 'big.bin'), prng('big', 5 * 1024 * 1024));
  assert.equal((await r.run(['backup', src])).code, 0);
  const second = await r.run(['--json', 'backup', src]);
  assert.equal(second.code, 0, second.stderr);
  const s2 = JSON.parse(second.stdout.trim().split('\n').pop()!);
  assert.equal(s2.files_unmodified, 3);
  assert.equal(s2.files_new + s2.files_changed, 0);
  assert.equal(s2.data_blobs, 0, 'a rerun with no change adds no file data (only trees of ancestors like /tmp may change)');
  rmSync(join(src, 'gone.txt'));
  writeFileSync(join(src, 'keep.txt'), 'keep, changed\n');
  const third = await r.run(['--json', 'backup', src]);
  const s3 = JSON.parse(third.stdout.trim().split('\n').pop()!);
  assert.equal(s3.files_changed, 1);
  assert.equal(s3.files_unmodified, 1);
  const latest = join(r.dir, 'latest');
  assert.equal((await r.run(['restore', `latest:${src}`, '--target', latest])).code, 0);
  assert.ok(!existsSync(join(latest, 'gone.txt')));
  assert.equal(readFileSync(join(latest, 'keep.txt'), 'utf8'), 'keep, changed\n');
  const older = join(r.dir, 'older');
  assert.equal((await r.run(['restore', `latest~1:${src}/gone.txt`, '--target', older])).code, 0);
  assert.equal(readFileSync(join(older, 'gone.txt'), 'utf8'), 'will be deleted\n');
  const diff = await r.run(['diff', 'latest~1', 'latest']);
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(diff.stdout, /^-\s+.*gone\.txt$/m);
  assert.match(diff.stdout, /^M\s+.*keep\.txt$/m);
});

test('moving or renaming a directory costs (almost) no new space', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'Videos'), { recursive: true });
  for (let i = 0; i < 4; i++) writeFileSync(join(src, 'Videos', `clip-${i}.bin`), prng(`clip${i}`, 3 * 1024 * 1024));
  writeFileSync(join(src, 'copy-of-clip-0.bin'), prng('clip0', 3 * 1024 * 1024));
  const first = JSON.parse((await r.run(['--json', 'backup', src])).stdout.trim().split('\n').pop()!);
  assert.ok(first.data_added >= 12 * 1024 * 1024 && first.data_added < 13 * 1024 * 1024, 'the duplicate file was stored once');
  mkdirSync(join(src, 'Archive', '2023'), { recursive: true });
  renameSync(join(src, 'Videos'), join(src, 'Archive', '2023', 'Movies'));
  const moved = JSON.parse((await r.run(['--json', 'backup', src])).stdout.trim().split('\n').pop()!);
  assert.equal(moved.files_new, 4, 'the moved files are new paths');
  assert.ok(moved.data_added_packed < 0.01 * 12 * 1024 * 1024, `moved directory added ${moved.data_added_packed} bytes`);
});

test('a source below a symlinked directory (/home -> /usr/home): the link is recorded as the directory it leads to, so the snapshot lists and restores', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  mkdirSync(join(r.dir, 'real', 'docs'), { recursive: true });
  writeFileSync(join(r.dir, 'real', 'docs', 'a.txt'), 'kept\n');
  symlinkSync('real', join(r.dir, 'link'));
  const src = join(r.dir, 'link', 'docs');
  assert.equal((await r.run(['backup', src])).code, 0);
  const ls = await r.run(['ls', 'latest']);
  assert.match(ls.stdout, new RegExp(`^${join(r.dir, 'link', 'docs', 'a.txt')}$`, 'm'));
  const out = join(r.dir, 'out');
  const res = await r.run(['restore', 'latest', '--target', out]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(readFileSync(join(out, src, 'a.txt'), 'utf8'), 'kept\n');
});

test('a file that changes while it is read is reported, and the snapshot is still saved', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(src);
  const growing = join(src, 'growing.log');
  writeFileSync(growing, prng('log', 32 * 1024 * 1024));
  writeFileSync(join(src, 'calm.txt'), 'calm\n');
  // a writer that keeps appending for the whole backup
  const { spawn } = await import('node:child_process');
  const writer = spawn(process.execPath, ['-e', `const fs=require('fs');setInterval(()=>fs.appendFileSync(${JSON.stringify(growing)},'x'.repeat(4096)),2)`]);
  t.after(() => writer.kill('SIGKILL'));
  await new Promise((res) => setTimeout(res, 100));
  const b = await r.run(['backup', src]);
  writer.kill('SIGKILL');
  assert.equal(b.code, 0, 'a changed file is a warning, not an unreadable file');
  assert.match(b.stderr, /growing\.log: file (changed|size changed)/);
  assert.match(b.stdout, /snapshot [0-9a-f]{8} saved/);
  const out = join(r.dir, 'out');
  assert.equal((await r.run(['restore', `latest:${src}`, '--target', out])).code, 0);
  assert.equal(readFileSync(join(out, 'calm.txt'), 'utf8'), 'calm\n');
});

test('restore totals: counted alongside the restore, taken from the summary, or known at the end', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'd', 'e'), { recursive: true });
  const sizes = [0, 1, 5000, 70_000, 300_000];
  sizes.forEach((n, i) => writeFileSync(join(src, i % 2 ? 'd' : join('d', 'e'), `f${i}`), prng(`t${i}`, n)));
  symlinkSync('f1', join(src, 'd', 'link'));
  assert.equal((await r.run(['backup', src])).code, 0);
  const repo = await Repository.open(new LocalBackend(r.repo), PASSWORD);
  const sn = await repo.snapshots.resolve('latest');
  const bytes = sizes.reduce((a, b) => a + b, 0);
  for (const [i, opts] of [{}, { count: true }, { count: true, expected: { files: 41, bytes: 42 } }].entries()) {
    const restorer = new Restorer(repo, sn.snapshot.tree, { target: join(r.dir, `out${i}`), subpath: `${src}/d`, ...opts });
    const run = restorer.run();
    if ('expected' in opts) assert.deepEqual([restorer.state.totalFiles, restorer.state.totalBytes], [41, 42], 'known at once');
    const st = await run;
    // whatever was shown while restoring, the totals at the end are what the walk found
    assert.deepEqual([st.totalFiles, st.totalBytes, st.files, st.bytes], [5, bytes, 5, bytes]);
  }
  // the CLI: a whole snapshot's summary; --json reports the walk's totals
  const out = await r.run(['--json', 'restore', 'latest', '--target', join(r.dir, 'cli')]);
  assert.equal(out.code, 0, out.stderr);
  const summary = JSON.parse(out.stdout.trim().split('\n').pop()!);
  assert.deepEqual([summary.total_files, summary.total_bytes, summary.files_restored], [5, bytes, 5]);
  const snap = JSON.parse((await r.run(['--json', 'snapshots'])).stdout)[0];
  assert.equal(snap.summary.files_new, 5, 'the summary counts regular files only, as the restore does');
  assert.equal(snap.summary.total_bytes_processed, bytes);
});
