import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { makeRepo, countPacks as packsIn } from './helpers/repo.js';
import { spawnCli } from './helpers/cli.js';
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
  const child = spawnCli(['backup', src], { env: r.env });
  let stderr = '';
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  // wait until at least a few packs reached the device, then pull the plug
  const countPacks = () => packsIn(r.repo);
  const before = countPacks();
  const deadline = Date.now() + 60000;
  while (countPacks() < before + 3 && Date.now() < deadline && child.exitCode === null) await new Promise((res) => setTimeout(res, 20));
  child.kill('SIGKILL');
  await new Promise((res) => child.on('exit', res));
  assert.ok(countPacks() >= before + 3, `the backup wrote packs before it was killed (${stderr})`);
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
  const child = spawnCli(['backup', src], { env: r.env });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const countPacks = () => packsIn(r.repo);
  const deadline = Date.now() + 60000;
  while (countPacks() < 2 && Date.now() < deadline && child.exitCode === null) await new Promise((res) => setTimeout(res, 20));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 130, `exit code ${code} (packs seen: ${countPacks()}): ${stderr}`);
  assert.match(stderr, /interrupted/);
  assert.ok(readdirSync(join(r.repo, 'index')).length >= 1, 'the packs written before Ctrl-C were indexed');
  assert.equal((await r.run(['check'])).code, 0);
  const rerun = await r.run(['--json', 'backup', src]);
  assert.equal(rerun.code, 0, rerun.stderr);
  const s = lastJson(rerun.stdout);
  assert.ok(s.data_added <= 128 * 1024 * 1024 - 16 * 1024 * 1024, `the rerun reused the interrupted run's data (added ${s.data_added})`);
  assert.equal((await r.run(['check', '--read-data-subset', '50%'])).code, 0);
  assert.equal((await r.run(['check', '--read-data-subset', '150%'])).code, 2);
});
