/** forget through the real CLI binary, on real repositories (snapshots made with backup --time). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { makeRepo, PASSWORD, type TestRepo } from './helpers/repo.js';
import { LocalBackend } from '../src/core/backend/local.js';
import { Repository } from '../src/core/repository/repository.js';
import { lockRepository } from '../src/core/repository/lock.js';

async function setup(): Promise<{ r: TestRepo; src: string; backup: (time: string, ...args: string[]) => Promise<string> }> {
  const r = await makeRepo();
  const src = join(r.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'some data');
  const backup = async (time: string, ...args: string[]) => {
    const b = await r.run(['--json', 'backup', '--time', time, ...args, src], { TZ: 'UTC' });
    assert.equal(b.code, 0, b.stderr);
    const summary = b.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((m) => m.message_type === 'summary');
    return summary.snapshot_id as string;
  };
  return { r, src, backup };
}

function snapshotFiles(r: TestRepo): string[] {
  return readdirSync(join(r.repo, 'snapshots')).sort();
}

function dataFiles(r: TestRepo): string[] {
  return readdirSync(join(r.repo, 'data'), { recursive: true, encoding: 'utf8' }).sort();
}

test('forget --keep-daily: --dry-run removes nothing; the run removes exactly the plan; other hosts and data stay', async (t) => {
  const { r, src, backup } = await setup();
  t.after(() => r.cleanup());
  const a1 = await backup('2024-05-01T10:00:00Z', '--host', 'h1');
  const a2 = await backup('2024-05-02T10:00:00Z', '--host', 'h1');
  const a3 = await backup('2024-05-02T18:00:00Z', '--host', 'h1', '--tag', 'x');
  const a4 = await backup('2024-05-03T10:00:00Z', '--host', 'h1');
  const b1 = await backup('2024-05-01T10:00:00Z', '--host', 'h2');
  const all = snapshotFiles(r);
  const data = dataFiles(r);
  assert.equal(all.length, 5);

  const dry = await r.run(['forget', '--keep-daily', '2', '--dry-run'], { TZ: 'UTC' });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /Applying policy: keep 2 daily snapshots/);
  assert.match(dry.stdout, /snapshots for host h1, paths \[.*src\]:/);
  assert.match(dry.stdout, new RegExp(`${a4.slice(0, 8)} .*daily snapshot`));
  assert.match(dry.stdout, /would remove 2 snapshots \(dry run\)/);
  assert.deepEqual(snapshotFiles(r), all, '--dry-run removed nothing');

  const json = await r.run(['--json', 'forget', '--keep-daily', '2', '--host', 'h1', '--dry-run'], { TZ: 'UTC' });
  assert.equal(json.code, 0, json.stderr);
  const groups = JSON.parse(json.stdout);
  assert.equal(groups.length, 1, 'the --host filter leaves h2 out of the plan');
  const g = groups[0];
  assert.deepEqual(Object.keys(g), ['tags', 'host', 'paths', 'keep', 'remove', 'reasons']);
  assert.equal(g.host, 'h1');
  assert.deepEqual(g.paths, [src]);
  assert.equal(g.tags, null);
  assert.deepEqual(g.keep.map((s: { id: string }) => s.id), [a4, a3]);
  assert.deepEqual(g.remove.map((s: { id: string }) => s.id), [a2, a1]);
  assert.deepEqual(g.reasons.map((k: { snapshot: { id: string }; matches: string[] }) => [k.snapshot.id, k.matches]), [[a4, ['daily snapshot']], [a3, ['daily snapshot']]]);
  const listed = JSON.parse((await r.run(['--json', 'snapshots'])).stdout).find((s: { id: string }) => s.id === a3);
  assert.deepEqual(g.keep[1], listed, 'the same snapshot JSON as "snapshots --json"');

  const run = await r.run(['forget', '--keep-daily', '1', '--host', 'h1'], { TZ: 'UTC' });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /removed 3 snapshots/);
  assert.deepEqual(snapshotFiles(r), [a4, b1].sort(), 'h1 keeps its newest; h2 is outside the filter and untouched');
  assert.deepEqual(dataFiles(r), data, 'forget never deletes data');
  assert.deepEqual(readdirSync(join(r.repo, 'locks')), [], 'the lock is released');
  const check = await r.run(['check']);
  assert.equal(check.code, 0, check.stderr + check.stdout);
});

test('forget refuses: no policy (1), a policy keeping nothing of a group (1) unless --force; bad options (2)', async (t) => {
  const { r, backup } = await setup();
  t.after(() => r.cleanup());
  await backup('2024-05-01T10:00:00Z');
  await backup('2024-05-02T10:00:00Z');
  const none = await r.run(['forget']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no policy given/);
  const nothing = await r.run(['forget', '--keep-tag', 'precious']);
  assert.equal(nothing.code, 1);
  assert.match(nothing.stderr, /keeps no snapshot of host/);
  assert.match(nothing.stderr, /--force/);
  assert.equal(snapshotFiles(r).length, 2);
  for (const args of [['--keep-within', '1w'], ['--keep-daily', 'many'], ['--keep-daily', '-1'], ['--group-by', 'hostname', '--keep-last', '1'], ['latest', '--keep-last', '1']]) {
    const u = await r.run(['forget', ...args]);
    assert.equal(u.code, 2, `${args.join(' ')}: ${u.stderr}`);
  }
  assert.equal(snapshotFiles(r).length, 2);
  const forced = await r.run(['forget', '--keep-tag', 'precious', '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(snapshotFiles(r), []);
});

test('forget ID...: prefixes, latest and latest~N resolve within the filters; only those are removed', async (t) => {
  const { r, backup } = await setup();
  t.after(() => r.cleanup());
  const a1 = await backup('2024-05-01T10:00:00Z', '--host', 'h1');
  const a2 = await backup('2024-05-02T10:00:00Z', '--host', 'h1');
  const a3 = await backup('2024-05-03T10:00:00Z', '--host', 'h1');
  const b1 = await backup('2024-05-04T10:00:00Z', '--host', 'h2');
  const latest = await r.run(['forget', '--host', 'h1', 'latest']);
  assert.equal(latest.code, 0, latest.stderr);
  assert.match(latest.stdout, /removed 1 snapshot\b/);
  assert.deepEqual(snapshotFiles(r), [a1, a2, b1].sort(), '"latest" of h1, not the newest overall');
  const missing = await r.run(['forget', a1.slice(0, 10), 'abcdef0123']);
  assert.equal(missing.code, 1);
  assert.deepEqual(snapshotFiles(r), [a1, a2, b1].sort(), 'an unknown id stops before anything is removed');
  const dry = await r.run(['--json', 'forget', '--dry-run', a1.slice(0, 10), 'latest~1', a1]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(JSON.parse(dry.stdout)[0].remove.map((s: { id: string }) => s.id), [a2, a1], 'each once, newest first');
  const two = await r.run(['forget', a1.slice(0, 10), 'latest~1']);
  assert.equal(two.code, 0, two.stderr);
  assert.deepEqual(snapshotFiles(r), [b1]);
  void a3;
});

test('forget buckets days in the local time zone (TZ=Europe/Berlin vs UTC); backup --time reads local times', async (t) => {
  const { r, backup } = await setup();
  t.after(() => r.cleanup());
  await backup('2024-03-20T12:00:00Z');
  const late30 = await backup('2024-03-30T22:30:00Z'); // 30 March 23:30 CET
  const b = await r.run(['--json', 'backup', '--time', '2024-03-31 00:30:00', join(r.dir, 'src')], { TZ: 'Europe/Berlin' });
  assert.equal(b.code, 0, b.stderr);
  const early31 = JSON.parse(b.stdout.split('\n').filter(Boolean).pop()!).snapshot_id as string;
  const show = JSON.parse((await r.run(['--json', 'cat', 'snapshot', early31])).stdout);
  assert.equal(show.time, '2024-03-30T23:30:00.000Z', 'local 00:30 CET is 23:30 UTC');
  await backup('2024-03-31T21:59:00Z'); // 31 March 23:59 CEST
  const plan = async (tz: string) => {
    const p = await r.run(['--json', 'forget', '--keep-daily', '10', '--dry-run'], { TZ: tz });
    assert.equal(p.code, 0, p.stderr);
    return JSON.parse(p.stdout)[0].remove.map((s: { id: string }) => s.id);
  };
  assert.deepEqual(await plan('Europe/Berlin'), [early31], 'in Berlin 00:30 and 23:59 on 31 March are the same day');
  assert.deepEqual(await plan('UTC'), [late30], 'in UTC 22:30 and 23:30 on 30 March are the same day');
  const bad = await r.run(['backup', '--time', 'yesterday', join(r.dir, 'src')]);
  assert.equal(bad.code, 2);
});

test('forget takes an exclusive lock (exit 11 while another process holds one); --dry-run only reads', async (t) => {
  const { r, backup } = await setup();
  t.after(() => r.cleanup());
  await backup('2024-05-01T10:00:00Z');
  await backup('2024-05-02T10:00:00Z');
  const repo = await Repository.open(new LocalBackend(r.repo), PASSWORD);
  const lock = await lockRepository(repo, true);
  try {
    const locked = await r.run(['forget', '--keep-last', '1']);
    assert.equal(locked.code, 11, locked.stderr);
    assert.equal(snapshotFiles(r).length, 2);
    const dry = await r.run(['forget', '--keep-last', '1', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
  } finally {
    await lock.release();
  }
  assert.equal((await r.run(['forget', '--keep-last', '1'])).code, 0);
  assert.equal(snapshotFiles(r).length, 1);
});
