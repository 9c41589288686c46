/** repair index (lost and damaged index files), repair packs + repair snapshots (bit rot), healing by backup. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { makeRepo, type TestRepo } from './helpers/repo.js';
import { prng } from './helpers/fixtures.js';
import { compareTrees } from './helpers/tree.js';

async function twoSnapshots(r: TestRepo): Promise<{ src: string; seen: string[]; ids: string[] }> {
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'docs'), { recursive: true });
  writeFileSync(join(src, 'docs', 'a.txt'), 'alpha\n');
  writeFileSync(join(src, 'big.bin'), prng('big', 3 * 1024 * 1024));
  const seen: string[] = [];
  const ids: string[] = [];
  for (const gen of [1, 2]) {
    writeFileSync(join(src, `gen${gen}.bin`), prng(`gen${gen}`, 2 * 1024 * 1024));
    const b = await r.run(['--json', 'backup', src]);
    assert.equal(b.code, 0, b.stderr);
    ids.push(JSON.parse(b.stdout.trim().split('\n').pop()!).snapshot_id);
    const copy = join(r.dir, `seen${gen}`);
    execFileSync('cp', ['-a', src, copy]);
    seen.push(copy);
  }
  return { src, seen, ids };
}

async function restoresAs(r: TestRepo, snap: string, src: string, expected: string): Promise<void> {
  const out = join(r.dir, `out-${Math.random().toString(36).slice(2)}`);
  const res = await r.run(['restore', `${snap}:${src}`, '--target', out]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(compareTrees(expected, out, { times: true }), []);
  rmSync(out, { recursive: true, force: true });
}

test('repair index: a deleted and a damaged index file are rebuilt from the packs; everything restores', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const { src, seen, ids } = await twoSnapshots(r);
  const index = join(r.repo, 'index');
  const files = readdirSync(index);
  assert.ok(files.length >= 2);
  rmSync(join(index, files[0]));
  const damaged = join(index, files[1]);
  const b = readFileSync(damaged);
  b[b.length >> 1] ^= 1;
  writeFileSync(damaged, b);
  const broken = await r.run(['check']);
  assert.equal(broken.code, 1, 'check notices the damage');
  const rep = await r.run(['repair', 'index']);
  assert.equal(rep.code, 0, rep.stderr);
  assert.match(rep.stdout, new RegExp(`replaced damaged index/${files[1]}`));
  assert.match(rep.stdout, /read the headers of [1-9]\d* pack\(s\)/);
  assert.equal(readdirSync(index).length, 1);
  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  await restoresAs(r, ids[0], src, seen[0]);
  await restoresAs(r, ids[1], src, seen[1]);
  // --read-all-packs gives the same index
  const all = await r.run(['--json', 'repair', 'index', '--read-all-packs']);
  assert.equal(all.code, 0, all.stderr);
  const j = JSON.parse(all.stdout.trim());
  assert.ok(j.headers_read >= 1 && j.damaged_index_files.length === 0);
  assert.equal((await r.run(['check'])).code, 0);
});

test('repair index reports a pack missing from the device', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  await twoSnapshots(r);
  const dirs = readdirSync(join(r.repo, 'data'));
  const packs = dirs.flatMap((d) => readdirSync(join(r.repo, 'data', d)).map((n) => join(r.repo, 'data', d, n)));
  rmSync(packs[0]);
  const rep = await r.run(['repair', 'index']);
  assert.equal(rep.code, 1);
  assert.match(rep.stderr, /missing from the device: its blobs are lost/);
  assert.match(rep.stderr, /repair snapshots/);
});

test('bit rot: check finds it, repair packs salvages the rest, repair snapshots marks the file, a backup heals it', async (t) => {
  const r = await makeRepo();
  t.after(() => r.cleanup());
  const { src, seen, ids } = await twoSnapshots(r);
  // rot inside big.bin's data: find the pack that holds the most bytes and flip a byte in its middle
  const packs = readdirSync(join(r.repo, 'data')).flatMap((d) => readdirSync(join(r.repo, 'data', d)).map((n) => join(r.repo, 'data', d, n)));
  const biggest = packs.map((p) => ({ p, n: readFileSync(p).length })).sort((a, b) => b.n - a.n)[0].p;
  const bytes = readFileSync(biggest);
  bytes[1024 * 1024] ^= 0x10;
  writeFileSync(biggest, bytes);

  const c = await r.run(['check', '--read-data']);
  assert.equal(c.code, 1);
  const file = /snapshot \w+: 1 damaged file\(s\):\n\s+(\S+)/.exec(c.stderr)?.[1];
  assert.ok(file, c.stderr);
  const known = await r.run(['check']);
  assert.equal(known.code, 1, 'a plain check still reports the damage an earlier scrub found');
  assert.match(known.stderr, /1 pack\(s\) were found damaged by an earlier check --read-data/);

  const rp = await r.run(['repair', 'packs']);
  assert.equal(rp.code, 1, 'blobs were lost');
  assert.match(rp.stdout, /salvaged [1-9]\d* blob\(s\), lost 1/);
  assert.match(rp.stderr, /1 blob\(s\) are lost/);
  const after = await r.run(['check', '--read-data']);
  assert.equal(after.code, 1, 'the snapshots still reference the lost blob');

  const dry = await r.run(['repair', 'snapshots', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`1 file\\(s\\) with lost data marked`));
  assert.ok(dry.stdout.includes(file!), dry.stdout);
  const rs = await r.run(['--json', 'repair', 'snapshots', '--forget']);
  assert.equal(rs.code, 0, rs.stderr);
  const repaired = JSON.parse(rs.stdout.trim()).repaired as { snapshot: string; new_snapshot: string; files: string[] }[];
  assert.equal(repaired.length, 2, 'both snapshots held the file');
  assert.ok(repaired.every((x) => x.files.length === 1 && x.files[0] === file));
  const clean = await r.run(['check']);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);

  // the repaired snapshot restores every intact file and names the lost one
  const newest = repaired.find((x) => x.snapshot === ids[1])!.new_snapshot;
  const out = join(r.dir, 'out-repaired');
  const res = await r.run(['restore', `${newest}:${src}`, '--target', out]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /not restored: data lost: 1 of \d+ blob\(s\) missing or damaged/);
  const lostRel = file!.slice(src.length + 1);
  const diff = compareTrees(seen[1], out, { times: true });
  assert.ok(diff.length > 0 && diff.every((d) => d.includes(lostRel)), diff.join('\n'));

  // a new backup reads the file again (its node is marked) and stores the lost blob again: healed
  const b = await r.run(['backup', src]);
  assert.equal(b.code, 0, b.stderr);
  const healed = await r.run(['check', '--read-data']);
  assert.equal(healed.code, 0, healed.stdout + healed.stderr);
  await restoresAs(r, 'latest', src, seen[1]);
});
