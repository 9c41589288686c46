import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdirSync, readFileSync, writeFileSync, mkdirSync, chmodSync, truncateSync, statSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { makeRepo, PASSWORD, type TestRepo } from './helpers/repo.js';
import { runCli, cliPath } from './helpers/cli.js';
import { prng } from './helpers/fixtures.js';
import { LocalBackend } from '../src/core/backend/local.js';
import { Repository } from '../src/core/repository/repository.js';
import { lockRepository } from '../src/core/repository/lock.js';

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...files(join(dir, e.name)));
    else out.push(join(dir, e.name));
  }
  return out;
}

function flipByte(path: string, at?: number): void {
  const b = readFileSync(path);
  const i = at ?? Math.floor(b.length / 2);
  b[i] ^= 0x40;
  writeFileSync(path, b);
}

async function repoWithData(): Promise<{ r: TestRepo; src: string }> {
  const r = await makeRepo();
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'docs'), { recursive: true });
  writeFileSync(join(src, 'docs', 'a.txt'), 'alpha\n');
  writeFileSync(join(src, 'docs', 'b.bin'), prng('b', 2 * 1024 * 1024));
  writeFileSync(join(src, 'c.bin'), prng('c', 3 * 1024 * 1024));
  const b = await r.run(['backup', src]);
  assert.equal(b.code, 0, b.stderr);
  return { r, src };
}

test('exit codes: usage 2, no repository 10, wrong passphrase 12, locked 11', async (t) => {
  const { r, src } = await repoWithData();
  t.after(() => r.cleanup());
  assert.equal((await runCli(['snapshots'], { env: {} })).code, 2, 'no repository given');
  assert.equal((await runCli(['no-such-command'], { env: {} })).code, 2);
  assert.equal((await r.run(['backup'])).code, 2, 'backup without a path');
  const none = await runCli(['snapshots'], { env: { FLASHBACK_REPOSITORY: join(r.dir, 'nothing-here'), FLASHBACK_PASSWORD: 'x' } });
  assert.equal(none.code, 10);
  assert.match(none.stderr, /no repository/);
  const wrong = await runCli(['snapshots'], { env: { FLASHBACK_REPOSITORY: r.repo, FLASHBACK_PASSWORD: 'not the passphrase' } });
  assert.equal(wrong.code, 12);
  assert.match(wrong.stderr, /wrong passphrase/);
  assert.ok(!wrong.stderr.includes('not the passphrase') && !wrong.stdout.includes('not the passphrase'), 'the passphrase is never printed');
  const none2 = await runCli(['snapshots'], { env: { FLASHBACK_REPOSITORY: r.repo } });
  assert.equal(none2.code, 1);
  assert.match(none2.stderr, /no passphrase/);
  // a live process holding the lock
  const repo = await Repository.open(new LocalBackend(r.repo), PASSWORD);
  const lock = await lockRepository(repo, true);
  const locked = await r.run(['backup', src]);
  assert.equal(locked.code, 11, locked.stderr);
  assert.match(locked.stderr, /locked by PID/);
  assert.equal((await r.run(['snapshots'])).code, 0, 'reading needs no lock');
  await lock.release();
  assert.equal((await r.run(['backup', src])).code, 0);
});

test('a flipped byte in a pack: check --read-data names pack, blobs, snapshot and file; restore reports the file', async (t) => {
  const { r, src } = await repoWithData();
  t.after(() => r.cleanup());
  assert.equal((await r.run(['check', '--read-data'])).code, 0);
  const packs = files(join(r.repo, 'data')).map((p) => ({ p, size: statSync(p).size })).sort((a, b) => b.size - a.size);
  flipByte(packs[0].p, 100); // inside the first blob of the biggest (data) pack
  const quick = await r.run(['check']);
  assert.equal(quick.code, 0, 'structure alone is still intact');
  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 1);
  const name = packs[0].p.split('/').pop()!;
  assert.ok(c.stderr.includes(name), c.stderr);
  assert.match(c.stderr, /does not match its name/);
  assert.match(c.stderr, /blob\(s\) damaged/);
  assert.match(c.stderr, /damaged file\(s\)/);
  assert.match(c.stderr, /(b|c)\.bin/);
  const target = join(r.dir, 'restore');
  const res = await r.run(['restore', `latest:${src}`, '--target', target]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /(b|c)\.bin: .*(authentication|does not match)/);
  assert.equal(readFileSync(join(target, 'docs', 'a.txt'), 'utf8'), 'alpha\n', 'intact files are restored');
});

