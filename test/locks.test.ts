/** Locks: shared vs exclusive, stale detection (dead pid, reused pid, other host), refresh, retry, unlock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { spawn } from 'node:child_process';
import { makeRepo, PASSWORD } from './helpers/repo.js';
import { LocalBackend } from '../src/core/backend/local.js';
import { Repository } from '../src/core/repository/repository.js';
import { listLocks, lockRepository, writeLock, STALE_AFTER_MS } from '../src/core/repository/lock.js';

async function setup() {
  const r = await makeRepo();
  const src = join(r.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'alpha\n');
  const repo = await Repository.open(new LocalBackend(r.repo), PASSWORD);
  return { r, src, repo };
}

const lockFiles = (repo: string) => readdirSync(join(repo, 'locks')).filter((n) => /^[0-9a-f]{64}$/.test(n));

test('shared locks coexist; an exclusive lock excludes both kinds, both ways', async (t) => {
  const { r, src, repo } = await setup();
  t.after(() => r.cleanup());
  const shared = await lockRepository(repo, false);
  assert.equal((await r.run(['backup', src])).code, 0, 'a backup runs beside another shared holder (e.g. a restore)');
  await assert.rejects(lockRepository(repo, true), (e: Error & { code?: string }) => e.code === 'ERR_LOCKED' && /locked by PID/.test(e.message));
  await shared.release();
  const excl = await lockRepository(repo, true);
  const b = await r.run(['backup', src]);
  assert.equal(b.code, 11, b.stderr);
  assert.match(b.stderr, /exclusively locked by PID \d+/);
  assert.match(b.stderr, /--retry-lock/);
  const res = await r.run(['restore', 'latest', '--target', join(r.dir, 'out')]);
  assert.equal(res.code, 11, 'restore waits for prune-like exclusive holders');
  for (const cmd of [['snapshots'], ['ls', 'latest'], ['find', 'a.txt']]) {
    assert.equal((await r.run(cmd)).code, 0, `${cmd[0]} needs no lock`);
  }
  await excl.release();
  assert.deepEqual(lockFiles(r.repo), [], 'release removes the lock file');
});

test('a lock left by a killed process is stale and cleared without unlock', async (t) => {
  const { r, src, repo } = await setup();
  t.after(() => r.cleanup());
  // a real process takes the lock, then dies without releasing it
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { LocalBackend } = await import(${JSON.stringify(new URL('../src/core/backend/local.js', import.meta.url).href)});
    const { Repository } = await import(${JSON.stringify(new URL('../src/core/repository/repository.js', import.meta.url).href)});
    const { lockRepository } = await import(${JSON.stringify(new URL('../src/core/repository/lock.js', import.meta.url).href)});
    const repo = await Repository.open(new LocalBackend(${JSON.stringify(r.repo)}), ${JSON.stringify(PASSWORD)});
    await lockRepository(repo, true);
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  assert.equal((await r.run(['backup', src])).code, 11, 'held while the process lives');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const b = await r.run(['backup', '-v', src]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /removed a stale lock of PID \d+ on .*: process \d+ is not running/);
  assert.deepEqual(lockFiles(r.repo), []);
});

test('a reused pid, and an old lock of another host, are stale; a fresh one of another host is not', async (t) => {
  const { r, src, repo } = await setup();
  t.after(() => r.cleanup());
  const base = { exclusive: true, username: 'ann' };
  // our own pid, but another process start time: the pid was reused after a crash and reboot
  await writeLock(repo, { ...base, time: new Date().toISOString(), hostname: hostname(), pid: process.pid, pid_start: '1' });
  const other = await writeLock(repo, { ...base, time: new Date(Date.now() - 5 * 60_000).toISOString(), hostname: 'elsewhere', pid: 4242 });
  let b = await r.run(['backup', '-v', src]);
  assert.equal(b.code, 11, 'the fresh lock of another host holds');
  assert.match(b.stderr, /locked by PID 4242 on elsewhere \(ann\)/);
  assert.ok(!lockFiles(r.repo).some((n) => n !== other), 'the reused-pid lock was removed');
  await repo.backend.remove('locks', other);
  await writeLock(repo, { ...base, time: new Date(Date.now() - STALE_AFTER_MS - 60_000).toISOString(), hostname: 'elsewhere', pid: 4242 });
  b = await r.run(['backup', '-v', src]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /stale lock of PID 4242 on elsewhere: not refreshed for \d+ minutes/);
});

test('unlock removes only stale locks; --remove-all removes every lock', async (t) => {
  const { r, repo } = await setup();
  t.after(() => r.cleanup());
  const live = await lockRepository(repo, false);
  await writeLock(repo, { exclusive: false, username: '', time: new Date(0).toISOString(), hostname: 'elsewhere', pid: 7 });
  const u = await r.run(['unlock']);
  assert.equal(u.code, 0, u.stderr);
  assert.match(u.stdout + u.stderr, /removed 1 stale lock/);
  assert.equal(lockFiles(r.repo).length, 1, 'the live lock stays');
  const all = await r.run(['unlock', '--remove-all']);
  assert.match(all.stdout + all.stderr, /removed 1 lock/);
  assert.equal(lockFiles(r.repo).length, 0);
  await assert.rejects(live.check(), /lock was lost/, 'the holder notices before it changes anything more');
  await live.release();
});

test('a held lock is refreshed rarely (one file at a time) and --retry-lock waits for the holder', async (t) => {
  const { r, src, repo } = await setup();
  t.after(() => r.cleanup());
  const lock = await lockRepository(repo, true, { refreshMs: 100 });
  const first = (await listLocks(repo))[0].rec.time;
  await new Promise((res) => setTimeout(res, 450));
  await lock.check();
  const now = await listLocks(repo);
  assert.equal(now.length, 1, 'a refresh replaces the lock file, never accumulates');
  assert.ok(now[0].rec.time > first, 'the refreshed lock carries a newer time');
  setTimeout(() => void lock.release(), 1500);
  const started = Date.now();
  const b = await r.run(['backup', '--retry-lock', '20s', src]);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(Date.now() - started >= 1000, 'the backup waited for the lock');
  const bad = await r.run(['backup', '--retry-lock', 'soon', src]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid duration for --retry-lock/);
});

test('two exclusive lockers started together: exactly one wins', async (t) => {
  const { r, repo } = await setup();
  t.after(() => r.cleanup());
  const repo2 = await Repository.open(new LocalBackend(r.repo), PASSWORD);
  const results = await Promise.allSettled([lockRepository(repo, true), lockRepository(repo2, true)]);
  const won = results.filter((x) => x.status === 'fulfilled');
  // both may back off (each saw the other): then neither holds it, which is safe; never both
  assert.ok(won.length <= 1, 'never two exclusive holders');
  for (const w of won) await (w as PromiseFulfilledResult<Awaited<ReturnType<typeof lockRepository>>>).value.release();
  const spans: [number, number][] = [];
  const retry = await Promise.allSettled([repo, repo2].map(async (rp) => {
    const l = await lockRepository(rp, true, { retryMs: 20_000 });
    const start = performance.now();
    await new Promise((res) => setTimeout(res, 150));
    spans.push([start, performance.now()]);
    await l.release();
  }));
  for (const x of retry) assert.equal(x.status, 'fulfilled', 'with --retry-lock both get their turn');
  spans.sort((a, b) => a[0] - b[0]);
  assert.ok(spans[0][1] <= spans[1][0], 'one holder at a time');
});

test('a lock that fails after its file is written (the device pulled out while listing locks) is not left "held": the next run of the same process takes the lock', async (t) => {
  const { r, repo } = await setup();
  t.after(() => r.cleanup());
  const backend = repo.backend as LocalBackend;
  const listNames = backend.listNames.bind(backend);
  const remove = backend.remove.bind(backend);
  // the device goes away right after the lock file is written: listing and removing fail
  backend.listNames = async function* () {
    yield* [];
    throw Object.assign(new Error('ECONNABORTED: software caused connection abort, scandir'), { code: 'ECONNABORTED' });
  };
  backend.remove = async () => {
    throw Object.assign(new Error('ECONNABORTED'), { code: 'ECONNABORTED' });
  };
  await assert.rejects(lockRepository(repo, false), /ECONNABORTED/);
  assert.equal(lockFiles(r.repo).length, 1, 'its file stayed behind');
  // plugged in again: the same process (watch) runs prune, which needs the lock exclusively
  backend.listNames = listNames;
  backend.remove = remove;
  const stale: string[] = [];
  const excl = await lockRepository(repo, true, { onStale: (_rec, why) => stale.push(why) });
  assert.deepEqual(stale, ['left by an earlier run of this process (its release failed)']);
  await excl.release();
  assert.deepEqual(lockFiles(r.repo), []);
});
