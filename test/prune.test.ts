/** prune: plan and dry run, repack, orphans and temporary files, damage, refusal on lost data, locks, kill -9. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnCli } from './helpers/cli.js';
import { prng } from './helpers/fixtures.js';
import { assertRestores, forgetFile, generations, listing, repoBytes } from './helpers/generations.js';

test('prune: the dry run changes nothing; prune deletes and repacks; the rest restores byte-identical; a rerun has nothing to do', async (t) => {
  const g = await generations(t);
  const { r, ids } = g;
  forgetFile(r, ids[0]);
  const before = listing(r.repo);
  const dry = await r.run(['prune', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would delete: [1-9]\d* pack\(s\)/);
  assert.match(dry.stdout, /would repack: [1-9]\d* pack\(s\)/);
  assert.match(dry.stdout, /dry run: nothing was changed/);
  assert.deepEqual(listing(r.repo), before, 'a dry run writes and deletes nothing');

  const planJ = JSON.parse((await r.run(['--json', 'prune', '--dry-run'])).stdout.trim());
  assert.equal(planJ.message_type, 'plan');
  assert.equal(planJ.snapshots, 2);
  const bytesBefore = repoBytes(r.repo);
  const p = await r.run(['--json', 'prune']);
  assert.equal(p.code, 0, p.stderr);
  const [plan, summary] = p.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(plan.packs, planJ.packs, 'prune does what the dry run showed');
  assert.equal(summary.deleted_packs, plan.packs.delete + plan.packs.repack);
  assert.ok(summary.new_packs >= 1 && summary.copied_blobs >= 1);
  const bytesAfter = repoBytes(r.repo);
  assert.ok(bytesBefore - bytesAfter >= 0.8 * plan.bytes.freed, `freed ${bytesBefore - bytesAfter} of the ${plan.bytes.freed} planned`);
  assert.equal(readdirSync(join(r.repo, 'index')).length, 1, 'the index was consolidated into one file');

  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  assert.doesNotMatch(c.stdout, /not in the index/);
  await assertRestores(g, ids.slice(1), 'after prune');

  const again = JSON.parse((await r.run(['--json', 'prune', '--dry-run'])).stdout.trim());
  assert.equal(again.packs.delete, 0);
  assert.equal(again.packs.repack, 0);
  const after = listing(r.repo);
  assert.equal((await r.run(['prune'])).code, 0);
  assert.deepEqual(listing(r.repo), after, 'a prune with nothing to do writes nothing (no churn on flash)');
});

test('prune --max-unused: unlimited only deletes whole packs; 0% repacks every partly used pack', async (t) => {
  const g = await generations(t);
  forgetFile(g.r, g.ids[0]);
  const lazy = JSON.parse((await g.r.run(['--json', 'prune', '--dry-run', '--max-unused', 'unlimited'])).stdout.trim());
  assert.equal(lazy.packs.repack, 0);
  assert.ok(lazy.packs.delete > 0);
  const strict = JSON.parse((await g.r.run(['--json', 'prune', '--dry-run', '--max-unused', '0%'])).stdout.trim());
  assert.ok(strict.packs.repack > 0);
  assert.equal(strict.bytes.unusedAfter, 0);
  const capped = JSON.parse((await g.r.run(['--json', 'prune', '--dry-run', '--max-unused', '0%', '--max-repack-size', '300K'])).stdout.trim());
  assert.ok(capped.bytes.repack <= 300 * 1024 && capped.packs.repack < strict.packs.repack);
  const bad = await g.r.run(['prune', '--max-unused', 'lots']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid size for --max-unused/);
  assert.equal((await g.r.run(['prune', '--max-unused', 'unlimited'])).code, 0);
  assert.equal((await g.r.run(['check', '--read-data'])).code, 0);
  await assertRestores(g, g.ids.slice(1), 'after a lazy prune');
});

test('prune removes packs and temporary files left by an interrupted backup, and keeps what snapshots need', async (t) => {
  const g = await generations(t);
  const { r } = g;
  // an orphan pack: copy of a pack under a new name is not valid (the name is its hash); use a real interrupted
  // backup instead: new data is packed, then the process dies before the index and snapshot are written
  const extra = join(r.dir, 'extra');
  mkdirSync(extra);
  for (let i = 0; i < 300; i++) writeFileSync(join(extra, `x${i}`), prng(`x-${i}`, 30_000));
  const indexBefore = new Set(readdirSync(join(r.repo, 'index')));
  const child = spawnCli(['backup', extra], { env: r.env });
  const packsDir = join(r.repo, 'data');
  // complete packs only (a .tmp file being written is not one yet)
  const count = () => readdirSync(packsDir).reduce((n, d) => n + readdirSync(join(packsDir, d)).filter((f) => /^[0-9a-f]{64}$/.test(f)).length, 0);
  const start = count();
  while (count() < start + 2 && child.exitCode === null) await new Promise((res) => setTimeout(res, 5));
  child.kill('SIGKILL');
  const [, signal] = await new Promise<[number | null, string | null]>((res) => child.once('exit', (c, sig) => res([c, sig])));
  assert.equal(signal, 'SIGKILL', 'the backup was interrupted');
  // a slow machine may let the killed backup write an index checkpoint: drop it, so that every pack it wrote is
  // an orphan (no snapshot references them either way)
  for (const f of readdirSync(join(r.repo, 'index'))) if (!indexBefore.has(f)) rmSync(join(r.repo, 'index', f));
  writeFileSync(join(r.repo, 'data', '00', `${'0'.repeat(64)}.1234abcd.tmp`), 'torn write');
  const p = await r.run(['--json', 'prune']);
  assert.equal(p.code, 0, p.stderr);
  const [plan, summary] = p.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(plan.packs.orphans >= 1, 'the orphan packs were found');
  assert.ok(summary.tmp_files_removed >= 1);
  assert.equal(readdirSync(join(r.repo, 'data', '00')).filter((n) => n.endsWith('.tmp')).length, 0);
  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  assert.doesNotMatch(c.stdout, /not in the index/, 'no orphans are left');
  await assertRestores(g, g.ids, 'after removing orphans');
});

test('prune refuses to delete anything when a pack that snapshots need is missing', async (t) => {
  const g = await generations(t);
  const { r, ids } = g;
  forgetFile(r, ids[0]);
  const plan = JSON.parse((await r.run(['--json', 'prune', '--dry-run', '--max-unused', '0%'])).stdout.trim());
  const victim = plan.repack_packs[0] as string;
  rmSync(join(r.repo, 'data', victim.slice(0, 2), victim));
  const before = listing(r.repo);
  const p = await r.run(['prune']);
  assert.equal(p.code, 1);
  assert.match(p.stderr, /pack\(s\) that snapshots need are missing from the device .*prune stops before deleting anything/);
  assert.match(p.stderr, /hint: run "flashback check"/);
  assert.deepEqual(listing(r.repo), before, 'nothing was deleted or written');
});

test('a damaged blob in a pack to repack: prune leaves that pack alone, reports it, and check still finds the damage', async (t) => {
  const g = await generations(t);
  const { r, ids } = g;
  forgetFile(r, ids[0]);
  const plan = JSON.parse((await r.run(['--json', 'prune', '--dry-run', '--max-unused', '0%'])).stdout.trim());
  const victim = plan.repack_packs[0] as string;
  const path = join(r.repo, 'data', victim.slice(0, 2), victim);
  const bytes = readFileSync(path);
  for (let i = 100; i < bytes.length - 4096; i += 2048) bytes[i] ^= 0x20; // rot all over its blobs
  writeFileSync(path, bytes);
  const p = await r.run(['prune', '--max-unused', '0%']);
  assert.equal(p.code, 1);
  assert.match(p.stderr, new RegExp(`${victim}.*that pack was left as it is`));
  assert.match(p.stderr, /check --read-data/);
  assert.ok(readFileSync(path).equals(bytes), 'the damaged pack is still there, untouched');
  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, new RegExp(victim));
});
