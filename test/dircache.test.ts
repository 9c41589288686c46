/**
 * The host-side directory cache: an unchanged directory reuses its tree without loading the parent's, and
 * every kind of change is still seen (content edited in place, same size and mtime; files added, removed,
 * renamed; chmod; a deep change under unchanged parents); a damaged or foreign cache is ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chmodSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { makeRepo, type TestRepo } from './helpers/repo.js';
import { prng } from './helpers/fixtures.js';
import { compareTrees } from './helpers/tree.js';

async function backup(r: TestRepo, src: string, ...extra: string[]): Promise<{ id: string; tree: string; summary: Record<string, number> }> {
  const b = await r.run(['--json', 'backup', ...extra, src]);
  assert.equal(b.code, 0, b.stderr);
  const s = JSON.parse(b.stdout.trim().split('\n').pop()!);
  const snaps = JSON.parse((await r.run(['--json', 'snapshots'])).stdout) as { id: string; tree: string }[];
  return { id: s.snapshot_id, tree: snaps.find((x) => x.id === s.snapshot_id)!.tree, summary: s };
}

async function restoresAs(r: TestRepo, src: string, what: string): Promise<void> {
  const out = join(r.dir, `out-${Math.random().toString(36).slice(2)}`);
  const res = await r.run(['restore', `latest:${src}`, '--target', out]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(compareTrees(src, out, { times: true }), [], what);
  rmSync(out, { recursive: true, force: true });
}

function tree(src: string): void {
  for (const d of ['a/b/c', 'a/d', 'e']) mkdirSync(join(src, d), { recursive: true });
  writeFileSync(join(src, 'a/b/c/deep.txt'), 'deep one\n');
  writeFileSync(join(src, 'a/b/c/big.bin'), prng('big', 300_000));
  writeFileSync(join(src, 'a/d/one.txt'), 'one\n');
  writeFileSync(join(src, 'e/two.txt'), 'two\n');
  writeFileSync(join(src, 'top.txt'), 'top\n');
}

test('dircache: a no-change backup reuses every tree; each kind of change is still found', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  tree(src);
  const first = await backup(r, src);
  const cacheFiles = readdirSync(join(r.dir, 'cache'), { recursive: true }).map(String).filter((f) => f.endsWith('.json'));
  assert.equal(cacheFiles.length, 1, 'the backup wrote its directory cache on the host');
  const same = await backup(r, src);
  // (the root tree itself may change: it records /tmp, whose mtime other processes move)
  assert.equal(same.summary.dirs_changed + same.summary.dirs_new, 0, 'nothing changed: every tree reused');
  assert.equal(same.summary.files_unmodified, 5);
  assert.equal(same.summary.dirs_from_cache, 6, 'src, a, a/b, a/b/c, a/d and e: all from the cache');

  // content edited in place: same size, mtime put back; only the ctime tells, and no directory mtime moves
  const deep = join(src, 'a/b/c/deep.txt');
  const before = statSync(deep);
  writeFileSync(deep, 'deep two\n');
  utimesSync(deep, before.atime, before.mtime);
  const edited = await backup(r, src);
  assert.equal(edited.summary.files_changed, 1);
  assert.equal(edited.summary.dirs_changed, 4, 'c, b, a and the source directory');
  await restoresAs(r, src, 'an edit deep under unchanged directories');

  writeFileSync(join(src, 'a/d/new.txt'), 'new\n');
  rmSync(join(src, 'e/two.txt'));
  await backup(r, src);
  await restoresAs(r, src, 'a file added and one removed');

  renameSync(join(src, 'a/b'), join(src, 'a/bb'));
  chmodSync(join(src, 'top.txt'), 0o600);
  await backup(r, src);
  await restoresAs(r, src, 'a renamed directory and a chmod');
  const again = await backup(r, src);
  assert.equal(again.summary.dirs_changed + again.summary.dirs_new, 0, 'and then nothing changed again');
});

test('dircache: a damaged cache, another parent, or other options are ignored', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const src = join(r.dir, 'src');
  tree(src);
  const first = await backup(r, src);
  const cacheDir = join(r.dir, 'cache');
  const file = readdirSync(cacheDir, { recursive: true }).map(String).find((f) => f.endsWith('.json'))!;
  writeFileSync(join(cacheDir, file), '{"version":1,"snapshot":"x", garbage');
  const afterDamage = await backup(r, src);
  assert.equal(afterDamage.summary.dirs_changed + afterDamage.summary.dirs_new + afterDamage.summary.files_changed, 0, 'a damaged cache only costs speed');
  assert.equal(afterDamage.summary.dirs_from_cache, 0, 'the damaged cache was not used');
  void first;

  // the cache belongs to the latest snapshot; a backup against an older parent must not use it
  writeFileSync(join(src, 'e/two.txt'), 'two, changed and longer\n');
  const changed = await backup(r, src);
  assert.equal(changed.summary.files_changed, 1);
  writeFileSync(join(src, 'e/two.txt'), 'two\n');
  const back = await backup(r, src, '--parent', first.id);
  await restoresAs(r, src, 'a backup against an older parent');
  assert.equal(back.summary.files_changed, 1);

  // an exclude changes what the trees hold: the cache made without it does not apply
  const excluded = await backup(r, src, '--exclude', 'one.txt');
  assert.ok(excluded.summary.dirs_changed >= 1);
  const ls = await r.run(['ls', 'latest', join(src, 'a/d')]);
  assert.doesNotMatch(ls.stdout, /one\.txt/);
  const noCache = await backup(r, src, '--no-cache');
  assert.equal(noCache.summary.files_unmodified >= 4, true);
});
