/** heal: a damaged pack cured from a twin; blobs lost from the index; the live source; what cannot be healed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { makeRepo, type TestRepo } from './helpers/repo.js';
import { prng } from './helpers/fixtures.js';
import { compareTrees } from './helpers/tree.js';
import { copyJson, makeTwin, packFiles, runFrom } from './helpers/family.js';

async function twoSnapshots(r: TestRepo): Promise<{ src: string; seen: string[] }> {
  const src = join(r.dir, 'src');
  mkdirSync(join(src, 'docs'), { recursive: true });
  writeFileSync(join(src, 'docs', 'a.txt'), 'alpha\n');
  writeFileSync(join(src, 'big.bin'), prng('big', 3 * 1024 * 1024));
  const seen: string[] = [];
  for (const gen of [1, 2]) {
    writeFileSync(join(src, `gen${gen}.bin`), prng(`gen${gen}`, 2 * 1024 * 1024));
    const b = await r.run(['backup', src]);
    assert.equal(b.code, 0, b.stderr);
    const copy = join(r.dir, `seen${gen}`);
    execFileSync('cp', ['-a', src, copy]);
    seen.push(copy);
  }
  return { src, seen };
}

async function restoresAs(r: TestRepo, snap: string, src: string, expected: string): Promise<void> {
  const out = join(r.dir, `out-${Math.random().toString(36).slice(2)}`);
  const res = await r.run(['restore', `${snap}:${src}`, '--target', out]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(compareTrees(expected, out, { times: true }), []);
  rmSync(out, { recursive: true, force: true });
}

function flip(file: string, at: number): void {
  const bytes = readFileSync(file);
  bytes[at] ^= 0x10;
  bytes[at + 4096] ^= 0x01;
  writeFileSync(file, bytes);
}

async function healJson(sick: TestRepo, args: string[], twin?: TestRepo) {
  const r = twin ? await runFrom(sick, twin, ['--json', 'heal', '--from-repo', twin.repo, ...args]) : await sick.run(['--json', 'heal', ...args]);
  return { ...r, summary: JSON.parse(r.stdout.trim().split('\n').pop()!) };
}

test('a pack corrupted on one device is found by check, healed from the twin, and then verifies clean', async (t) => {
  const a = await makeRepo();
  const b = await makeTwin(a);
  t.after(() => (a.cleanup(), b.cleanup()));
  const { src, seen } = await twoSnapshots(a);
  assert.equal((await copyJson(b, a)).code, 0);

  const biggest = packFiles(a.repo)[0];
  flip(biggest, 1024 * 1024);
  const c = await a.run(['check', '--read-data']);
  assert.equal(c.code, 1, 'check finds the damage');
  assert.match(c.stderr, /damaged file\(s\)/);

  const h = await healJson(a, [], b);
  assert.equal(h.code, 0, h.stderr);
  assert.equal(h.summary.packs.length, 1);
  const lost = h.summary.packs[0].lost.length;
  assert.ok(lost >= 1, 'blobs were lost in the pack');
  assert.equal(h.summary.healed_from_twin, lost, 'every lost blob came from the twin');
  assert.deepEqual(h.summary.not_healed, []);
  assert.ok(!existsSync(biggest), 'the damaged pack is deleted');
  t.diagnostic(`healed ${lost} blob(s) of pack ${h.summary.packs[0].pack.slice(0, 8)} from the twin; ${h.summary.packs[0].salvaged} salvaged`);

  const clean = await a.run(['check', '--read-data']);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /no errors were found/);
  const rs = await a.run(['repair', 'snapshots', '--dry-run']);
  assert.match(rs.stdout, /all 2 snapshot\(s\) are intact/, 'no snapshot needs repair snapshots');
  await restoresAs(a, 'latest~1', src, seen[0]);
  await restoresAs(a, 'latest', src, seen[1]);
  assert.equal((await b.run(['check', '--read-data'])).code, 0, 'the twin was only read');
  const again = await healJson(a, [], b);
  assert.equal(again.code, 0);
  assert.equal(again.summary.healed.length + again.summary.packs.length, 0, 'nothing left to heal');
});

test('blobs that left the index (repair packs) while snapshots reference them are healed from the twin', async (t) => {
  const a = await makeRepo();
  const b = await makeTwin(a);
  t.after(() => (a.cleanup(), b.cleanup()));
  const { src, seen } = await twoSnapshots(a);
  assert.equal((await copyJson(b, a)).code, 0);
  flip(packFiles(a.repo)[0], 1024 * 1024);
  assert.equal((await a.run(['check', '--read-data'])).code, 1);
  const rp = await a.run(['repair', 'packs']);
  assert.equal(rp.code, 1, 'repair packs loses the damaged blobs');
  assert.equal((await a.run(['check'])).code, 1, 'snapshots reference blobs no index lists');

  const h = await healJson(a, [], b);
  assert.equal(h.code, 0, h.stderr);
  assert.deepEqual(h.summary.packs, [], 'no pack to retire: found by walking the snapshots');
  assert.ok(h.summary.healed_from_twin >= 1);
  assert.deepEqual(h.summary.not_healed, []);
  const clean = await a.run(['check', '--read-data']);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  await restoresAs(a, 'latest', src, seen[1]);
});

test('--from-source heals from files that still exist; a blob neither the twin nor the source has is reported', async (t) => {
  const a = await makeRepo();
  const b = await makeTwin(a); // an empty twin: it has nothing to give
  t.after(() => (a.cleanup(), b.cleanup()));
  const src = join(a.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'kept.bin'), prng('kept', 2 * 1024 * 1024));
  writeFileSync(join(src, 'gone.bin'), prng('gone', 2 * 1024 * 1024));
  assert.equal((await a.run(['backup', src])).code, 0);
  const seen = join(a.dir, 'seen');
  execFileSync('cp', ['-a', src, seen]);
  rmSync(join(src, 'gone.bin'));
  // the data pack disappears from the device (both files' data were in it)
  const dataPack = packFiles(a.repo)[0];
  rmSync(dataPack);

  const h = await healJson(a, ['--from-source'], b);
  assert.equal(h.code, 1, 'not everything could be healed');
  assert.equal(h.summary.healed_from_twin, 0);
  assert.ok(h.summary.healed_from_source >= 1);
  assert.ok(h.summary.healed.every((x: { path: string }) => x.path === join(src, 'kept.bin')), JSON.stringify(h.summary.healed));
  assert.ok(h.summary.not_healed.length >= 1);
  for (const n of h.summary.not_healed) {
    assert.deepEqual(n.files, [join(src, 'gone.bin')]);
    assert.match(n.reason, /not in the twin; no source file holds it any more/);
  }
  assert.match(h.stderr, /could not be healed/);
  assert.match(h.stderr, /repair snapshots/);
  t.diagnostic(`healed ${h.summary.healed_from_source} blob(s) from kept.bin, ${h.summary.not_healed.length} of gone.bin not healed`);

  // what was healed restores; repair snapshots marks only the file that could not be healed
  const rs = await a.run(['--json', 'repair', 'snapshots', '--forget']);
  assert.equal(rs.code, 0, rs.stderr);
  const repaired = JSON.parse(rs.stdout.trim()).repaired;
  assert.deepEqual(repaired[0].files, [join(src, 'gone.bin')]);
  const clean = await a.run(['check', '--read-data']);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  const out = join(a.dir, 'out');
  const res = await a.run(['restore', `latest:${src}`, '--target', out]);
  assert.equal(res.code, 1, 'gone.bin cannot be restored');
  assert.ok(readFileSync(join(out, 'kept.bin')).equals(readFileSync(join(seen, 'kept.bin'))));
});