test('a truncated pack, a damaged index file, a damaged snapshot file: clear errors, check names the damage', async (t) => {
  const { r, src } = await repoWithData();
  t.after(() => r.cleanup());
  const packs = files(join(r.repo, 'data')).sort((a, b) => statSync(b).size - statSync(a).size);
  truncateSync(packs[0], Math.floor(statSync(packs[0]).size / 3));
  const c = await r.run(['check']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /pack is truncated/);
  const idx = files(join(r.repo, 'index'))[0];
  flipByte(idx);
  const c2 = await r.run(['check']);
  assert.equal(c2.code, 1);
  assert.ok(c2.stderr.includes(`index/${idx.split('/').pop()}`), c2.stderr);
  const ls = await r.run(['ls', 'latest']);
  assert.equal(ls.code, 1);
  assert.match(ls.stderr, /index\/[0-9a-f]+: content does not match its name/);
  const snap = files(join(r.repo, 'snapshots'))[0];
  truncateSync(snap, 20);
  const s = await r.run(['snapshots']);
  assert.equal(s.code, 0);
  assert.match(s.stderr, /snapshots\/[0-9a-f]+: .*(damaged|truncated|does not match)/);
  const c3 = await r.run(['check']);
  assert.equal(c3.code, 1);
  assert.ok(c3.stderr.includes(`snapshots/${snap.split('/').pop()}`));
  void src;
});

test('an unreadable source file: reported, counted, snapshot saved, exit code 3', async (t) => {
  const { r, src } = await repoWithData();
  t.after(() => r.cleanup());
  writeFileSync(join(src, 'secret.txt'), 'nobody may read this\n');
  chmodSync(join(src, 'secret.txt'), 0);
  // even root cannot read a mode-000 file without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH
  const p = spawnSync('setpriv', ['--bounding-set', '-dac_override,-dac_read_search', process.execPath, cliPath(), 'backup', src], {
    env: { ...process.env, ...r.env },
    encoding: 'utf8',
  });
  assert.equal(p.status, 3, p.stderr);
  assert.match(p.stderr, /secret\.txt.*(EACCES|cannot read)/);
  assert.match(p.stdout, /snapshot [0-9a-f]{8} saved/);
  const ls = await r.run(['ls', 'latest']);
  assert.ok(ls.stdout.includes('c.bin') && !ls.stdout.includes('secret.txt'));
});

test('a repository that vanished mid-run (device pulled, empty mount point left) is never recreated on the host disk', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const backend = new LocalBackend(r.repo);
  const { renameSync, existsSync } = await import('node:fs');
  renameSync(r.repo, `${r.repo}.pulled`);
  mkdirSync(r.repo); // the empty mount point
  await assert.rejects(backend.save('data', 'ab'.repeat(32), Buffer.from('pack')), (e: Error & { code?: string; hint?: string }) => e.code === 'ERR_IO' && /is gone/.test(e.message) && /plug it in again/.test(e.hint ?? ''));
  await assert.rejects(backend.save('scrub', 'cd'.repeat(32), Buffer.from('record')), /is gone/);
  assert.deepEqual(readdirSync(r.repo), [], 'nothing was written into the empty mount point');
  assert.ok(!existsSync(join(r.repo, 'data')));
});

test('blobs missing from the index: check names the same files with and without --read-data (trees read by the scrub)', async (t) => {
  const { r, src } = await repoWithData();
  t.after(() => r.cleanup());
  const first = new Set(files(join(r.repo, 'index')));
  writeFileSync(join(src, 'docs', 'new.txt'), 'added in the second backup\n');
  assert.equal((await r.run(['backup', src])).code, 0);
  // losing the first backup's index file: the second snapshot's (new) trees still open, and name data blobs
  // that the index no longer knows
  for (const f of first) rmSync(f);
  const runs = [await r.run(['--json', 'check']), await r.run(['--json', 'check', '--read-data'])];
  const found = runs.map((c) => {
    assert.equal(c.code, 1, c.stderr);
    const out = JSON.parse(c.stdout.trim().split('\n').pop()!);
    const missing = out.problems.filter((p: { message: string }) => /missing from the index/.test(p.message));
    return missing.map((p: { message: string }) => p.message.replace(/snapshot [0-9a-f]+/, 'snapshot S')).sort();
  });
  assert.ok(found[0].some((m: string) => m.endsWith(`${src}/c.bin)`)), found[0].join('\n'));
  assert.ok(found[0].some((m: string) => m.endsWith(`${src}/docs/b.bin)`)), found[0].join('\n'));
  assert.deepEqual(found[1], found[0]);
});
