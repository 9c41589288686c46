import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { makeRepo, backupUntilPacks, countPacks as packsIn } from './helpers/repo.js';
import { prng } from './helpers/fixtures.js';
import { compareTrees } from './helpers/tree.js';

function lastJson(s: string) {
  return JSON.parse(s.trim().split('\n').pop()!);
}

test('kill -9 during a backup: the repository checks clean, older snapshots restore, the rerun reuses written data', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'small'), { recursive: true });
  writeFileSync(join(src, 'small', 'a.txt'), 'first snapshot\n');
  const first = await r.run(['backup', src]);
  assert.equal(first.code, 0, first.stderr);
  // enough incompressible data for several packs
  for (let i = 0; i < 12; i++) writeFileSync(join(src, `big-${i}.bin`), prng(`big${i}`, 8 * 1024 * 1024));
  // wait until a few packs reached the device, then pull the plug
  const before = packsIn(r.repo);
  const running = await backupUntilPacks(r, src, 3);
  await running.stop('SIGKILL');
  assert.ok(packsIn(r.repo) >= before + 3, `the backup wrote packs before it was killed (${running.stderr()})`);
  const check = await r.run(['check', '--read-data']);
  assert.equal(check.code, 0, check.stderr + check.stdout);
  const snaps = JSON.parse((await r.run(['--json', 'snapshots'])).stdout);
  assert.equal(snaps.length, 1, 'the killed backup left no snapshot');
  const old = join(r.dir, 'old');
  assert.equal((await r.run(['restore', `latest:${src}/small`, '--target', old])).code, 0);
  assert.deepEqual(compareTrees(join(src, 'small'), old, { times: true }), []);
  const rerun = await r.run(['--json', 'backup', src]);
  assert.equal(rerun.code, 0, rerun.stderr);
  const s = lastJson(rerun.stdout);
  const total = 12 * 8 * 1024 * 1024;
  assert.ok(s.data_added < total - 2 * 16 * 1024 * 1024, `the rerun reused what was written (added ${s.data_added} of ${total})`);
  const full = join(r.dir, 'full');
  assert.equal((await r.run(['restore', `latest:${src}`, '--target', full])).code, 0);
  assert.deepEqual(compareTrees(src, full, { times: true }), []);
  assert.equal((await r.run(['check', '--read-data'])).code, 0);
});

test('Ctrl-C during a backup exits 130 after indexing what was written; the rerun reuses it', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  mkdirSync(src);
  for (let i = 0; i < 16; i++) writeFileSync(join(src, `big-${i}.bin`), prng(`int${i}`, 8 * 1024 * 1024));
  const running = await backupUntilPacks(r, src, 2);
  const code = await running.stop('SIGINT');
  assert.equal(code, 130, `exit code ${code} (packs seen: ${packsIn(r.repo)}): ${running.stderr()}`);
  assert.match(running.stderr(), /interrupted/);
  assert.ok(readdirSync(join(r.repo, 'index')).length >= 1, 'the packs written before Ctrl-C were indexed');
  assert.equal((await r.run(['check'])).code, 0);
  const rerun = await r.run(['--json', 'backup', src]);
  assert.equal(rerun.code, 0, rerun.stderr);
  const s = lastJson(rerun.stdout);
  assert.ok(s.data_added <= 128 * 1024 * 1024 - 16 * 1024 * 1024, `the rerun reused the interrupted run's data (added ${s.data_added})`);
  assert.equal((await r.run(['check', '--read-data-subset', '50%'])).code, 0);
  assert.equal((await r.run(['check', '--read-data-subset', '150%'])).code, 2);
});
