/** copy between twins: only missing blobs travel (byte counts and device growth), refusals, a killed copy. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { countPacks, makeRepo, type TestRepo } from './helpers/repo.js';
import { spawnCli } from './helpers/cli.js';
import { prng } from './helpers/fixtures.js';
import { compareTrees } from './helpers/tree.js';
import { copyJson, makeTwin, repoBytes, runFrom } from './helpers/family.js';

async function backup(r: TestRepo, src: string): Promise<Record<string, any>> {
  const b = await r.run(['--json', 'backup', src]);
  assert.equal(b.code, 0, b.stderr);
  return JSON.parse(b.stdout.trim().split('\n').pop()!);
}

async function restoresAs(r: TestRepo, snap: string, src: string, expected: string): Promise<void> {
  const out = join(r.dir, `out-${Math.random().toString(36).slice(2)}`);
  const res = await r.run(['restore', `${snap}:${src}`, '--target', out]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(compareTrees(expected, out, { times: true }), []);
  rmSync(out, { recursive: true, force: true });
}

test('copy fills an empty twin; a second copy sends only the new blobs; a third sends nothing', async (t) => {
  const a = await makeRepo();
  const b = await makeTwin(a);
  t.after(() => (a.cleanup(), b.cleanup()));
  const src = join(a.dir, 'src');
  mkdirSync(join(src, 'docs'), { recursive: true });
  writeFileSync(join(src, 'docs', 'a.txt'), 'alpha\n');
  writeFileSync(join(src, 'big.bin'), prng('big', 3 * 1024 * 1024));
  const s1 = await backup(a, src);
  const seen1 = join(a.dir, 'seen1');
  execFileSync('cp', ['-a', src, seen1]);

  const dry = await copyJson(b, a, ['--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.summary.dry_run, true);
  assert.equal(dry.summary.snapshots_planned, 1);
  assert.equal(dry.summary.bytes_missing_stored, s1.data_added_packed, 'the plan counts exactly what the backup stored');
  assert.deepEqual(readdirSync(join(b.repo, 'snapshots')), [], 'a dry run copies nothing');

  const before1 = repoBytes(b.repo);
  const c1 = await copyJson(b, a);
  assert.equal(c1.code, 0, c1.stderr);
  assert.equal(c1.summary.snapshots_copied, 1);
  assert.equal(c1.summary.data_blobs, s1.data_blobs);
  assert.equal(c1.summary.tree_blobs, s1.tree_blobs);
  assert.equal(c1.summary.bytes_raw, s1.data_added, 'raw bytes sent = what the backup added');
  assert.equal(c1.summary.bytes_stored, s1.data_added_packed, 'stored bytes: re-sealed, not recompressed');
  const grown1 = repoBytes(b.repo) - before1;
  assert.ok(grown1 >= c1.summary.bytes_stored && grown1 < c1.summary.bytes_stored + 16 * 1024, `target grew ${grown1} for ${c1.summary.bytes_stored} stored`);
  t.diagnostic(`first copy: ${c1.summary.blobs_copied} blobs, ${c1.summary.bytes_raw} raw, ${c1.summary.bytes_stored} stored; target grew ${grown1}`);
  await restoresAs(b, 'latest', src, seen1);

  // one more backup on A: the next copy sends exactly the blobs that backup added
  writeFileSync(join(src, 'new.bin'), prng('new', 2 * 1024 * 1024));
  writeFileSync(join(src, 'docs', 'a.txt'), 'alpha, changed\n');
  const s2 = await backup(a, src);
  const seen2 = join(a.dir, 'seen2');
  execFileSync('cp', ['-a', src, seen2]);
  const before2 = repoBytes(b.repo);
  const c2 = await copyJson(b, a);
  assert.equal(c2.code, 0, c2.stderr);
  assert.equal(c2.summary.snapshots_copied, 1);
  assert.equal(c2.summary.snapshots_skipped, 1);
  assert.equal(c2.summary.data_blobs, s2.data_blobs);
  assert.equal(c2.summary.tree_blobs, s2.tree_blobs);
  assert.equal(c2.summary.bytes_raw, s2.data_added);
  assert.equal(c2.summary.bytes_stored, s2.data_added_packed);
  assert.ok(c2.summary.bytes_stored < c1.summary.bytes_stored, 'big.bin did not travel again');
  const grown2 = repoBytes(b.repo) - before2;
  assert.ok(grown2 >= c2.summary.bytes_stored && grown2 < c2.summary.bytes_stored + 16 * 1024, `target grew ${grown2} for ${c2.summary.bytes_stored} stored`);
  t.diagnostic(`second copy: ${c2.summary.blobs_copied} blobs, ${c2.summary.bytes_stored} stored; target grew ${grown2}`);

  // nothing left to send, in either direction
  const before3 = repoBytes(b.repo);
  const c3 = await copyJson(b, a);
  assert.equal(c3.code, 0, c3.stderr);
  assert.equal(c3.summary.snapshots_copied, 0);
  assert.equal(c3.summary.snapshots_skipped, 2);
  assert.equal(c3.summary.blobs_copied, 0);
  assert.equal(c3.summary.bytes_stored, 0);
  assert.equal(repoBytes(b.repo), before3, 'a repeated copy writes nothing');
  const back = await copyJson(a, b);
  assert.equal(back.code, 0, back.stderr);
  assert.equal(back.summary.snapshots_skipped, 2);
  assert.equal(back.summary.blobs_copied, 0);

  const check = await b.run(['check', '--read-data']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const snaps = JSON.parse((await b.run(['--json', 'snapshots'])).stdout);
  assert.equal(snaps.length, 2);
  await restoresAs(b, 'latest~1', src, seen1);
  await restoresAs(b, 'latest', src, seen2);
});

test('copy refuses a repository of another family, and the repository itself', async (t) => {
  const a = await makeRepo();
  const other = await makeRepo();
  t.after(() => (a.cleanup(), other.cleanup()));
  const src = join(a.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'x\n');
  await backup(a, src);
  const before = repoBytes(other.repo);
  const foreign = await runFrom(other, a, ['copy', '--from-repo', a.repo]);
  assert.equal(foreign.code, 1);
  assert.match(foreign.stderr, /not of one family/);
  assert.match(foreign.stderr, /hint: .*init --copy-secrets-from/);
  assert.equal(repoBytes(other.repo), before, 'nothing was written');
  const self = await runFrom(a, a, ['copy', '--from-repo', a.repo]);
  assert.equal(self.code, 1);
  assert.match(self.stderr, /are the same repository/);
  assert.match(self.stderr, /hint: /);
  const usage = await a.run(['copy']);
  assert.equal(usage.code, 2, 'no --from-repo is a usage error');
});

test('a copy killed once packs appear is finished by a rerun, which sends only what is missing', async (t) => {
  const a = await makeRepo(false);
  const init = await a.run(['init', '--pack-size', '1M']);
  assert.equal(init.code, 0, init.stderr);
  const b = await makeTwin(a);
  t.after(() => (a.cleanup(), b.cleanup()));
  const src = join(a.dir, 'src');
  mkdirSync(src);
  for (let i = 0; i < 6; i++) writeFileSync(join(src, `f${i}.bin`), prng(`f${i}`, 8 * 1024 * 1024));
  await backup(a, src);
  const full = (await copyJson(b, a, ['--dry-run'])).summary.bytes_missing_stored as number;

  const child = spawnCli(['copy', '--from-repo', a.repo], { env: { ...b.env, FLASHBACK_FROM_PASSWORD_FILE: a.env.FLASHBACK_PASSWORD_FILE } });
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
  const deadline = Date.now() + 60_000;
  while (countPacks(b.repo) < 3 && child.exitCode === null && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL', 'the copy was killed mid-run');
  assert.deepEqual(readdirSync(join(b.repo, 'snapshots')), [], 'no snapshot before its data is indexed');
  const partial = await b.run(['check']);
  assert.equal(partial.code, 0, 'a killed copy leaves a consistent repository: ' + partial.stderr);

  const rerun = await copyJson(b, a);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.equal(rerun.summary.snapshots_copied, 1);
  assert.ok(rerun.summary.bytes_stored < full, `the rerun sent ${rerun.summary.bytes_stored} of ${full} bytes: the packs of the killed run were adopted`);
  t.diagnostic(`killed copy: rerun sent ${rerun.summary.bytes_stored} of ${full} stored bytes`);
  const check = await b.run(['check', '--read-data']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.doesNotMatch(check.stdout, /not in the index/);
  await restoresAs(b, 'latest', src, src);
});
